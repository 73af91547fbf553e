"""Fit a model spec to observations: sample, diagnose, check predictions, store a self-describing run file.

A run file is an ArviZ 1.x ``xarray.DataTree`` (compressed netCDF, ``FORMAT_VERSION``) holding posterior, sample
stats, observed data, the validated observations (CSV text) and spec (TOML text), diagnostics, the posterior
predictive check, and JSON-encoded provenance. The pointwise log-likelihood is computed from the draws when
needed (``log_likelihood``). Loading re-checks the stored data and spec hashes and reads older formats.
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import time
import tomllib
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from rlforecast import __version__
from rlforecast.errors import ConvergenceError, InputError, check_interrupt
from rlforecast.io import atomic_path, file_lock, sha256_bytes
from rlforecast.model.design import Design, build_design, rows_for
from rlforecast.model.spec import parse_spec, spec_hash

FORMAT_VERSION = 2  # run files: 2 = format_version attribute, compressed, no stored log-likelihood
FORMAT_1_SAMPLER = {"adaptation": "diag", "stop_when_converged": False}  # what fits did before these keys existed
COMPRESSION = {"zlib": True, "complevel": 1, "shuffle": True}  # level 1: nearly all of level 9's saving, fast
GATE_POLL_S = 1.0  # seconds between looks at the trace while sampling (a look copies it)
GATE_GROWTH = 1.25  # the gate is checked again at draw counts per chain growing by this factor


def cache_dir() -> Path:
    """Fits are cached by (data, spec, sampler settings) here; RLFORECAST_CACHE overrides."""
    return Path(os.environ.get("RLFORECAST_CACHE", "runs/.cache"))



def pin_blas_threads() -> None:
    """One BLAS thread per chain process (set before numpy does heavy work in samplers)."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")


def git_commit() -> str:
    try:
        root = Path(__file__).resolve().parents[2]
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def diagnose(idata: xr.DataTree, thresholds: dict) -> dict:
    """R-hat, ESS bulk/tail, divergences and BFMI against the spec's thresholds."""
    import arviz_stats as azs

    post = idata["posterior"].to_dataset()
    rhat = azs.rhat(post)
    ess_bulk = azs.ess(post, method="bulk")
    ess_tail = azs.ess(post, method="tail")

    def extreme(ds, fn):
        vals = [float(fn(ds[v].values)) for v in ds.data_vars if ds[v].size]
        return fn(np.array(vals))

    stats = idata["sample_stats"].to_dataset()
    divergences = int(stats["diverging"].sum()) if "diverging" in stats else 0
    bfmi = np.atleast_1d(np.asarray(azs.bfmi(idata["sample_stats"].to_dataset(), var_names="energy")["energy"]
                                    if "energy" in stats else np.nan, float))
    worst = {v: float(np.nanmax(rhat[v].values)) for v in rhat.data_vars if rhat[v].size}
    out = {
        "rhat_max": float(extreme(rhat, np.nanmax)),
        "ess_bulk_min": float(extreme(ess_bulk, np.nanmin)),
        "ess_tail_min": float(extreme(ess_tail, np.nanmin)),
        "divergences": divergences,
        "bfmi_min": float(np.nanmin(bfmi)) if bfmi.size else float("nan"),
        "worst_rhat_var": max(worst, key=worst.get) if worst else "",
    }
    out["passed"] = bool(out["rhat_max"] <= thresholds["rhat_max"] and out["ess_bulk_min"] >= thresholds["ess_min"]
                         and out["ess_tail_min"] >= thresholds["ess_min"]
                         and out["divergences"] <= thresholds["divergences_max"])
    return out


def posterior_arrays(run: xr.DataTree) -> dict[str, np.ndarray]:
    """Posterior variables as numpy arrays with chains and draws stacked into one leading axis."""
    post = run["posterior"].to_dataset()
    return {v: post[v].values.reshape((-1,) + post[v].shape[2:]) for v in post.data_vars}


def run_inputs(run: xr.DataTree) -> tuple[pd.DataFrame, dict, Design]:
    """The observations, spec and design a run was fitted on (from the run file itself)."""
    df = pd.read_csv(io.StringIO(run.attrs["observations_csv"]), dtype=str, keep_default_na=False, na_values=[""])
    spec = parse_spec(run.attrs["spec_toml"], "<run spec>")
    used, _ = rows_for(df, spec)
    return used, spec, build_design(used)


def pit_coverage(pit: np.ndarray, benchmark: pd.Series) -> pd.DataFrame:
    """Shares of observations inside their central 50% and 90% predictive intervals (from their PITs), per
    benchmark and in all."""
    table = pd.DataFrame({"benchmark": np.asarray(benchmark), "in50": np.abs(pit - 0.5) <= 0.25,
                          "in90": np.abs(pit - 0.5) <= 0.45})
    per = table.groupby("benchmark").agg(n_obs=("in50", "size"), cover50=("in50", "mean"), cover90=("in90", "mean"))
    per.loc["all"] = [len(table), table["in50"].mean(), table["in90"].mean()]
    return per.reset_index()


def in_sample_pit(run: xr.DataTree, rng: np.random.Generator) -> np.ndarray:
    """In-sample randomised PIT (obs,) of each observed count under the run's posterior predictive."""
    from rlforecast.model.kernels import observed_pit, row_parameters

    _, spec, design = run_inputs(run)
    return observed_pit(row_parameters(posterior_arrays(run), design, spec, rng), design, rng)


def ppc_coverage(run: xr.DataTree, seed: int) -> pd.DataFrame:
    """In-sample posterior predictive coverage per benchmark, from the randomised PIT of each observed count."""
    return pit_coverage(in_sample_pit(run, np.random.default_rng(seed)), run_inputs(run)[0]["benchmark"])


def provenance(run: xr.DataTree) -> dict:
    return json.loads(run.attrs["provenance"])


def compile_nutpie(model):
    """nutpie's compiled ``model``, with its dims and design data frozen into constants (counts stay
    swappable with ``.with_data(correct_count=...)``).

    Measured (nutpie 0.16.11, numba): with ~30 design arrays as shared data, nutpie's C wrapper recompiles
    the whole log density in every process (~40 s); with constants, the numba disk cache serves it (~9 s
    warm). ``correct_count`` stays data so that one compiled model refits simulated counts (SBC)."""
    import nutpie
    from pymc.model.transform.optimization import freeze_dims_and_data

    frozen = freeze_dims_and_data(model, data=[v.name for v in model.data_vars if v.name != "correct_count"])
    return nutpie.compile_pymc_model(frozen)


def _gate_passed(idata, thresholds: dict) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return diagnose(idata, thresholds)["passed"]


def check_schedule(first: int, cap: int) -> list[int]:
    """Draw counts per chain at which the gate is checked: ``first``, then growing by GATE_GROWTH, below ``cap``."""
    out, n = [], first
    while n < cap:
        out.append(n)
        n = max(n + 1, int(n * GATE_GROWTH))
    return out


def _first_draws(idata: xr.DataTree, n: int) -> xr.DataTree:
    out = idata.copy()
    for group in ("posterior", "sample_stats"):
        out[group] = xr.DataTree(idata[group].to_dataset().isel(draw=slice(0, n)))
    return out


def _complete_draws(idata: xr.DataTree) -> xr.DataTree:
    """Drop trailing draws that some chain has not written yet (a trace read while sampling, or aborted)."""
    post = idata["posterior"].to_dataset()
    chains, draws = post.sizes.get("chain", 0), post.sizes.get("draw", 0)
    sized = [v for v in post.data_vars if post[v].size]
    if not draws or not sized:
        return idata
    values = post[sized[0]].values.reshape(chains, draws, -1)
    n = int(np.isfinite(values).all(axis=(0, 2)).cumprod().sum())
    return idata if n == draws else _first_draws(idata, n)


def _finished(run) -> bool:
    try:
        return run.is_finished
    except TimeoutError:  # nutpie 0.16 raises instead of returning False while chains still run
        return False


def sample(model, *, sampler: str, draws: int, tune: int, chains: int, target_accept: float, seed: int,
           adaptation: str = "diag", thresholds: dict | None = None, min_draws: int = 200,
           progressbar: bool = True) -> tuple[xr.DataTree, dict]:
    """Sample ``model``; return the DataTree and what the sampler did.

    With ``thresholds`` (nutpie only), sampling stops as soon as the diagnostic gate holds at two
    consecutive checks (from ``min_draws`` draws per chain on); ``draws`` is then a cap. The info dict
    has compile and sampling seconds, the draws kept, whether it stopped early, and gradient evaluations
    (warmup included)."""
    import pymc as pm

    pin_blas_threads()
    info = {"compile_s": 0.0, "stopped_early": False}
    if sampler == "nutpie":
        import nutpie

        t0 = time.perf_counter()
        compiled = compile_nutpie(model)
        info["compile_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        # cores=chains: all chains advance together (threads share the CPUs), so stopping early cuts none short
        background = nutpie.sample(compiled, draws=draws, tune=tune, chains=chains, cores=chains, seed=seed,
                                   target_accept=target_accept, adaptation=adaptation, progress_bar=progressbar,
                                   save_warmup=True, blocking=False)
        try:  # an interrupt stops the sampler's threads and propagates (nutpie's blocking mode would swallow it)
            trace, keep = _wait(background, draws, min_draws, thresholds)
        except KeyboardInterrupt:
            background.cancel()
            raise
        info["stopped_early"] = keep is not None
        info["sample_s"] = time.perf_counter() - t0
        idata = _complete_draws(trace)
        info["grad_evals"] = int(idata["sample_stats"]["n_steps"].sum() + idata["warmup_sample_stats"]["n_steps"].sum())
        if keep is not None:
            idata = _first_draws(idata, keep)
        for group in ("warmup_posterior", "warmup_sample_stats"):
            if group in idata.children:
                del idata[group]
    else:
        t0 = time.perf_counter()
        with model:
            # PyMC 6 hands NUTS to nutpie whenever it is installed: ask for PyMC's own sampler explicitly.
            try:
                idata = pm.sample(draws=draws, tune=tune, chains=chains, cores=min(chains, os.cpu_count() or 1),
                                  random_seed=seed, nuts_sampler="pymc", nuts={"target_accept": target_accept},
                                  progressbar=progressbar, compute_convergence_checks=False)
            except Exception:
                check_interrupt()  # an interrupt in tuning leaves PyMC an empty trace it fails on
                raise
        check_interrupt()
        if idata["posterior"].sizes["draw"] < draws:  # PyMC returns what it has on Ctrl-C
            raise KeyboardInterrupt(signal.SIGINT)
        info["sample_s"] = time.perf_counter() - t0
    info["draws"] = int(idata["posterior"].sizes["draw"])
    return idata, info


def _wait(background, draws: int, min_draws: int, thresholds: dict | None):
    """Wait for nutpie's background sampler; with ``thresholds``, stop it once the gate holds twice.
    Return the finished or aborted sampler's trace and the number of draws to keep (None = all)."""
    if thresholds is None:
        return background.wait(), None
    keep = None
    # The gate is checked on the first n draws for n on a fixed geometric schedule (a check costs about
    # a second of CPU), and sampling stops when it holds at two scheduled counts in a row (a single first
    # pass is optimistically biased). The draws kept are the first n of the second pass: the same seed
    # keeps the same draws however the checks are timed.
    schedule = check_schedule(min_draws, draws)
    passes: list[bool] = []

    def check_up_to(trace):  # scheduled checks the trace now covers; the draw count to keep, if any
        n = trace["posterior"].sizes.get("draw", 0)
        while len(passes) < len(schedule) and schedule[len(passes)] <= n:
            passes.append(_gate_passed(_first_draws(trace, schedule[len(passes)]), thresholds))
            if passes[-2:] == [True, True]:
                return schedule[len(passes) - 1]
        return None

    while keep is None and len(passes) < len(schedule) and not _finished(background):
        time.sleep(GATE_POLL_S)
        check_interrupt()
        with warnings.catch_warnings():  # a trace read in warmup has fewer draws than chains: arviz says so
            warnings.filterwarnings("ignore", message="Found chain dimension to be longer", category=UserWarning)
            trace = background.inspect()
        keep = check_up_to(_complete_draws(trace))
    trace = background.abort() if keep is not None else background.wait()
    if keep is None:  # finished before every scheduled check was made: make them on the full trace
        keep = check_up_to(_complete_draws(trace))
    return trace, keep


RETRY_TARGET_ACCEPT = 0.995  # smaller steps for a fit whose first attempt had a few divergences
RETRY_DIVERGENCES = 20  # more than this is a geometry problem that smaller steps do not cure


def fit_observations(df: pd.DataFrame, spec: dict, spec_text: str, data_bytes: bytes, *, seed: int,
                     sampler: str = "nutpie", draws: int | None = None, tune: int | None = None,
                     chains: int | None = None, progressbar: bool = True) -> xr.DataTree:
    """Sample the model for validated observations ``df``; return the complete run DataTree."""
    from rlforecast.model.build import build_model

    used, dropped = rows_for(df, spec)
    design = build_design(used)
    s = spec["sampler"]
    settings = {"sampler": sampler, "draws": draws or s["draws"], "tune": tune or s["tune"],
                "chains": chains or s["chains"], "target_accept": s["target_accept"], "seed": seed,
                "adaptation": s["adaptation"], "stop_when_converged": s["stop_when_converged"] and sampler == "nutpie"}
    t0 = time.perf_counter()
    # Fallbacks when a fit fails the gate at the spec's own tuning and chains (not in shortened exploratory
    # runs): a first attempt with a few divergences is retried with smaller steps (target_accept
    # RETRY_TARGET_ACCEPT), then the other parametrisation of the same posterior (model.build) is tried; the
    # best attempt is kept and provenance lists them all.
    attempts = []
    shipped = settings["tune"] == s["tune"] and settings["chains"] == s["chains"]
    plan = [(True, settings["target_accept"])]
    while plan:
        centred, target = plan.pop(0)
        idata, info = sample(build_model(design, spec, centred_inference_slopes=centred), sampler=sampler,
                             draws=settings["draws"], tune=settings["tune"], chains=settings["chains"],
                             target_accept=target, seed=seed, adaptation=settings["adaptation"],
                             progressbar=progressbar,
                             thresholds=spec["diagnostics"] if settings["stop_when_converged"] else None)
        d = diagnose(idata, spec["diagnostics"])
        info.update(inference_slopes="centred" if centred else "non-centred", target_accept=target,
                    passed=d["passed"], divergences=d["divergences"], ess_bulk_min=round(d["ess_bulk_min"], 1),
                    rhat_max=round(d["rhat_max"], 5))
        attempts.append((idata, info, d))
        if d["passed"] or not shipped:
            break
        if len(attempts) == 1:  # the first attempt failed: queue the fallbacks
            if 0 < d["divergences"] <= RETRY_DIVERGENCES and target < RETRY_TARGET_ACCEPT:
                plan.append((True, RETRY_TARGET_ACCEPT))
            plan.append((False, settings["target_accept"]))
    idata, info, diag = max(attempts, key=lambda a: (a[1]["passed"], -a[1]["divergences"], a[1]["ess_bulk_min"]))
    t_sample = time.perf_counter() - t0
    settings.update(draws_kept=info["draws"], stopped_early=info["stopped_early"], target_accept_used=info["target_accept"],
                    grad_evals=info.get("grad_evals"), inference_slopes=info["inference_slopes"],
                    attempts=[{k: round(v, 3) if isinstance(v, float) else v for k, v in a.items()}
                              for _, a, _ in attempts])
    compile_s, sample_s = (sum(a[key] for _, a, _ in attempts) for key in ("compile_s", "sample_s"))
    obs = {"obs": design.obs_ids}
    idata["observed_data"] = xr.DataTree(xr.Dataset({"correct": ("obs", design.k)}, coords=obs))
    idata["constant_data"] = xr.DataTree(xr.Dataset({"n_items": ("obs", design.n)}, coords=obs))
    idata.attrs.clear()
    idata.attrs.update({
        "format_version": FORMAT_VERSION,
        "observations_csv": data_bytes.decode("utf-8"),
        "spec_toml": spec_text,
        "provenance": json.dumps({
            "data_sha256": sha256_bytes(data_bytes),
            "spec_hash": spec_hash(spec),
            "model_id": spec["model"]["id"],
            "package_version": __version__,
            "git_commit": git_commit(),
            "seed": seed,
            "sampler": settings,
            "timings_s": {"sample_wall_incl_compile": round(t_sample, 3), "compile": round(compile_s, 3),
                          "sampling": round(sample_s, 3)},
            "n_obs_used": len(used),
            "dropped_rows": dropped,
            "diagnostics": diag,
            "allow_unconverged": False,
        }, sort_keys=True),
    })
    cov = ppc_coverage(idata, seed)
    idata["ppc_coverage"] = xr.DataTree(xr.Dataset.from_dataframe(cov.set_index("benchmark").rename_axis("ppc_group")))
    return idata


def log_likelihood(run: xr.DataTree) -> xr.Dataset:
    """Pointwise log-likelihood of every observation at every draw, (chain, draw, obs), computed from the draws
    (run files do not store it: it is a function of the posterior and the stored data)."""
    from rlforecast.model.kernels import pointwise_loglik

    _, spec, design = run_inputs(run)
    ll = pointwise_loglik(posterior_arrays(run), design, spec)
    return xr.Dataset({"correct": (("chain", "draw", "obs"), ll.reshape(run["posterior"].sizes["chain"], -1, ll.shape[-1]))},
                      coords={"obs": design.obs_ids})


def write_run(run: xr.DataTree, path) -> None:
    """Atomic, compressed netCDF write (a killed process never leaves a half file at ``path``)."""
    encoding = {node.path: {name: COMPRESSION for name, var in node.to_dataset().data_vars.items()
                            if var.ndim and var.dtype.kind in "biuf"} for node in run.subtree}
    with atomic_path(path) as tmp:
        run.to_netcdf(tmp, engine="h5netcdf", encoding=encoding)


def _open_run(path) -> xr.DataTree:
    p = Path(path)
    if not p.is_file():
        raise InputError.at(path, "run file not found (create one with `rlforecast fit`)")
    try:
        with xr.open_datatree(p, engine="h5netcdf") as tree:  # closed after loading: no stale handle stays open
            return tree.load()
    except Exception as err:  # truncated or not netCDF: h5py raises several types
        raise InputError.at(path, f"not a readable rlforecast run file ({type(err).__name__}: {err})") from None


def _read_format(run: xr.DataTree, path) -> int:
    """The run file's format version; a newer format than this rlforecast reads is refused with who wrote it."""
    version = run.attrs.get("format_version", 1)
    if not isinstance(version, (int, np.integer)) or version < 1:
        raise InputError.at(path, f"run-file format version {version!r} is not a positive integer",
                            key="format_version")
    if version > FORMAT_VERSION:
        try:
            prov = provenance(run)
            writer = f"rlforecast {prov['package_version']} (commit {prov['git_commit']})"
        except (KeyError, TypeError, ValueError):
            writer = "a newer rlforecast"
        raise InputError.at(path, f"written by {writer} in run-file format {version}; this rlforecast "
                            f"{__version__} reads formats 1 to {FORMAT_VERSION}: upgrade rlforecast, or refit the "
                            "run with this version (`rlforecast fit`)", key="format_version")
    return int(version)


def _from_format_1(run: xr.DataTree, path) -> xr.DataTree:
    """Read a format-1 run (rlforecast before run files carried a format version): its spec may lack the
    sampler keys added since, which are filled with what format-1 fits did (``FORMAT_1_SAMPLER``), after the
    stored spec is checked against its recorded hash; a stored log-likelihood group is dropped (recomputed
    from the draws like any other run's). The provenance records ``read_from_format = 1``."""
    prov = provenance(run)
    text = run.attrs["spec_toml"]
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise InputError.at(path, f"stored spec is not valid TOML: {err}", key="spec_toml") from None
    if spec_hash(raw) != prov.get("spec_hash"):
        raise InputError.at(path, "stored spec does not match its recorded hash (run file from a different spec?)",
                            key="spec_hash")
    missing = {k: v for k, v in FORMAT_1_SAMPLER.items() if k not in raw.get("sampler", {})}
    if missing:
        lines = "".join(f"{k} = {json.dumps(v)}\n" for k, v in missing.items())
        text, n = re.subn(r"(?m)^\[sampler\][ \t]*(#.*)?\r?\n", lambda m: m.group(0) + lines, text, count=1)
        if n != 1:
            raise InputError.at(path, "stored spec has no [sampler] table", key="spec_toml")
    spec = parse_spec(text, f"{path} (stored spec)")
    run = run.copy()
    if "log_likelihood" in run.children:
        del run["log_likelihood"]
    run.attrs.update(spec_toml=text, format_version=FORMAT_VERSION,
                     provenance=json.dumps(dict(prov, spec_hash=spec_hash(spec), read_from_format=1), sort_keys=True))
    return run


def load_run(path, allow_unconverged: bool = False) -> xr.DataTree:
    """Open a run file, checking it is complete, self-consistent and (unless allowed) converged; older
    run-file formats are read, newer ones refused."""
    run = _open_run(path)
    for key in ("observations_csv", "spec_toml", "provenance"):
        if key not in run.attrs:
            raise InputError.at(path, "not an rlforecast run file (attribute missing)", key=key)
    if _read_format(run, path) == 1:
        run = _from_format_1(run, path)
    if "posterior" not in run.children:
        raise InputError.at(path, "run file has no posterior group", key="posterior")
    prov = provenance(run)
    if sha256_bytes(run.attrs["observations_csv"].encode("utf-8")) != prov["data_sha256"]:
        raise InputError.at(path, "stored observations do not match their recorded sha256", key="data_sha256")
    spec = parse_spec(run.attrs["spec_toml"], f"{path} (stored spec)")
    if spec_hash(spec) != prov["spec_hash"]:
        raise InputError.at(path, "stored spec does not match its recorded hash (run file from a different spec?)",
                            key="spec_hash")
    if not prov["diagnostics"]["passed"] and not allow_unconverged:
        d = prov["diagnostics"]
        raise InputError.at(path, f"this fit FAILED its diagnostics (R-hat max {d['rhat_max']:.3f}, ESS bulk min "
                            f"{d['ess_bulk_min']:.0f}, divergences {d['divergences']}); refit, or pass "
                            "--allow-unconverged to use it anyway", key="diagnostics")
    return run


def unconverged_warning(run: xr.DataTree, echo) -> None:
    """Say loudly that results come from a fit that failed its diagnostics."""
    if not provenance(run)["diagnostics"]["passed"]:
        echo("WARNING: UNCONVERGED FIT: this run failed its sampler diagnostics; results are for exploration only")


def diagnostic_rows(diag: dict, thresholds: dict) -> list[tuple[str, str, str, str]]:
    """(diagnostic, value, threshold, "ok" or "FAIL") for each sampler diagnostic, as printed by ``fit``."""
    def mark(ok):
        return "ok" if ok else "FAIL"

    return [
        ("R-hat max", f"{diag['rhat_max']:.4f}", f"<= {thresholds['rhat_max']}", mark(diag["rhat_max"] <= thresholds["rhat_max"])),
        ("ESS bulk min", f"{diag['ess_bulk_min']:.0f}", f">= {thresholds['ess_min']:.0f}", mark(diag["ess_bulk_min"] >= thresholds["ess_min"])),
        ("ESS tail min", f"{diag['ess_tail_min']:.0f}", f">= {thresholds['ess_min']:.0f}", mark(diag["ess_tail_min"] >= thresholds["ess_min"])),
        ("divergences", f"{diag['divergences']}", f"<= {thresholds['divergences_max']}", mark(diag["divergences"] <= thresholds["divergences_max"])),
        ("BFMI min", f"{diag['bfmi_min']:.3f}", "> 0.3 (advice)", mark(not diag["bfmi_min"] < 0.3)),
    ]


def format_diagnostics(diag: dict, thresholds: dict) -> str:
    rows = diagnostic_rows(diag, thresholds)
    lines = [f"{'diagnostic':<14}{'value':>10}  {'threshold':<16}status"]
    lines += [f"{a:<14}{b:>10}  {c:<16}{d}" for a, b, c, d in rows]
    return "\n".join(lines)


def code_hash() -> str:
    """Hash of the code that defines and samples the model: a code change must never reuse a stale fit."""
    here = Path(__file__).resolve().parent
    files = sorted((here / "model").glob("*.py")) + [here / "fit.py"]
    return sha256_bytes(b"".join(f.read_bytes() for f in files))


def cache_key(data_bytes: bytes, spec: dict, settings: dict) -> str:
    return sha256_bytes(json.dumps({"data": sha256_bytes(data_bytes), "spec": spec_hash(spec), "settings": settings,
                                    "version": __version__, "code": code_hash()}, sort_keys=True).encode())


def fit_command(data_path, model_path, out_path, *, seed, sampler, draws, tune, chains, allow_unconverged,
                use_cache, echo=print) -> None:
    """CLI body of `rlforecast fit`."""
    from rlforecast.data.schema import read_observations
    from rlforecast.model.spec import load_spec

    df = read_observations(data_path)
    spec, spec_text = load_spec(model_path)
    used, dropped = rows_for(df, spec)
    if used.empty:  # nothing to fit: say why instead of failing inside the sampler
        reasons = sorted(set(dropped.values()))
        column = "reasoning" if all("non-reasoning" in r for r in reasons) else "rl_log10_rel"
        raise InputError.at(data_path, f"no row can be fitted by model '{spec['model']['id']}' ({model_path}): all "
                            f"{len(df)} rows are left out ({'; '.join(reasons)})", column=column)
    settings = {"sampler": sampler, "draws": draws, "tune": tune, "chains": chains, "seed": seed}
    run = fit_cached(df, Path(data_path).read_bytes(), spec, spec_text, settings, use_cache=use_cache,
                     label=str(data_path), echo=echo)
    check_and_write(run, spec, out_path, allow_unconverged, echo)


def fit_cached(df: pd.DataFrame, data_bytes: bytes, spec: dict, spec_text: str, settings: dict, *,
               use_cache: bool, label: str, echo=print) -> xr.DataTree:
    """Fit (or reuse the cached fit of the same data, spec, sampler settings and model code).

    ``settings``: sampler, seed, and draws/tune/chains (None = the spec's). A cache entry is used only after
    it loads and its stored hashes and key check out; a damaged one is reported, removed and refitted. Two
    processes fitting the same inputs take turns (a lock per entry): the second reuses the first's fit."""
    s = spec["sampler"]
    settings = {"sampler": settings["sampler"], "draws": settings["draws"] or s["draws"],
                "tune": settings["tune"] or s["tune"], "chains": settings["chains"] or s["chains"],
                "seed": settings["seed"]}
    key = cache_key(data_bytes, spec, settings)
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    cached = folder / f"{key}.nc"
    with file_lock(folder / f".{key}.lock",
                   on_wait=lambda: echo(f"waiting for another rlforecast process fitting the same inputs ({cached})")):
        if use_cache and cached.is_file():
            run = _cache_entry(cached, key, echo)
            if run is not None:
                echo(f"reusing cached fit {cached} (same data, spec and sampler settings)")
                return run
        echo(f"fitting {spec['model']['id']} on {label} ({len(df)} rows) with {settings['sampler']} ...")
        run = fit_observations(df, spec, spec_text, data_bytes, seed=settings["seed"], sampler=settings["sampler"],
                               draws=settings["draws"], tune=settings["tune"], chains=settings["chains"])
        run.attrs["provenance"] = json.dumps(dict(provenance(run), cache_key=key), sort_keys=True)
        write_run(run, cached)
    return run


def _cache_entry(path: Path, key: str, echo) -> xr.DataTree | None:
    """The cached run at ``path`` if it loads, its hashes check out and it was stored under ``key``;
    otherwise say why in one line, remove it and return None."""
    try:
        run = load_run(path, allow_unconverged=True)
        reason = None if provenance(run).get("cache_key") == key else "stored under another key"
    except InputError as err:
        run, reason = None, err.problems[0].message
    except (KeyError, TypeError, ValueError) as err:  # readable, but its provenance is not a run's
        run, reason = None, f"damaged provenance ({type(err).__name__}: {err})"
    if reason is None:
        return run
    echo(f"cache entry {path} is unusable ({reason.splitlines()[0]}): removed; refitting")
    path.unlink(missing_ok=True)
    return None


def cache_entries() -> list[dict]:
    """One row per cache entry: file, size, and (read from its attributes without loading the draws) model,
    rows, seed, draws kept, whether it passed, when written; damaged entries are listed as such."""
    rows = []
    for path in sorted(cache_dir().glob("*.nc")):
        row = {"file": path.name, "bytes": path.stat().st_size,
               "written": time.strftime("%Y-%m-%d %H:%M", time.localtime(path.stat().st_mtime))}
        try:
            with xr.open_datatree(path, engine="h5netcdf") as tree:
                prov = provenance(tree)
            row.update(model=prov["model_id"], rows=prov["n_obs_used"], seed=prov["seed"],
                       draws=prov["sampler"].get("draws_kept", prov["sampler"]["draws"]),
                       passed=bool(prov["diagnostics"]["passed"]), status="ok")
        except Exception as err:  # unreadable in any way: reported, not raised
            row["status"] = f"damaged ({type(err).__name__}); `rlforecast fit` replaces it"
        rows.append(row)
    return rows


def clear_cache() -> tuple[int, int]:
    """Remove every cache entry and leftover temporary file, except those of an entry another process is
    fitting now (its lock is held); lock files stay (removing one could let two fits run at once). Return
    (files removed, bytes freed)."""
    import fcntl

    n = freed = 0
    folder = cache_dir()
    held = set()
    for lock in folder.glob(".*.lock"):  # a held lock: that entry is being fitted now; leave it alone
        with open(lock, "rb") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                held.add(lock.name[1:-len(".lock")])
    for path in list(folder.glob("*.nc")) + list(folder.glob(".*.part")):
        if any(key in path.name for key in held):
            continue
        freed += path.stat().st_size
        path.unlink(missing_ok=True)
        n += 1
    return n, freed


def check_and_write(run: xr.DataTree, spec: dict, out_path, allow_unconverged: bool, echo=print) -> None:
    """Print diagnostics and coverage, write the run; a failed fit is written marked and raises
    ConvergenceError unless ``allow_unconverged``."""
    prov = provenance(run)
    diag = prov["diagnostics"]
    echo(format_diagnostics(diag, spec["diagnostics"]))
    cov = run["ppc_coverage"].to_dataset().to_dataframe()
    echo("posterior predictive coverage (share of observations inside their intervals):")
    echo(cov.to_string(float_format=lambda x: f"{x:.2f}"))
    echo(f"rows used {prov['n_obs_used']}, left out {len(prov['dropped_rows'])}; "
         f"sampling wall time incl. compile {prov['timings_s']['sample_wall_incl_compile']:.1f} s")
    if not diag["passed"]:
        prov["allow_unconverged"] = bool(allow_unconverged)
        run.attrs["provenance"] = json.dumps(prov, sort_keys=True)
        write_run(run, out_path)
        msg = (f"the fit FAILED its diagnostics (worst R-hat in '{diag['worst_rhat_var']}'); {out_path} is marked "
               "as failed and will be refused by forecast/predict unless --allow-unconverged is given")
        if not allow_unconverged:
            raise ConvergenceError(msg)
        echo("WARNING: " + msg + " (--allow-unconverged given: continuing)")
    else:
        write_run(run, out_path)
    echo(f"wrote {out_path}")
