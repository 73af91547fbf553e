"""Shared fixtures: a small simulated dataset in the observations schema, fitted once per session."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rlforecast.data.schema import NAMES

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = {"gpqa_diamond": 198, "otis_mock_aime": 45, "arc_agi_1": 100, "math_level_5": 1324}
EFFORT_DECADES = {"low": -0.35, "medium": 0.0, "high": 0.3}
TRUE_SLOPE_RL = np.array([0.9, 0.5, 0.6, 0.7])  # order of sorted(BENCHMARKS)
TRUE_SLOPE_INF = np.array([1.2, 1.0, 0.8, 1.4])


def synthetic_design(n_families: int = 10, seed: int = 0) -> pd.DataFrame:
    """Observations-schema rows with the real structure: effort sweeps, measured tokens on some rows,
    ARC cost per task, and families whose two base models differ in RL compute (one uncertain)."""
    rng = np.random.default_rng(seed)
    rows = []
    for f in range(n_families):
        family = f"fam{f:02d}"
        bases = [(f"{family}-a", 0.0, None)]
        if f < 4:
            bases.append((f"{family}-b", 1.0 + 0.25 * f, (0.7 + 0.25 * f, 1.3 + 0.25 * f) if f % 2 else None))
        for bench, n in BENCHMARKS.items():
            for base, rl, rng90 in bases:
                scale = rng.normal(0, 0.3)
                for effort, dec in EFFORT_DECADES.items():
                    row = dict.fromkeys(NAMES, "")
                    tokens = 10 ** (3.2 + 0.3 * rl + scale + dec + rng.normal(0, 0.05))
                    row.update(
                        obs_id=f"sim:{base}:{effort}:{bench}", benchmark=bench, n_items=n, accuracy=0.5,
                        model_id=f"{base}_{effort}", base_model=base, family=family, reasoning="yes",
                        inference_setting=f"effort:{effort}", source="sim.csv", locator=f"{base}:{effort}",
                        exactness="exact", release_date="2025-06-01",
                    )
                    if bench == "arc_agi_1":
                        row["cost_per_task_usd"] = tokens * 2e-5
                    elif f % 2 == 0:
                        row["tokens_per_item"] = tokens
                    if len(bases) > 1:
                        row["rl_log10_rel"] = rl
                        if rng90 and rl > 0:
                            row["rl_log10_rel_low"], row["rl_log10_rel_high"] = rng90
                    rows.append(row)
    df = pd.DataFrame(rows, columns=NAMES)
    return df.replace("", np.nan).infer_objects()


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
