"""Outputs are written atomically and reproducibly; fits are cached by content.

- Every writer in the package goes through ``rlforecast.io`` (temp file + rename), checked statically.
- A writer killed with SIGKILL at any moment leaves the earlier output intact or fully replaced. What a kill can
  leave behind is a hidden temp file ``.NAME.XXXXXX.part`` beside the output (nothing can clean up after
  SIGKILL); no command reads such names, and the next successful write does not depend on them.
- Same inputs and seed -> byte-identical outputs (``data build``, ``predict``, ``forecast``).
- ``fit`` reuses a cached run when data bytes, spec content and sampler settings are unchanged.
"""

from __future__ import annotations

import ast
import json
import os
import re
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
PACKAGE = REPO / "src" / "rlforecast"
RAW = REPO / "data" / "raw"
MODEL = REPO / "models" / "baseline.toml"
PART = re.compile(r"^\..+\.part$")


# ------------------------------------------------------------------------------------- writers go through io

WRITE_METHODS = {"to_csv", "to_excel", "to_netcdf", "to_zarr", "to_parquet", "to_json", "to_hdf", "savefig",
                 "write_text", "write_bytes", "dump", "save"}
IN_MEMORY = {"BytesIO", "StringIO"}


def _callee(node) -> str:
    f = node.func
    return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""


def _safe_targets(func: ast.AST) -> set[str]:
    """Names a function may write to freely: ``with atomic_path(...) as NAME`` and ``NAME = io.BytesIO()``."""
    safe = set()
    for node in ast.walk(func):
        if isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                if (isinstance(item.context_expr, ast.Call) and _callee(item.context_expr) == "atomic_path"
                        and isinstance(item.optional_vars, ast.Name)):
                    safe.add(item.optional_vars.id)
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) and _callee(node.value) in IN_MEMORY:
            safe |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return safe


def _direct_writes(path: Path) -> list[tuple[str, str, int]]:
    """(function, method, line) for every call that can write a file by itself, i.e. not through rlforecast.io:
    not a call on the io module, not into an ``atomic_path`` temp name, not into a BytesIO/StringIO."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    io_aliases = {a.asname or a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
                  and n.module == "rlforecast" for a in n.names if a.name == "io"}
    io_aliases |= {a.asname for n in ast.walk(tree) if isinstance(n, ast.Import)
                   for a in n.names if a.name == "rlforecast.io" and a.asname}
    found = []

    def is_safe(node, safe) -> bool:
        return isinstance(node, ast.Name) and node.id in safe

    def visit(node, func, safe):
        for child in ast.iter_child_nodes(node):
            name, inner = func, safe
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name, inner = child.name, safe | _safe_targets(child)
            if isinstance(child, ast.Call):
                f = child.func
                target = child.args[0] if child.args else None
                if isinstance(f, ast.Attribute) and f.attr in WRITE_METHODS:
                    through_io = isinstance(f.value, ast.Name) and f.value.id in io_aliases
                    returns_text = f.attr in ("to_csv", "to_json") and target is None and not any(
                        k.arg == "path_or_buf" for k in child.keywords)  # DataFrame.to_csv() returns a str
                    into_safe = is_safe(target, inner) or (f.attr in ("write_text", "write_bytes")
                                                           and is_safe(f.value, inner))
                    if not (through_io or returns_text or into_safe):
                        found.append((name, f.attr, child.lineno))
                if _callee(child) == "open":
                    modes = [a.value for a in child.args[1:2] if isinstance(a, ast.Constant)]
                    modes += [k.value.value for k in child.keywords if k.arg == "mode" and isinstance(k.value, ast.Constant)]
                    if any(isinstance(m, str) and set(m) & set("wax+") for m in modes) and not is_safe(target, inner):
                        found.append((name, "open", child.lineno))
            visit(child, name, inner)

    visit(tree, "<module>", set())
    return found


def test_every_writer_goes_through_rlforecast_io():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel == "io.py":
            continue
        for func, method, line in _direct_writes(path):
            offenders.append(f"{rel}:{line} {func}() calls .{method}(...)")
    assert not offenders, ("write files through rlforecast.io (atomic_path / write_bytes / write_text):\n"
                           + "\n".join(offenders))


def test_the_write_scan_finds_direct_writes(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import io\nfrom rlforecast import io as rio\nfrom rlforecast.io import atomic_path\n"
                   "def f(df, p, fig):\n    df.to_csv(p)\n    open(p, 'w').write('x')\n    p.write_text('x')\n"
                   "    fig.savefig(p)\n"
                   "    rio.write_text(p, 'x')\n    open(p).read()\n    buf = io.BytesIO()\n    fig.savefig(buf)\n"
                   "    with atomic_path(p) as tmp:\n        fig.savefig(tmp)\n        tmp.write_text('x')\n"
                   "        open(tmp, 'w')\n    return df.to_csv(index=False)\n")
    assert [m for _, m, _ in _direct_writes(bad)] == ["to_csv", "open", "write_text", "savefig"]


def test_outputs_get_the_usual_file_mode(tmp_path):
    """Temp files start as 0600 (mkstemp); outputs must end up like any file the user creates (umask)."""
    from rlforecast.io import write_text

    umask = os.umask(0o022)
    os.umask(umask)
    write_text(tmp_path / "a.txt", "x")
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o666 & ~umask


# ---------------------------------------------------------------------------------------------- killed writers

def test_atomic_path_keeps_the_old_file_when_the_block_fails(tmp_path):
    from rlforecast.io import atomic_path

    out = tmp_path / "out.csv"
    out.write_bytes(b"old\n")
    with pytest.raises(RuntimeError):
        with atomic_path(out) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("boom")
    assert out.read_bytes() == b"old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]  # temp removed on a normal failure


def test_sigkill_in_the_middle_of_a_write_leaves_old_output_and_only_a_hidden_part_file(tmp_path):
    """Deterministic version of the kill test: the process dies inside atomic_path, after a partial write."""
    out = tmp_path / "out.csv"
    out.write_bytes(b"old\n")
    code = ("import os, signal, sys\nfrom rlforecast.io import atomic_path\n"
            "with atomic_path(sys.argv[1]) as tmp:\n"
            "    with open(tmp, 'wb') as fh:\n"
            "        fh.write(b'half'); fh.flush()\n"
            "        os.kill(os.getpid(), signal.SIGKILL)\n")
    proc = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True)
    assert proc.returncode == -signal.SIGKILL
    assert out.read_bytes() == b"old\n"
    left = [p for p in tmp_path.iterdir() if p != out]
    assert len(left) == 1 and PART.match(left[0].name) and left[0].name.startswith(".out.csv.")
    assert left[0].read_bytes() == b"half"


def _build_cmd(out: Path) -> list[str]:
    return [sys.executable, "-m", "rlforecast.cli", "data", "build", "--raw", str(RAW), "--out", str(out)]


def test_sigkill_during_data_build_never_leaves_a_half_written_output(tmp_path):
    ref_path = tmp_path / "ref" / "obs.csv"
    t0 = time.perf_counter()
    subprocess.run(_build_cmd(ref_path), check=True, capture_output=True)
    full = time.perf_counter() - t0
    new = ref_path.read_bytes()
    old = b"".join(new.splitlines(keepends=True)[:40])  # an earlier, different, valid output
    assert old != new

    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "obs.csv"
    # early kills (imports, parsing) and kills around the end, where the temp file is written and renamed
    delays = [0.05, 0.3, 0.8, 1.5] + [full * f for f in (0.9, 0.95, 0.98, 1.0, 1.03)]
    outcomes = []
    for delay in delays:
        out.write_bytes(old)
        proc = subprocess.Popen(_build_cmd(out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        data = out.read_bytes()
        assert data in (old, new), f"killed after {delay:.2f} s: {out} is neither the old nor the new output"
        outcomes.append("old" if data == old else "new")
        # the only possible leftover is a hidden temp file; the output folder holds no other visible file
        visible = [p.name for p in out_dir.iterdir() if not p.name.startswith(".")]
        assert visible == ["obs.csv"]
        assert all(PART.match(p.name) for p in out_dir.iterdir() if p != out)
    assert "old" in outcomes  # early kills happen before the rename


# ---------------------------------------------------------------------------------------------- reproducible

def test_data_build_twice_gives_identical_bytes(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b" / "a.csv"
    for out in (a, b):
        res = CliRunner().invoke(main, ["data", "build", "--raw", str(RAW), "--out", str(out)])
        assert res.exit_code == 0, res.output
    assert a.read_bytes() == b.read_bytes()


@pytest.fixture(scope="module")
def converged_run(fitted_run, tmp_path_factory):
    """The session fit marked as passing its diagnostics (``predict`` refuses failed fits and has no
    --allow-unconverged flag); stored data and spec hashes stay valid."""
    tree = xr.open_datatree(fitted_run, engine="h5netcdf").load()
    prov = json.loads(tree.attrs["provenance"])
    prov["diagnostics"]["passed"] = True
    tree.attrs["provenance"] = json.dumps(prov, sort_keys=True)
    out = tmp_path_factory.mktemp("converged") / "run.nc"
    tree.to_netcdf(out, engine="h5netcdf")
    return out


def test_predict_with_the_same_seed_gives_identical_bytes(converged_run, simulated, tmp_path):
    from rlforecast.data.build import to_csv_text

    df, _ = simulated
    inp = tmp_path / "rows.csv"
    inp.write_text(to_csv_text(df.iloc[::7].reset_index(drop=True)))
    outs = {}
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        outs[name] = tmp_path / f"{name}.csv"
        res = CliRunner().invoke(main, ["predict", "--fit", str(converged_run), "--input", str(inp),
                                        "--output", str(outs[name]), "--seed", str(seed)])
        assert res.exit_code == 0, res.output
    assert outs["a"].read_bytes() == outs["b"].read_bytes()
    assert outs["a"].read_bytes() != outs["c"].read_bytes()  # the seed is really used


def _xlsx_cells(path: Path) -> dict:
    from openpyxl import load_workbook

    wb = load_workbook(path)
    return {ws.title: [[c.value for c in row] for row in ws.iter_rows()] for ws in wb.worksheets}


def test_forecast_with_the_same_seed_gives_identical_files(fitted_run, tmp_path):
    scen = tmp_path / "scenarios"
    scen.mkdir()
    for name in ("rl-to-parity", "rl-stalls"):
        (scen / f"{name}.toml").write_bytes((REPO / "data" / "scenarios" / f"{name}.toml").read_bytes())
    dirs = {}
    for name, seed in (("a", 11), ("b", 11), ("c", 12)):
        dirs[name] = tmp_path / f"out_{name}"
        res = CliRunner().invoke(main, ["forecast", "--fit", str(fitted_run), "--scenarios", str(scen),
                                        "--out", str(dirs[name]), "--seed", str(seed), "--param-draws", "300",
                                        "--allow-unconverged"])
        assert res.exit_code == 0, res.output
    files = sorted(p.name for p in dirs["a"].iterdir())
    assert files == sorted(p.name for p in dirs["b"].iterdir())
    assert {"arrival_quantiles.csv", "arrival_cdf.csv", "policy_table.md", "policy_table.tex",
            "provenance.json", "policy_table.xlsx"} <= set(files)
    assert [f for f in files if f.startswith(".")] == [".forecast.files", ".rlforecast.lock"]  # the set and its lock
    for f in files:
        a, b = (dirs["a"] / f).read_bytes(), (dirs["b"] / f).read_bytes()
        if f.endswith(".xlsx"):  # zip entries carry a timestamp: compare the cells
            assert _xlsx_cells(dirs["a"] / f) == _xlsx_cells(dirs["b"] / f)
        else:
            assert a == b, f"{f} differs between two runs with the same seed"
    assert (dirs["a"] / "arrival_cdf.csv").read_bytes() != (dirs["c"] / "arrival_cdf.csv").read_bytes()


# ------------------------------------------------------------------------------------------------- fit cache

class Refit(Exception):
    """Raised instead of sampling: proves the cache was missed without paying for a fit."""


def test_fit_cache_is_reused_only_for_unchanged_data_spec_and_settings(simulated, tmp_path, monkeypatch):
    import rlforecast.fit as fit
    from rlforecast.data.build import to_csv_text

    monkeypatch.setenv("RLFORECAST_CACHE", str(tmp_path / "cache"))
    df, _ = simulated
    data = tmp_path / "sim.csv"
    data.write_text(to_csv_text(df))
    spec = tmp_path / "spec.toml"
    spec.write_bytes(MODEL.read_bytes())  # one snapshot: the shipped spec may be edited while tests run

    def fit_cmd(out, data=data, spec=spec, *extra):
        t0 = time.perf_counter()
        res = CliRunner().invoke(main, ["fit", "--data", str(data), "--model", str(spec), "--out", str(out),
                                        "--draws", "30", "--tune", "30", "--chains", "2", "--seed", "5",
                                        "--allow-unconverged", *extra])
        return res, time.perf_counter() - t0

    first, t_first = fit_cmd(tmp_path / "r1.nc")
    assert first.exit_code == 0, first.output
    assert "reusing cached fit" not in first.output
    second, t_second = fit_cmd(tmp_path / "r2.nc")
    assert second.exit_code == 0, second.output
    assert "reusing cached fit" in second.output
    assert t_second < min(10.0, t_first / 2), (t_first, t_second)
    r1 = xr.open_datatree(tmp_path / "r1.nc", engine="h5netcdf").load()
    r2 = xr.open_datatree(tmp_path / "r2.nc", engine="h5netcdf").load()
    assert r1.identical(r2)

    # a comment is not content: still cached
    commented = tmp_path / "commented.toml"
    commented.write_text("# a new comment line\n" + spec.read_text(encoding="utf-8") + "# and a trailing one\n")
    res, _ = fit_cmd(tmp_path / "r3.nc", data, commented)
    assert res.exit_code == 0 and "reusing cached fit" in res.output, res.output

    # from here on a cache miss must reach the sampler; stop it there
    def no_sampling(*args, **kwargs):
        raise Refit

    monkeypatch.setattr(fit, "fit_observations", no_sampling)

    lines = data.read_text().splitlines(keepends=True)
    header = lines[0].rstrip("\n").split(",")
    i_acc = header.index("accuracy")
    for j, line in enumerate(lines[1:], start=1):  # first row with an accuracy like 0.xyz
        acc = line.split(",")[i_acc]
        if re.fullmatch(r"0\.\d*[0-8]", acc):
            cells = line.split(",")
            cells[i_acc] = acc[:-1] + str(int(acc[-1]) + 1)
            lines[j] = ",".join(cells)
            break
    changed_data = tmp_path / "sim_changed.csv"
    changed_data.write_text("".join(lines))
    a, b = data.read_bytes(), changed_data.read_bytes()
    assert len(a) == len(b) and sum(x != y for x, y in zip(a, b)) == 1  # exactly one byte differs
    changed_spec = tmp_path / "spec_changed.toml"
    text, n = re.subn(r"(?m)^cell_sd = \{ sigma = [0-9.]+ \}", "cell_sd = { sigma = 12.5 }",
                      spec.read_text(encoding="utf-8"))
    assert n == 1
    changed_spec.write_text(text)

    for label, (d, s, extra) in {
        "one byte of data": (changed_data, spec, ()),
        "one spec value": (data, changed_spec, ()),
        "another seed": (data, spec, ("--seed", "6")),
        "--no-cache": (data, spec, ("--no-cache",)),
    }.items():
        res, _ = fit_cmd(tmp_path / "r4.nc", d, s, *extra)
        assert isinstance(res.exception, Refit), f"{label}: expected a refit, got:\n{res.output}"
        assert "reusing cached fit" not in res.output
    # a change in the model code (same data, spec and settings) must not reuse a stale fit
    monkeypatch.setattr(fit, "code_hash", lambda: "model code changed")
    res, _ = fit_cmd(tmp_path / "r4.nc")
    assert isinstance(res.exception, Refit), f"model code change: expected a refit, got:\n{res.output}"
    assert not (tmp_path / "r4.nc").exists()
