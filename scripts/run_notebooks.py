#!/usr/bin/env python
"""Execute every notebook (notebooks/NN_*.py, Jupytext percent scripts) top to bottom in smoke mode.

Used by `make notebooks` and tests/test_notebooks.py. Each script is converted in memory (jupytext ->
nbformat) and run cell by cell with nbclient on the ``python3`` kernel of the interpreter running this
script (jupyter_client starts kernels whose argv says ``python`` with ``sys.executable``, i.e. the venv).

Smoke mode (``RLFORECAST_SMOKE=1``) makes every fit tiny; the baseline fit is shared between notebooks
through the fit cache in ``runs/.cache`` (reused while data, spec and sampler settings are unchanged).
Nothing is written into the repository except ``runs/`` (git-ignored); executed notebooks are kept only
when ``--keep DIR`` is given, and figures are saved as PNG when ``--figures DIR`` is given.

Exit code 0 when every notebook ran; 1 with the notebook, cell number and error otherwise.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def notebook_paths(names: list[str]) -> list[Path]:
    paths = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))
    if names:
        paths = [p for p in paths if any(n in p.name for n in names)]
    return paths


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def run_one(path: Path, timeout: int, keep: Path | None) -> tuple[bool, str]:
    """Execute one notebook; return (ok, message)."""
    import jupytext
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    nb = jupytext.read(path)
    client = NotebookClient(nb, kernel_name="python3", timeout=timeout, allow_errors=False,
                            resources={"metadata": {"path": str(path.parent)}})
    failure = None
    with client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            try:
                client.execute_cell(cell, index)
            except CellExecutionError as err:
                failure = (index, str(err))
            except CellTimeoutError:
                failure = (index, f"cell timed out after {timeout} s (--timeout)")
            except DeadKernelError as err:
                failure = (index, f"kernel died: {err}")
            if failure:
                break
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, keep / path.with_suffix(".ipynb").name)
    if failure:
        index, detail = failure
        detail = re.sub(r"\x1b\[[0-9;]*m", "", detail)  # ANSI colours of IPython tracebacks
        number = sum(1 for c in nb.cells[: index + 1] if c.cell_type == "code")
        source = nb.cells[index].source.strip().splitlines()
        first = source[0] if source else ""
        return False, (f"{_rel(path)}: code cell {number} (cell index {index}, starting "
                       f"'{first[:70]}') failed:\n{detail}")
    return True, "ok"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="run only notebooks whose file name contains one of these")
    parser.add_argument("--timeout", type=int, default=600, help="per-cell timeout in seconds (default 600)")
    parser.add_argument("--figures", type=Path, help="also save every figure as PNG into this folder")
    parser.add_argument("--keep", type=Path, help="write the executed notebooks (.ipynb) into this folder")
    parser.add_argument("--full", action="store_true", help="no smoke mode: use the specs' full sampler settings")
    args = parser.parse_args(argv)

    os.chdir(ROOT)
    if not args.full:
        os.environ["RLFORECAST_SMOKE"] = "1"
    else:
        os.environ.pop("RLFORECAST_SMOKE", None)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    if args.figures:
        args.figures.mkdir(parents=True, exist_ok=True)
        os.environ["RLFORECAST_FIG_DIR"] = str(args.figures.resolve())

    paths = notebook_paths(args.names)
    if not paths:
        print("no notebooks matched", file=sys.stderr)
        return 1
    t_all = time.perf_counter()
    for path in paths:
        t0 = time.perf_counter()
        ok, message = run_one(path, args.timeout, args.keep)
        if not ok:
            print(f"FAILED {message}", file=sys.stderr)
            return 1
        print(f"ok  {_rel(path)}  ({time.perf_counter() - t0:.0f} s)", flush=True)
    print(f"{len(paths)} notebooks ran in {time.perf_counter() - t_all:.0f} s"
          f"{'' if args.full else ' (smoke mode)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
