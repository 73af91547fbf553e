"""Every notebook runs top to bottom in smoke mode (scripts/run_notebooks.py; notebook 05 in the slow lane), and
the committed .ipynb files stay paired with their percent scripts and free of outputs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.py"))


def test_notebooks_are_paired_and_stripped():
    nbformat = pytest.importorskip("nbformat")
    jupytext = pytest.importorskip("jupytext")
    assert len(SCRIPTS) >= 5
    for script in SCRIPTS:
        ipynb = script.with_suffix(".ipynb")
        assert ipynb.is_file(), f"{ipynb.name} missing: run `jupytext --sync {script.relative_to(REPO)}`"
        nb = nbformat.read(ipynb, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, f"{ipynb.name}: outputs not stripped"
        paired = [c.source for c in jupytext.read(script).cells]
        assert [c.source for c in nb.cells] == paired, f"{ipynb.name} out of sync with {script.name} (jupytext --sync)"


# Notebook 05 refits three variants of the model (three more cold compiles, ~100 s on a fresh machine): it runs
# in the slow lane; `make notebooks` runs every notebook.
SLOW = {"05_sensitivity"}


def _run_smoke(names: list[str]) -> str:
    pytest.importorskip("nbclient")
    env = dict(os.environ)
    # The session fixtures point the fit cache at a temp folder; the notebooks share their smoke fits through
    # the repository's git-ignored runs/.cache so that repeated runs (make notebooks, this test) reuse them.
    env.pop("RLFORECAST_CACHE", None)
    env.pop("RLFORECAST_FIG_DIR", None)
    proc = subprocess.run([sys.executable, "scripts/run_notebooks.py", "--timeout", "900", *names], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, f"notebooks failed:\n{proc.stdout}\n{proc.stderr[-6000:]}"
    return proc.stdout


def test_run_notebooks_smoke():
    names = [s.stem for s in SCRIPTS if s.stem not in SLOW]
    out = _run_smoke(names)
    assert out.count("ok  notebooks/") == len(names)


@pytest.mark.slow
def test_run_sensitivity_notebook_smoke():
    out = _run_smoke(sorted(SLOW))
    assert out.count("ok  notebooks/") == len(SLOW)
