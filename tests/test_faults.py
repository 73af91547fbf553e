"""Faults a long-running tool meets, each tried through the real CLI.

- a damaged fit-cache entry (truncated, not netCDF, stored under another key) is reported in one line,
  removed and refitted; `cache info` / `cache clear` report and empty the cache;
- Ctrl-C (SIGINT) or SIGTERM during `fit`, `forecast`, `budget`, `backtest` and `report`: a one-line message,
  the process ends by that signal (status 128 + signal number in a shell), earlier outputs intact, nothing half-written; an interrupt while a set of outputs
  is being swapped in is held until the set is complete;
- two `forecast`s into one folder leave one run's complete set; two `fit`s of the same inputs into one cache
  take turns and the second reuses the first's fit;
- run files from the earlier format (no format version) are read; a newer format is refused with who wrote it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import xarray as xr
from click.testing import CliRunner

from rlforecast.cli import main

REPO = Path(__file__).resolve().parents[1]
MODEL = REPO / "models" / "baseline.toml"
FORMAT1 = REPO / "tests" / "data" / "run_format1.nc"
CLI = [sys.executable, "-m", "rlforecast.cli"]
BOOKKEEPING = {".rlforecast.lock", ".forecast.files", ".budget.files", ".backtest.files"}
INTERRUPT = {signal.SIGINT: "Ctrl-C (SIGINT)", signal.SIGTERM: "SIGTERM"}


def _env(cache: Path) -> dict:
    return dict(os.environ, RLFORECAST_CACHE=str(cache), OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")


def _content(path: Path):
    if path.suffix == ".xlsx":  # zip entries carry a timestamp: compare the cells
        from openpyxl import load_workbook

        return [[[c.value for c in row] for row in ws.iter_rows()] for ws in load_workbook(path).worksheets]
    return path.read_bytes()


def _snapshot(folder: Path) -> dict:
    """Visible files of an output folder (bookkeeping files excluded) with their contents."""
    return {p.name: _content(p) for p in folder.iterdir() if p.is_file() and p.name not in BOOKKEEPING}


def _no_leftovers(folder: Path) -> None:
    hidden = {p.name for p in folder.iterdir() if p.name.startswith(".")} - BOOKKEEPING
    assert not hidden, f"left behind in {folder}: {sorted(hidden)}"


def _handlers_installed(proc: subprocess.Popen, timeout: float = 30) -> None:
    """Wait until the CLI has installed its signal handlers: the process catches SIGTERM (Python alone does not),
    read from /proc. Without this a loaded machine can deliver the signal before the interpreter is up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        status = Path(f"/proc/{proc.pid}/status").read_text()
        caught = int(next(line.split()[1] for line in status.splitlines() if line.startswith("SigCgt:")), 16)
        if caught >> (signal.SIGTERM - 1) & 1:
            return
        time.sleep(0.01)
    raise AssertionError("the CLI did not install its signal handlers")


def _interrupted(proc: subprocess.Popen, signum: int, after_s: float, timeout: float = 60) -> tuple[int, str]:
    """Send ``signum`` ``after_s`` seconds after the CLI is ready to handle it; its exit code and stderr."""
    _handlers_installed(proc)
    time.sleep(after_s)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=timeout)
    return proc.returncode, err.decode()


_SIGNAL_AT = """
import functools, importlib, os, sys
module, name, signum = sys.argv[1], sys.argv[2], int(sys.argv[3])
mod = importlib.import_module(module)
real = getattr(mod, name)
@functools.wraps(real)
def hooked(*args, **kwargs):
    os.kill(os.getpid(), signum)  # delivered as from outside: the handler runs at the next bytecode
    return real(*args, **kwargs)
setattr(mod, name, hooked)
from rlforecast.cli import main
sys.argv = ["rlforecast"] + sys.argv[4:]
main()
"""


def _signal_at(cmd: list[str], target: str, signum: int) -> list[str]:
    """``cmd`` (a CLI call) run so that ``signum`` arrives when ``target`` ("module:function") is first called:
    mid-run on any machine, where a timer lands after a fast machine has finished."""
    module, name = target.split(":")
    return [sys.executable, "-c", _SIGNAL_AT, module, name, str(int(signum))] + cmd[len(CLI):]


def _check_interrupt_message(code: int, err: str, signum: int) -> None:
    assert code == -signum, err  # ends by the signal after cleaning up: a shell sees status 128 + signum
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines[-1].startswith(f"interrupted by {INTERRUPT[signum]}: stopped"), err


@pytest.fixture(scope="module")
def scenarios(tmp_path_factory):
    d = tmp_path_factory.mktemp("scen")
    for name in ("rl-to-parity", "rl-stalls"):
        shutil.copy(REPO / "data" / "scenarios" / f"{name}.toml", d / f"{name}.toml")
    return d


def _forecast_cmd(run, scenarios, out, seed):
    return CLI + ["forecast", "--fit", str(run), "--scenarios", str(scenarios), "--out", str(out), "--seed", str(seed),
                  "--param-draws", "200", "--allow-unconverged"]


@pytest.fixture(scope="module")
def forecast_sets(fitted_run, scenarios, tmp_path_factory):
    """Complete output sets of two forecasts (seeds 1 and 2), each run alone, {seed: {name: content}}, and the
    folder of seed 1's run (tests start from a copy of it)."""
    sets, folders = {}, {}
    for seed in (1, 2):
        out = folders[seed] = tmp_path_factory.mktemp(f"set{seed}")
        subprocess.run(_forecast_cmd(fitted_run, scenarios, out, seed), check=True, capture_output=True,
                       env=_env(out / "cache"))
        sets[seed] = _snapshot(out)
    assert sets[1].keys() == sets[2].keys() and sets[1]["arrival_cdf.csv"] != sets[2]["arrival_cdf.csv"]
    return sets, folders[1]


def _earlier_set(forecast_sets, tmp_path) -> Path:
    """A copy of seed 1's complete output folder: the earlier outputs an interrupted run must leave intact."""
    out = tmp_path / "out"
    shutil.copytree(forecast_sets[1], out, ignore=shutil.ignore_patterns("cache"))
    return out


def _one_set(folder: Path, sets: dict) -> int:
    """The seed whose complete set ``folder`` holds; fails on a mix or an incomplete set."""
    snap = _snapshot(folder)
    for seed, files in sets.items():
        if snap == files:
            return seed
    owners = {name: [s for s, files in sets.items() if files.get(name) == data] for name, data in snap.items()}
    raise AssertionError(f"{folder} holds a mix or an incomplete set: {owners}")


# -------------------------------------------------------------------------------------------------- fit cache

def _fit_args(data, out, *extra):
    return ["fit", "--data", str(data), "--model", str(MODEL), "--out", str(out), "--draws", "30", "--tune", "30",
            "--chains", "2", "--seed", "5", "--allow-unconverged", *extra]


@pytest.fixture
def sim_csv(simulated, tmp_path):
    from rlforecast.data.build import to_csv_text

    path = tmp_path / "sim.csv"
    path.write_text(to_csv_text(simulated[0]))
    return path


def test_a_damaged_cache_entry_is_reported_removed_and_refitted(sim_csv, fitted_run, tmp_path, monkeypatch):
    """The sampler is stood in for by the session's fit (sampling is tested elsewhere): what is tested is that a
    damaged entry is noticed, reported in one line, removed and refitted, and that the refit is cached."""
    import rlforecast.fit as fit

    cache = tmp_path / "cache"
    monkeypatch.setenv("RLFORECAST_CACHE", str(cache))
    fits = []
    monkeypatch.setattr(fit, "fit_observations", lambda *a, **k: fits.append(1) or fit.load_run(fitted_run, True))
    first = CliRunner().invoke(main, _fit_args(sim_csv, tmp_path / "a.nc"))
    assert first.exit_code == 0 and len(fits) == 1, first.output
    (entry,) = cache.glob("*.nc")
    good = entry.read_bytes()
    for damage, reason in ((good[: len(good) // 2], "not a readable rlforecast run file"),  # cut short
                           (b"\x00" * 100, "not a readable rlforecast run file"),  # not netCDF at all
                           (fitted_run.read_bytes(), "stored under another key")):  # readable, other inputs
        entry.write_bytes(damage)
        res = CliRunner().invoke(main, _fit_args(sim_csv, tmp_path / "b.nc"))
        assert res.exit_code == 0, res.output
        (report,) = [line for line in res.output.splitlines() if "unusable" in line]
        assert report.startswith(f"cache entry {entry} is unusable ({reason}"), res.output
        assert report.endswith("): removed; refitting") and "Traceback" not in res.output
        assert "fitting baseline" in res.output and "reusing cached fit" not in res.output
        again = CliRunner().invoke(main, _fit_args(sim_csv, tmp_path / "c.nc"))
        assert "reusing cached fit" in again.output and "unusable" not in again.output  # the refit is cached
    assert len(fits) == 4


def test_cache_info_lists_entries_and_clear_empties_the_cache(fitted_run, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    cache.mkdir()
    monkeypatch.setenv("RLFORECAST_CACHE", str(cache))
    shutil.copy(fitted_run, cache / ("a" * 64 + ".nc"))
    (cache / ("b" * 64 + ".nc")).write_bytes(b"truncated")
    (cache / ".cccc.nc.XXXX.part").write_bytes(b"left by a killed write")
    info = CliRunner().invoke(main, ["cache", "info"])
    assert info.exit_code == 0, info.output
    assert f"fit cache {cache}: 2 entries" in info.output
    assert re.search(r"a{16} +[0-9.]+ MB .* baseline, \d+ rows, seed 3, 500 draws/chain", info.output), info.output
    assert re.search(r"b{16} +0\.0 MB .* damaged \(", info.output), info.output
    clear = CliRunner().invoke(main, ["cache", "clear"])
    assert clear.exit_code == 0 and "removed 3 files" in clear.output, clear.output
    assert not [p for p in cache.iterdir() if not p.name.endswith(".lock")]
    assert "0 entries, 0.0 MB" in CliRunner().invoke(main, ["cache", "info"]).output


def test_run_files_are_compressed_and_carry_their_format_version(fitted_run):
    import h5py

    with h5py.File(fitted_run) as f:
        assert f.attrs["format_version"] == 2
        assert f["posterior/alpha"].compression == "gzip" and f["posterior/alpha"].shuffle
        assert "log_likelihood" not in f


_SLOW_FIT = """
import sys, time
import rlforecast.fit as fit
run_path = sys.argv[1]
def stand_in(*args, **kwargs):  # in the sampler's place: 4 s, then the session's fit
    time.sleep(4)
    return fit.load_run(run_path, allow_unconverged=True)
fit.fit_observations = stand_in
from rlforecast.cli import main
sys.argv = ["rlforecast"] + sys.argv[2:]
main()
"""


def test_two_fits_of_the_same_inputs_take_turns_and_the_second_reuses_the_first(sim_csv, fitted_run, tmp_path):
    cache = tmp_path / "cache"
    args = [[sys.executable, "-c", _SLOW_FIT, str(fitted_run)] + _fit_args(sim_csv, tmp_path / f"{n}.nc") for n in "ab"]
    procs = [subprocess.Popen(a, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(cache)) for a in args]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    texts = [o.decode() for o, _ in outs]
    assert sum("fitting baseline" in t for t in texts) == 1, texts
    second = next(t for t in texts if "fitting baseline" not in t)
    assert "waiting for another rlforecast process fitting the same inputs" in second, second
    assert "reusing cached fit" in second
    a, b = (xr.open_datatree(tmp_path / f"{n}.nc", engine="h5netcdf").load() for n in "ab")
    assert a.identical(b)


# ------------------------------------------------------------------------------------------------- interrupts

def test_an_interrupted_fit_exits_cleanly_and_writes_nothing(sim_csv, tmp_path):
    cache = tmp_path / "cache"
    out = tmp_path / "run.nc"
    out.write_bytes(b"an earlier run file")
    cmd = CLI + ["fit", "--data", str(sim_csv), "--model", str(MODEL), "--out", str(out), "--draws", "20000",
                 "--tune", "200", "--chains", "2", "--seed", "12", "--allow-unconverged"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(cache))
    code, err = _interrupted(proc, signal.SIGTERM, 13.0, timeout=20)  # compiling or sampling; threads stop too
    _check_interrupt_message(code, err, signal.SIGTERM)
    assert out.read_bytes() == b"an earlier run file"
    assert not list(cache.glob("*.nc")) and not list(cache.glob(".*.part"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "run.nc", "sim.csv"]


def test_an_interrupted_forecast_leaves_the_earlier_set(fitted_run, scenarios, forecast_sets, tmp_path):
    sets, _ = forecast_sets
    out = _earlier_set(forecast_sets, tmp_path)
    assert _one_set(out, sets) == 1
    cmd = _forecast_cmd(fitted_run, scenarios, out, 2)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(tmp_path))
    runs = [_interrupted(proc, signal.SIGINT, 1.0)]  # while importing
    mid = _signal_at(cmd, "rlforecast.scenarios.propagate:arrival_counts", signal.SIGTERM)  # while computing
    proc = subprocess.run(mid, capture_output=True, env=_env(tmp_path), timeout=120)
    runs.append((proc.returncode, proc.stderr.decode()))
    for (code, err), signum in zip(runs, (signal.SIGINT, signal.SIGTERM)):
        _check_interrupt_message(code, err, signum)
        assert _one_set(out, sets) == 1
        _no_leftovers(out)


_INJECT = """
import os, signal, sys
import rlforecast.io as rio
calls = {"n": 0}
name, nth = sys.argv[1], int(sys.argv[2])
real = getattr(rio.os, name)
def hooked(*args):
    result = real(*args)
    calls["n"] += 1
    if calls["n"] == nth:
        os.kill(os.getpid(), signal.SIGTERM)
    return result
setattr(rio.os, name, hooked)
from rlforecast.cli import main
sys.argv = ["rlforecast"] + sys.argv[3:]
main()
"""


@pytest.mark.parametrize("moment, expected", [("fsync", 1), ("replace", 2)])
def test_sigterm_while_writing_the_set_never_mixes_two_runs(fitted_run, scenarios, forecast_sets, tmp_path, moment,
                                                            expected):
    """SIGTERM delivered while the files are staged (after the 3rd file is written) leaves the earlier set;
    delivered between two renames of the swap (after the 3rd), it waits until the new set is complete."""
    sets, _ = forecast_sets
    out = _earlier_set(forecast_sets, tmp_path)
    cmd = [sys.executable, "-c", _INJECT, moment, "3"] + _forecast_cmd(fitted_run, scenarios, out, 2)[3:]
    proc = subprocess.run(cmd, capture_output=True, env=_env(tmp_path), timeout=120)
    _check_interrupt_message(proc.returncode, proc.stderr.decode(), signal.SIGTERM)
    assert _one_set(out, sets) == expected
    _no_leftovers(out)


def test_two_forecasts_into_one_folder_leave_one_complete_set(fitted_run, scenarios, forecast_sets, tmp_path):
    out = tmp_path / "shared"
    procs = [subprocess.Popen(_forecast_cmd(fitted_run, scenarios, out, seed), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=_env(tmp_path)) for seed in (1, 2)]
    for p in procs:
        p.communicate(timeout=300)
        assert p.returncode == 0
    assert _one_set(out, forecast_sets[0]) in (1, 2)
    _no_leftovers(out)


def test_files_of_the_earlier_set_that_the_new_one_lacks_are_removed(fitted_run, scenarios, forecast_sets,
                                                                     tmp_path):
    """An earlier forecast over another benchmark left fan_old.png (listed in the folder's set); the user's own
    file is not part of any set and stays."""
    out = _earlier_set(forecast_sets, tmp_path)
    manifest = out / ".forecast.files"
    (out / "fan_old.png").write_bytes(b"from an earlier forecast")
    manifest.write_text(json.dumps(json.loads(manifest.read_text()) + ["fan_old.png"]))
    (out / "notes.txt").write_text("the user's own file")
    subprocess.run(_forecast_cmd(fitted_run, scenarios, out, 2), check=True, capture_output=True, env=_env(tmp_path))
    listed = set(json.loads((out / "provenance.json").read_text())["files"]) | {"provenance.json"}
    assert set(_snapshot(out)) == listed | {"notes.txt"}
    assert set(json.loads(manifest.read_text())) == listed


@pytest.mark.parametrize("command", ["budget", "report", "backtest"])
def test_interrupted_budget_report_and_backtest_keep_earlier_outputs(command, fitted_run, scenarios, sim_csv,
                                                                     tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    if command == "budget":
        cmd = CLI + ["budget", "--fit", str(fitted_run), "--scenarios", str(scenarios), "--out", str(out),
                     "--posterior-draws", "400", "--param-draws", "400", "--allow-unconverged"]
        earlier = {"budget.csv": b"an earlier budget\n", "budget.md": b"# earlier\n"}
        target = "rlforecast.scenarios.budget:uncertainty_budget"
    elif command == "report":
        cmd = CLI + ["report", "--fit", str(fitted_run), "--scenarios", str(scenarios), "--out",
                     str(out / "report.html"), "--allow-unconverged"]
        earlier = {"report.html": b"<html>an earlier report</html>"}
        target = "rlforecast.report:forest_plot"  # after the forecast, before the budget
    else:
        cmd = CLI + ["backtest", "--data", str(sim_csv), "--model", str(MODEL), "--out", str(out), "--draws", "3000",
                     "--tune", "200", "--chains", "2"]
        earlier = {"backtest.csv": b"an earlier backtest\n", "backtest.png": b"png"}
        target = "rlforecast.fit:fit_observations"  # the first fold's fit
    for name, data in earlier.items():
        (out / name).write_bytes(data)
    proc = subprocess.run(_signal_at(cmd, target, signal.SIGINT), capture_output=True, env=_env(tmp_path / "cache"),
                          timeout=300)
    _check_interrupt_message(proc.returncode, proc.stderr.decode(), signal.SIGINT)
    assert _snapshot(out) == earlier
    _no_leftovers(out)


# ---------------------------------------------------------------------------------------------- format versions

def test_a_run_file_of_the_earlier_format_is_read(tmp_path, scenarios):
    """tests/data/run_format1.nc was written by rlforecast at commit 9276731 (before run files carried a format
    version or the sampler keys `adaptation` and `stop_when_converged`)."""
    from rlforecast.fit import load_run, provenance

    raw = xr.open_datatree(FORMAT1, engine="h5netcdf")
    assert "format_version" not in raw.attrs and "adaptation" not in raw.attrs["spec_toml"]
    run = load_run(FORMAT1, allow_unconverged=True)
    assert provenance(run)["read_from_format"] == 1 and run.attrs["format_version"] == 2
    res = CliRunner().invoke(main, ["exchange-rate", "--fit", str(FORMAT1), "--allow-unconverged"])
    assert res.exit_code == 0 and "pooled" in res.output, res.output
    res = CliRunner().invoke(main, ["forecast", "--fit", str(FORMAT1), "--scenarios", str(scenarios), "--out",
                                    str(tmp_path / "out"), "--param-draws", "100", "--allow-unconverged"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "out" / "arrival_quantiles.csv").is_file()


def test_a_run_file_of_a_newer_format_is_refused_with_who_wrote_it(fitted_run, scenarios, tmp_path):
    tree = xr.open_datatree(fitted_run, engine="h5netcdf").load()
    tree.attrs["format_version"] = 7
    newer = tmp_path / "newer.nc"
    tree.to_netcdf(newer, engine="h5netcdf")
    commit = json.loads(tree.attrs["provenance"])["git_commit"]
    for args in (["exchange-rate", "--fit", str(newer)],
                 ["forecast", "--fit", str(newer), "--scenarios", str(scenarios), "--out", str(tmp_path / "o")]):
        res = CliRunner().invoke(main, args + ["--allow-unconverged"])
        assert res.exit_code == 2, res.output
        assert (f"{newer}, key 'format_version': written by rlforecast 0.1.0 (commit {commit}) in run-file format 7; "
                "this rlforecast 0.1.0 reads formats 1 to 2: upgrade rlforecast") in res.output
        assert "Traceback" not in res.output
    assert not (tmp_path / "o").exists()


def test_an_earlier_format_run_with_an_edited_spec_is_refused(tmp_path):
    tree = xr.open_datatree(FORMAT1, engine="h5netcdf").load()
    tree.attrs["spec_toml"] = tree.attrs["spec_toml"].replace("draws = ", "draws = 1", 1)
    bad = tmp_path / "edited.nc"
    tree.to_netcdf(bad, engine="h5netcdf")
    res = CliRunner().invoke(main, ["exchange-rate", "--fit", str(bad), "--allow-unconverged"])
    assert res.exit_code == 2 and "key 'spec_hash': stored spec does not match its recorded hash" in res.output
