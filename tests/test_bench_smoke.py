"""Smoke test of scripts/bench.py's propagation benchmark on a tiny grid (no fitting, no Dask cluster).

Checks the figures are there and positive, not their size: timings belong to ``make bench``."""

import importlib.util
import json

import pytest

from conftest_scenarios import REPO


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("rlforecast_bench_script", REPO / "scripts" / "bench.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


RATES = ("propagate_crossings_per_s", "loop_crossings_per_s", "propagate_speedup_vs_loop",
         "propagate_crossings_per_cpu_s", "propagate_grid_crossings_per_s")


def test_propagation_benchmark_on_a_tiny_grid(bench):
    res = bench.bench_propagation(kernel_draws=30, kernel_scenarios=2, loop_draws=3, grid_draws=40,
                                  grid_scenarios=7, chunk_samples=16, repeat=1, use_dask=False, echo=lambda *_: None)
    for key in RATES:
        assert res[key] > 0, key
    assert res["propagate_peak_mb"] > 0 and res["propagate_peak_delta_mb"] >= 0
    assert res["loop_matches_kernel"]
    assert res["grid_shape"] == [40, 7, 17, 3] and res["kernel_shape"] == [2, 30, 17, 3]
    assert res["grid_cells"] == 40 * 7 * 17 * 3
    assert {"memory_method", "state_method", "scenario_method"} <= set(res)
    targets = bench.check_targets(res)
    assert targets["propagate_crossings_per_s"]["met"] in (True, False)
    assert targets["fit_wall_s"]["met"] is None  # not measured here


def test_main_writes_the_json(bench, tmp_path):
    out = tmp_path / "bench.json"
    assert bench.main(["--skip-fit", "--skip-forecast", "--skip-dask", "--kernel-draws", "20", "--loop-draws", "2",
                       "--grid-draws", "30", "--grid-scenarios", "5", "--chunk-samples", "10", "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["propagate_crossings_per_s"] > 0 and res["loop_crossings_per_s"] > 0
    assert {"git_commit", "date", "cpu_count", "python", "numpy", "pymc", "nutpie", "threads"} <= set(res["meta"])
    assert res["meta"]["threads"]["OPENBLAS_NUM_THREADS"] == "1"
    assert set(bench.TARGETS) <= set(res["targets"])
