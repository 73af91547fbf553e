#!/usr/bin/env python
"""Benchmark rlforecast: fit speed (nutpie vs PyMC NUTS) and scenario propagation (speed and memory).

Prints a table and writes ``--out`` (default ``outputs/bench.json``) atomically. This is a measurement
script, not a test: it never fails on a missed target, it reports it.

Parts (each can be skipped):

- fit: ``rlforecast fit`` of the baseline (``models/baseline.toml``, the shipped sampler settings: converged
  by the gate, not shortened) on ``data/observations.csv`` in a fresh process, first with empty compile
  caches (cold), then again (warm); wall times are the whole command. Then PyMC's own NUTS on the same model
  with the same tuning, target_accept and the draws nutpie needed, in a fresh process, checked against the
  same gate; ``fit_speedup_vs_pymc_nuts`` is the ratio of min bulk ESS per second (compile included).
- forecast: ``make forecast`` end to end with an empty fit cache.
- propagation (no fit needed): a synthetic frontier state (see ``synthetic_state``) with the 17 benchmarks of
  the shipped observations that have a frontier and the default thresholds (0.5, 0.8, 0.9), monthly steps from 2026-01 to 2040-12:

  * kernel speed: ``kernels.first_crossing`` on 10,000 draws x 5 presets x 17 benchmarks x 3 thresholds,
    against the reference per-draw Python loop ``kernels.first_crossing_loop`` on a subsample of draws
    (its rate extrapolates linearly: the loop's cost is per cell);
  * memory: the full grid, 10,000 draws x 100 scenarios x 17 x 3, through ``propagate.arrival_counts`` in
    process (threads) and through a real ``distributed.LocalCluster`` (2 worker processes x 1 thread).
    100 scenarios = the 5 presets x 20 perturbations (see ``perturbed_params``).

Memory method: a background thread samples the resident set size (psutil, every 5 ms) of this process and,
for Dask, of every worker process; worker lifetime peaks are also read inside the workers with
``resource.getrusage`` via ``client.run``.
"""

from __future__ import annotations

import os

# Pin BLAS / OpenMP threads before numpy is imported (chains and Dask workers must not oversubscribe cores).
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
for _var in _THREAD_VARS:
    os.environ[_var] = "1"

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import psutil  # noqa: E402
import xarray as xr  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data" / "observations.csv"
MODEL = REPO / "models" / "baseline.toml"
SCENARIOS = REPO / "data" / "scenarios"
THRESHOLDS = REPO / "data" / "thresholds.toml"

TARGETS = {
    "fit_wall_s": ("<=", 15.0, "baseline fit through the CLI, warm compile cache, converged by the gate"),
    "fit_wall_cold_s": ("<=", 60.0, "the same with empty compile caches"),
    "fit_speedup_vs_pymc_nuts": (">=", 3.0, "ESS/s nutpie over ESS/s PyMC NUTS, compile included for both"),
    "forecast_wall_s": ("<=", 180.0, "make forecast after install, empty fit cache"),
    "propagate_crossings_per_s": (">=", 1e7, "first-crossing kernel, cells per second"),
    "propagate_speedup_vs_loop": (">=", 100.0, "kernel over the per-draw Python loop"),
    "propagate_peak_mb": ("<", 2048.0, "full grid in process (threads), peak RSS"),
    "dask_propagate_peak_mb": ("<", 2048.0, "full grid through LocalCluster, peak RSS client + workers"),
}
PERTURB = (0.8, 1.2)  # range of the factor on log10 growth rates of the perturbed scenarios


# --------------------------------------------------------------------------------------------- memory ---

class RssSampler:
    """Peak resident set size of some processes, sampled in a background thread.

    ``peak_total_mb``: largest sum over the processes at one instant; ``peak_each_mb``: each process's own
    peak; ``base_total_mb``: the sum when sampling started.
    """

    def __init__(self, pids=None, interval=0.005):
        self.procs = [psutil.Process(p) for p in (pids or [os.getpid()])]
        self.interval = interval
        self.peak_each = [0] * len(self.procs)
        self.peak_total = 0
        self.base_total = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self):
        total = 0
        for i, p in enumerate(self.procs):
            try:
                rss = p.memory_info().rss
            except psutil.Error:
                rss = 0
            self.peak_each[i] = max(self.peak_each[i], rss)
            total += rss
        self.peak_total = max(self.peak_total, total)
        self.samples += 1
        return total

    def _run(self):
        while not self._stop.is_set():
            self._sample()
            time.sleep(self.interval)

    def __enter__(self):
        self.base_total = self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._sample()

    @property
    def peak_total_mb(self):
        return self.peak_total / 2**20

    @property
    def base_total_mb(self):
        return self.base_total / 2**20

    @property
    def peak_each_mb(self):
        return [x / 2**20 for x in self.peak_each]


def _release_memory():
    """Hand freed heap memory back to the OS (glibc), so a measurement's baseline is not an earlier one's."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _worker_peak_rss_mb():
    """Peak RSS of the calling process since it started its program: VmHWM (Linux). ``getrusage``'s
    ru_maxrss is not used: Linux carries it over fork + exec, so a spawned worker would report its parent's."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ----------------------------------------------------------------------------------------- grid setup ---

def grid_benchmarks() -> list[str]:
    """The benchmarks of the shipped observations that have a frontier (17, the forecast's), sorted: benchmarks
    only the RL-training series measure are not forecast, so the workload stays the forecast's."""
    import pandas as pd

    from rlforecast.model.design import has_frontier

    return sorted(b for b in pd.read_csv(DATA, usecols=["benchmark"])["benchmark"].unique() if has_frontier(b))


def shipped_forecast_date():
    """The forecast date of a fit of the shipped observations: the first of the month of the latest release."""
    import datetime as dt

    import pandas as pd

    latest = pd.to_datetime(pd.read_csv(DATA, usecols=["release_date"])["release_date"]).max()
    return dt.date(latest.year, latest.month, 1)


def synthetic_state(n_samples: int, benchmarks: list[str], seed: int = 0) -> xr.Dataset:
    """A ``frontier_state``-shaped fake posterior: per benchmark a random typical level, then per draw
    eta_anchor ~ N(level, 0.5), slopes lognormal around 0.7 (RL) and 0.8 (inference) logits per decade with
    log-sd 0.4, ceiling = floor + (1 - floor) * logistic(N(3, 0.7)); floors are the curated chance floors.
    The kernel's work does not depend on the values (fixed-step binary search), only the shapes matter."""
    from rlforecast.model.design import chance_floor

    rng = np.random.default_rng(seed)
    n_b = len(benchmarks)
    floor = np.array([chance_floor(b) for b in benchmarks])
    level = rng.normal(0.0, 1.0, n_b)
    dims = ("sample", "benchmark")
    ceiling = floor + (1 - floor) / (1 + np.exp(-rng.normal(3.0, 0.7, (n_samples, n_b))))
    return xr.Dataset(
        {
            "eta_anchor": (dims, level + rng.normal(0.0, 0.5, (n_samples, n_b))),
            "slope_rl": (dims, np.exp(np.log(0.7) + 0.4 * rng.standard_normal((n_samples, n_b)))),
            "slope_inf": (dims, np.exp(np.log(0.8) + 0.4 * rng.standard_normal((n_samples, n_b)))),
            "floor": (("benchmark",), floor),
            "ceiling": (dims, ceiling),
        },
        coords={"sample": np.arange(n_samples), "benchmark": benchmarks},
    )


def grid_thresholds(benchmarks: list[str]) -> xr.DataArray:
    """The file's plain default levels (0.5, 0.8, 0.9) on every benchmark: the measured workload stays the same
    from run to run (the sourced human-baseline levels are left out)."""
    import tomllib

    from rlforecast.scenarios.forecast import requested_thresholds

    levels = tuple(tomllib.loads(THRESHOLDS.read_text())["default"]["levels"])
    return requested_thresholds({b: levels for b in benchmarks})


def perturbed_params(presets, n_scenarios: int, n: int, seed: int) -> xr.Dataset:
    """``n_scenarios`` scenarios from the presets: variant ``v`` of preset ``p`` multiplies the log10 growth
    rates (RL, training, tokens, budget) of the preset's draws by a factor evenly spaced in ``PERTURB``
    (x/yr -> (x/yr)^factor); caps and headrooms are kept. Common random numbers as in ``draw_params``."""
    from rlforecast.scenarios.propagate import draw_params

    base = draw_params(presets, n, seed)
    per = -(-n_scenarios // len(presets))
    factors = np.linspace(*PERTURB, per) if per > 1 else np.array([1.0])
    growth = ("rl_growth", "training_growth", "token_growth", "budget_growth")
    parts, names = [], []
    for i in range(n_scenarios):
        p, v = i % len(presets), i // len(presets)
        sc = base.isel(scenario=p)
        parts.append(sc.assign({g: sc[g] * factors[v] for g in growth}))
        names.append(f"{presets[p].name}~{factors[v]:.3f}")
    return xr.concat(parts, dim="scenario").assign_coords(scenario=names)


def _timed(fn, repeat=1, cpu=False):
    """Best wall time over ``repeat`` calls (and, with ``cpu``, best process CPU time: the machine is shared,
    and a single-threaded kernel's CPU time does not count the time other processes hold the core)."""
    best, best_cpu, out = np.inf, np.inf, None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    return (best, best_cpu, out) if cpu else (best, out)


# ---------------------------------------------------------------------------------------- propagation ---

def bench_propagation(*, kernel_draws=10_000, kernel_scenarios=5, loop_draws=20, grid_draws=10_000,
                      grid_scenarios=100, chunk_samples=None, dask_workers=2, repeat=3, seed=20251022,
                      use_dask=True, echo=print) -> dict:
    """Kernel rate vs the Python loop, and peak memory of the full grid in process and through Dask."""
    from rlforecast.scenarios import kernels
    from rlforecast.scenarios.propagate import CHUNK_SAMPLES, arrival_counts, compute_paths, threshold_eta
    from rlforecast.scenarios.spec import load_scenarios, with_start

    presets = with_start(load_scenarios(SCENARIOS), shipped_forecast_date())
    n_months = presets[0].n_months
    benchmarks = grid_benchmarks()
    thresholds = grid_thresholds(benchmarks)
    n_b, n_k = len(benchmarks), thresholds.sizes["threshold"]
    out: dict = {
        "grid": {"benchmarks": n_b, "thresholds": [float(x) for x in thresholds.threshold.values],
                 "months": n_months, "start": presets[0].start.isoformat(), "horizon": presets[0].horizon,
                 "presets": [sc.name for sc in presets]},
        "state_method": "synthetic frontier state (scripts/bench.py synthetic_state): eta_anchor, lognormal "
                        "slopes, learned-like ceilings and curated chance floors; values do not change the "
                        "kernel's work",
        "scenario_method": f"first {kernel_scenarios} (kernel) or {grid_scenarios} (grid) of the 5 presets x "
                           f"evenly spaced factors in {list(PERTURB)} on log10 growth rates (RL, training, "
                           "tokens, budget); caps kept (scripts/bench.py perturbed_params)",
    }

    # --- kernel vs loop: plain numpy arrays, paths precomputed (kernel only)
    state = synthetic_state(kernel_draws, benchmarks, seed)
    params = perturbed_params(presets, kernel_scenarios, kernel_draws, seed)
    paths = compute_paths(params, n_months)
    z = threshold_eta(state, thresholds).transpose("sample", "benchmark", "threshold").values
    args = (state.eta_anchor.values[None], state.slope_rl.values[None], state.slope_inf.values[None],
            paths.d_rl.values, paths.d_inf.values, z[None])
    cells = kernel_scenarios * kernel_draws * n_b * n_k
    kernel_s, kernel_cpu, months = _timed(lambda: kernels.first_crossing(*args), repeat, cpu=True)
    sub = (args[0][:, :loop_draws], args[1][:, :loop_draws], args[2][:, :loop_draws],
           args[3][:, :loop_draws], args[4][:, :loop_draws], args[5][:, :loop_draws])
    loop_cells = kernel_scenarios * min(loop_draws, kernel_draws) * n_b * n_k
    loop_s, loop_cpu, loop_months = _timed(lambda: kernels.first_crossing_loop(*sub), 1, cpu=True)
    out.update({
        "kernel_cells": cells, "kernel_shape": [kernel_scenarios, kernel_draws, n_b, n_k],
        "kernel_wall_s": kernel_s, "kernel_repeat": repeat, "kernel_timing": "best of repeats",
        "propagate_crossings_per_s": cells / kernel_s,
        "propagate_reached_share": float((months < n_months).mean()),
        "loop_cells": loop_cells, "loop_wall_s": loop_s, "loop_crossings_per_s": loop_cells / loop_s,
        "loop_matches_kernel": bool(np.array_equal(loop_months, months[:, :loop_draws])),
        "kernel_cpu_s": kernel_cpu, "loop_cpu_s": loop_cpu,
        "propagate_crossings_per_cpu_s": cells / kernel_cpu, "loop_crossings_per_cpu_s": loop_cells / loop_cpu,
    })
    out["propagate_speedup_vs_loop"] = out["propagate_crossings_per_s"] / out["loop_crossings_per_s"]
    out["propagate_speedup_vs_loop_cpu"] = out["propagate_crossings_per_cpu_s"] / out["loop_crossings_per_cpu_s"]
    echo(f"kernel: {cells:,} cells in {kernel_s:.3f} s; loop: {loop_cells:,} cells in {loop_s:.3f} s")
    del state, params, paths, z, args, sub, months, loop_months

    # --- full grid: through a real LocalCluster first (the client process then carries no leftovers of the
    # in-process run), then in process with Dask's threads
    state = synthetic_state(grid_draws, benchmarks, seed)
    params = perturbed_params(presets, grid_scenarios, grid_draws, seed)
    grid_cells = grid_draws * grid_scenarios * n_b * n_k
    chunk = chunk_samples or CHUNK_SAMPLES
    if use_dask:
        import dask
        from distributed import Client, LocalCluster

        _release_memory()
        t0 = time.perf_counter()
        with dask.config.set({"distributed.worker.daemon": False}), \
                LocalCluster(n_workers=dask_workers, threads_per_worker=1, processes=True,
                             dashboard_address=None, silence_logs=40) as cluster, Client(cluster) as client:
            startup = time.perf_counter() - t0
            pids = sorted(client.run(os.getpid).values())
            with RssSampler([os.getpid(), *pids]) as dmem:
                dwall, dcounts = _timed(lambda: arrival_counts(state, params, thresholds, n_months,
                                                               chunk_samples=chunk,
                                                               scheduler=cluster.scheduler_address))
            worker_hwm = sorted(client.run(_worker_peak_rss_mb).values())
        out.update({
            "dask_workers": dask_workers, "dask_threads_per_worker": 1, "dask_cluster_startup_s": startup,
            "dask_propagate_wall_s": dwall, "dask_propagate_crossings_per_s": grid_cells / dwall,
            "dask_propagate_peak_mb": dmem.peak_total_mb, "dask_propagate_base_mb": dmem.base_total_mb,
            "dask_peak_client_mb": dmem.peak_each_mb[0], "dask_peak_workers_mb": dmem.peak_each_mb[1:],
            "dask_worker_peak_rss_mb": worker_hwm,
        })
        echo(f"grid through Dask: {dwall:.1f} s, peak RSS client + workers {dmem.peak_total_mb:.0f} MB")
    _release_memory()
    with RssSampler() as mem:
        wall, counts = _timed(lambda: arrival_counts(state, params, thresholds, n_months, chunk_samples=chunk))
    out.update({
        "grid_cells": grid_cells, "grid_shape": [grid_draws, grid_scenarios, n_b, n_k],
        "grid_chunk_samples": chunk,
        "propagate_grid_wall_s": wall, "propagate_grid_crossings_per_s": grid_cells / wall,
        "propagate_peak_mb": mem.peak_total_mb, "propagate_base_mb": mem.base_total_mb,
        "propagate_peak_delta_mb": mem.peak_total_mb - mem.base_total_mb,
        "propagate_scheduler": "dask threads (in process)",
        "memory_method": "psutil RSS sampled every 5 ms in a background thread (peak of the sum over the "
                         "process and, for Dask, its worker processes); Dask workers also report their "
                         "own peak (VmHWM from /proc/self/status) through client.run",
    })
    echo(f"grid in process: {grid_cells:,} cells in {wall:.1f} s, peak RSS {mem.peak_total_mb:.0f} MB")

    if use_dask:
        out["dask_matches_in_process"] = bool(dcounts.identical(counts))
    return out


# ------------------------------------------------------------------------------------------------ fit ---

def _sampler_stats(idata) -> dict:
    st = idata["sample_stats"].to_dataset()
    out = {"tree_depth_mean": float(st["depth"].mean()), "tree_depth_max": int(st["depth"].max()),
           "leapfrog_per_draw_mean": float(st["n_steps"].mean()), "step_size_mean": float(st["step_size"].mean())}
    if "maxdepth_reached" in st:
        out["max_treedepth_share"] = float(st["maxdepth_reached"].mean())
    return out


def _fit_cli(out: Path, env: dict, seed: int) -> dict:
    """``rlforecast fit`` of the baseline on the shipped data in a fresh process (imports, compile, sampling,
    post-processing and writing included); figures read back from the run file."""
    cmd = [sys.executable, "-m", "rlforecast.cli", "fit", "--data", str(DATA), "--model", str(MODEL),
           "--out", str(out), "--seed", str(seed), "--no-cache"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if not out.is_file():
        raise RuntimeError(f"fit wrote no run file (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
    run = xr.open_datatree(out, engine="h5netcdf")
    prov = json.loads(run.attrs["provenance"])
    s, d = prov["sampler"], prov["diagnostics"]
    iters = s["chains"] * (s["tune"] + s["draws_kept"])
    grads_all = sum(a["grad_evals"] for a in s["attempts"])
    return {"wall_s": wall, "exit_code": proc.returncode, "compile_s": prov["timings_s"]["compile"],
            "sampling_s": prov["timings_s"]["sampling"], "draws_per_chain": s["draws_kept"],
            "stopped_early": s["stopped_early"], "grad_evals": s["grad_evals"],
            "grad_evals_per_iteration": s["grad_evals"] / iters, "ess_bulk_min": d["ess_bulk_min"],
            "ess_tail_min": d["ess_tail_min"], "rhat_max": d["rhat_max"], "divergences": d["divergences"],
            "bfmi_min": d["bfmi_min"], "diagnostics_passed": d["passed"], "worst_rhat_var": d["worst_rhat_var"],
            "us_per_grad_eval_wall": prov["timings_s"]["sampling"] / grads_all * 1e6,
            "attempts": s["attempts"],
            "sampler_settings": s, "sampler_stats": _sampler_stats(run)}


def bench_fit(*, seed, pymc=True, pymc_cap_s=3600.0, echo=print) -> dict:
    """The shipped fit, cold (empty compile caches) then warm, through the CLI; PyMC's own NUTS on the same
    model with the same tuning, draws, target_accept and gate, in the same run."""
    import tempfile

    out: dict = {}
    with tempfile.TemporaryDirectory(prefix="rlforecast-bench-") as tmp:
        tmp = Path(tmp)
        env = dict(os.environ, RLFORECAST_CACHE=str(tmp / "fitcache"), NUMBA_CACHE_DIR=str(tmp / "numba"),
                   PYTENSOR_FLAGS=f"base_compiledir={tmp / 'pytensor'}")
        for label in ("cold", "warm"):
            echo(f"fitting the baseline through the CLI, {label} compile cache ...")
            r = _fit_cli(tmp / f"{label}.nc", env, seed)
            out[f"fit_{label}"] = r
            echo(f"  {label}: {r['wall_s']:.1f} s wall (compile {r['compile_s']:.1f} s, sampling {r['sampling_s']:.1f} s), "
                 f"{r['draws_per_chain']} draws/chain, ESS bulk {r['ess_bulk_min']:.0f}, tail {r['ess_tail_min']:.0f}, "
                 f"R-hat {r['rhat_max']:.4f}, divergences {r['divergences']}")
    warm, cold = out["fit_warm"], out["fit_cold"]
    out.update({
        "fit_wall_s": warm["wall_s"], "fit_wall_cold_s": cold["wall_s"], "fit_compile_s": warm["compile_s"],
        "fit_compile_cold_s": cold["compile_s"], "fit_sampling_s": warm["sampling_s"],
        "grad_evals_per_draw": warm["grad_evals_per_iteration"], "ess_bulk_min": warm["ess_bulk_min"],
        "ess_tail_min": warm["ess_tail_min"], "ess_per_s": warm["ess_bulk_min"] / warm["wall_s"],
        "rhat_max": warm["rhat_max"], "divergences": warm["divergences"],
        "fit_passed_gate": warm["diagnostics_passed"] and cold["diagnostics_passed"],
    })
    if pymc:
        out.update(bench_pymc(draws=warm["draws_per_chain"], settings=warm["sampler_settings"], seed=seed,
                              cap_s=pymc_cap_s, echo=echo))
        if out.get("pymc_ess_per_s"):
            out["fit_speedup_vs_pymc_nuts"] = out["ess_per_s"] / out["pymc_ess_per_s"]
    return out


_PYMC_CODE = """
import json, sys, time
t0 = time.perf_counter()
import pymc as pm
from rlforecast.data.schema import read_observations
from rlforecast.fit import diagnose
from rlforecast.model.build import build_model
from rlforecast.model.design import build_design, rows_for
from rlforecast.model.spec import load_spec
a = json.loads(sys.argv[1])
spec, _ = load_spec(a["model"])
used, _ = rows_for(read_observations(a["data"]), spec)
with build_model(build_design(used), spec):
    idata = pm.sample(draws=a["draws"], tune=a["tune"], chains=a["chains"], cores=a["cores"], random_seed=a["seed"],
                      nuts_sampler="pymc", nuts={"target_accept": a["target_accept"]}, progressbar=False,
                      compute_convergence_checks=False)
wall = time.perf_counter() - t0
d = diagnose(idata, spec["diagnostics"])
st = idata["sample_stats"].to_dataset()
print(json.dumps({"wall_s": wall, "diag": d, "grad_evals": int(st["n_steps"].sum()),
                  "leapfrog_per_draw_mean": float(st["n_steps"].mean())}))
"""


def bench_pymc(*, draws, settings, seed, cap_s, echo=print) -> dict:
    """PyMC's own NUTS (C backend, windowed adaptation) in a fresh process, with nutpie's tuning length,
    the draws nutpie needed to pass the gate, and the same target_accept; cut at ``cap_s`` seconds."""
    args = {"model": str(MODEL), "data": str(DATA), "draws": draws, "tune": settings["tune"],
            "chains": settings["chains"], "cores": min(settings["chains"], os.cpu_count() or 1), "seed": seed,
            "target_accept": settings["target_accept"]}
    echo(f"PyMC NUTS: {args['chains']} chains x ({args['tune']} tune + {draws} draws), cap {cap_s:.0f} s ...")
    t0 = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, "-c", _PYMC_CODE, json.dumps(args)], capture_output=True, text=True,
                              timeout=cap_s)
    except subprocess.TimeoutExpired:
        echo(f"  PyMC NUTS cut short at the {cap_s:.0f} s cap: no draws to compare")
        return {"pymc_settings": args, "pymc_cut_short": True, "pymc_fit_wall_s": time.perf_counter() - t0}
    if proc.returncode != 0:
        echo(f"  PyMC NUTS failed (exit {proc.returncode}): {proc.stderr[-500:]}")
        return {"pymc_settings": args, "pymc_error": proc.stderr[-2000:]}
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    d = r["diag"]
    echo(f"  PyMC NUTS: {r['wall_s']:.1f} s, ESS bulk {d['ess_bulk_min']:.0f}, R-hat {d['rhat_max']:.4f}, "
         f"divergences {d['divergences']}")
    return {"pymc_settings": args, "pymc_cut_short": False, "pymc_fit_wall_s": r["wall_s"],
            "pymc_ess_bulk_min": d["ess_bulk_min"], "pymc_ess_tail_min": d["ess_tail_min"],
            "pymc_ess_per_s": d["ess_bulk_min"] / r["wall_s"], "pymc_rhat_max": d["rhat_max"],
            "pymc_divergences": d["divergences"], "pymc_passed_gate": d["passed"],
            "pymc_grad_evals_per_draw": r["leapfrog_per_draw_mean"]}


def bench_forecast(echo=print) -> dict:
    """``make forecast`` end to end with an empty fit cache (the environment already installed)."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="rlforecast-bench-forecast-") as tmp:
        env = dict(os.environ, RLFORECAST_CACHE=tmp)
        echo("make forecast (empty fit cache) ...")
        t0 = time.perf_counter()
        proc = subprocess.run(["make", "-s", "forecast"], cwd=REPO, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
    echo(f"  make forecast: {wall:.1f} s (exit {proc.returncode})")
    return {"forecast_wall_s": wall, "forecast_exit_code": proc.returncode}


# ----------------------------------------------------------------------------------------------- meta ---

def meta(argv) -> dict:
    def version(mod):
        try:
            return __import__(mod).__version__
        except Exception:
            return None

    try:
        commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=5).stdout.strip()
        dirty = bool(subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                                    capture_output=True, text=True, timeout=5).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        commit, dirty = "unknown", None
    return {
        "git_commit": commit or "unknown", "git_dirty": dirty,
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(), "cpu_affinity": len(os.sched_getaffinity(0)),
        "load_avg_at_start": list(os.getloadavg()), "machine": platform.machine(),
        "python": platform.python_version(),
        "numpy": np.__version__, "xarray": xr.__version__, "pymc": version("pymc"), "pytensor": version("pytensor"),
        "nutpie": version("nutpie"), "dask": version("dask"), "distributed": version("distributed"),
        "threads": {v: os.environ.get(v) for v in _THREAD_VARS}, "argv": argv,
    }


# ----------------------------------------------------------------------------------------------- main ---

def _fmt(x):
    if x is None:
        return "-"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, (int, np.integer)):
        return f"{x:,}"
    if isinstance(x, float):
        if not np.isfinite(x):
            return str(x)
        return f"{x:.3g}" if abs(x) >= 1e5 or abs(x) < 0.01 else f"{x:,.2f}"
    return str(x)


def check_targets(res: dict) -> dict:
    out = {}
    for key, (op, target, what) in TARGETS.items():
        value = res.get(key)
        met = None if value is None else (value <= target if op == "<=" else value >= target if op == ">="
                                          else value < target)
        out[key] = {"value": value, "target": f"{op} {target:g}", "met": met, "what": what,
                    "ratio_to_target": None if value is None else value / target}
    # the loop comparison is a second condition on the kernel rate
    return out


def table(res: dict) -> str:
    rows = [("measurement", "value", "target", "status")]
    targets = res["targets"]
    keys = ["fit_wall_s", "fit_wall_cold_s", "fit_compile_s", "fit_compile_cold_s", "fit_sampling_s",
            "grad_evals_per_draw", "ess_bulk_min", "ess_tail_min", "ess_per_s", "rhat_max", "divergences",
            "fit_passed_gate", "pymc_fit_wall_s", "pymc_cut_short", "pymc_ess_bulk_min", "pymc_ess_per_s",
            "pymc_rhat_max", "pymc_divergences", "pymc_passed_gate", "fit_speedup_vs_pymc_nuts", "forecast_wall_s",
            "propagate_crossings_per_s", "loop_crossings_per_s", "propagate_speedup_vs_loop",
            "propagate_grid_wall_s", "propagate_peak_mb", "dask_propagate_wall_s", "dask_propagate_peak_mb",
            "dask_worker_peak_rss_mb", "dask_matches_in_process", "loop_matches_kernel",
            "propagate_crossings_per_cpu_s", "loop_crossings_per_cpu_s", "propagate_speedup_vs_loop_cpu"]
    for key in keys:
        if key not in res:
            continue
        t = targets.get(key)
        value = res[key]
        shown = ", ".join(_fmt(v) for v in value) if isinstance(value, list) else _fmt(value)
        status = "" if t is None or t["met"] is None else ("met" if t["met"] else "MISSED")
        rows.append((key, shown, t["target"] if t else "", status))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(c.ljust(w) if i != 1 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip()
             for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(REPO / "outputs" / "bench.json"))
    ap.add_argument("--seed", type=int, default=20251022)
    ap.add_argument("--skip-fit", action="store_true")
    ap.add_argument("--skip-pymc", action="store_true", help="nutpie only (no speedup figure)")
    ap.add_argument("--pymc-cap", type=float, default=3600.0, help="seconds before PyMC's NUTS is cut short")
    ap.add_argument("--skip-forecast", action="store_true", help="do not time `make forecast`")
    ap.add_argument("--skip-propagation", action="store_true")
    ap.add_argument("--skip-dask", action="store_true")
    ap.add_argument("--grid-draws", type=int, default=10_000)
    ap.add_argument("--grid-scenarios", type=int, default=100)
    ap.add_argument("--loop-draws", type=int, default=20)
    ap.add_argument("--kernel-draws", type=int, default=10_000)
    ap.add_argument("--chunk-samples", type=int, default=None, help="draws per Dask task (default: the package's)")
    args = ap.parse_args(argv)

    res: dict = {"meta": meta(sys.argv if argv is None else argv)}
    # Propagation first: its memory figures must not include the fit's (PyMC/PyTensor) footprint.
    if not args.skip_propagation:
        res.update(bench_propagation(kernel_draws=args.kernel_draws, grid_draws=args.grid_draws,
                                     grid_scenarios=args.grid_scenarios, loop_draws=args.loop_draws,
                                     chunk_samples=args.chunk_samples, seed=args.seed,
                                     use_dask=not args.skip_dask))
    if not args.skip_fit:
        res.update(bench_fit(seed=args.seed, pymc=not args.skip_pymc, pymc_cap_s=args.pymc_cap))
    if not args.skip_forecast:
        res.update(bench_forecast())
    res["targets"] = check_targets(res)
    res["meta"]["load_avg_at_end"] = list(os.getloadavg())

    from rlforecast.io import json_default, write_text

    write_text(args.out, json.dumps(res, indent=2, sort_keys=True, default=json_default) + "\n")
    print()
    print(table(res))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
