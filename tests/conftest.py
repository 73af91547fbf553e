"""Shared fixtures: a small simulated dataset in the observations schema, fitted once per session."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from pathlib import Path

import numpy as np
import pytest

from rlforecast.model.simulate import BENCHMARKS, TRUE_SLOPE_INF, TRUE_SLOPE_RL, synthetic_design  # noqa: F401

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def simulated():
    """(observations, truth) simulated from the model at known slopes."""
    from rlforecast.model.design import build_design
    from rlforecast.model.simulate import draw_truth, simulate_observations

    df = synthetic_design()
    truth = draw_truth(build_design(df), np.random.default_rng(1), slope_rl=TRUE_SLOPE_RL, slope_inf=TRUE_SLOPE_INF)
    return simulate_observations(df, truth, seed=2), truth


@pytest.fixture(scope="session")
def fitted_run(simulated, tmp_path_factory):
    """Path of a run file fitted (via the CLI) to the simulated data, shared by the model-layer tests."""
    from click.testing import CliRunner

    from rlforecast.cli import main
    from rlforecast.data.build import to_csv_text

    df, _ = simulated
    d = tmp_path_factory.mktemp("fit")
    data = d / "sim.csv"
    data.write_text(to_csv_text(df))
    out = d / "run.nc"
    os.environ["RLFORECAST_CACHE"] = str(d / "cache")
    res = CliRunner().invoke(main, ["fit", "--data", str(data), "--model", str(REPO / "models/baseline.toml"),
                                    "--out", str(out), "--seed", "3", "--draws", "500", "--tune", "500",
                                    "--chains", "2", "--allow-unconverged"])
    assert res.exit_code == 0, res.output
    return out
