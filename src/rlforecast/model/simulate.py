"""Simulate observations from the model at known parameters (parameter recovery, calibration checks)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from rlforecast.data.schema import NAMES
from rlforecast.model.design import Design, build_design
from rlforecast.model.kernels import derived_anchors, observed_accuracy_draws, row_parameters


def draw_truth(d: Design, rng: np.random.Generator, *, slope_rl: np.ndarray, slope_inf: np.ndarray) -> dict:
    """A plausible parameter set (leading sample axis of size 1) with the given per-benchmark slopes."""
    nb, nf, nc = len(d.benchmarks), len(d.families), len(d.cells)
    fam = rng.normal(0, 1, nf)
    truth = {
        "slope_rl": np.asarray(slope_rl, float)[None],
        "slope_inf": np.asarray(slope_inf, float)[None],
        "benchmark_intercept": rng.normal(0, 1.0, nb)[None],
        "family_sd": np.array([0.8]),
        "cell_sd": np.array([0.3]),
        "family_z": (fam - fam.mean())[None],
        "ceiling": (d.floor_by_benchmark + (1 - d.floor_by_benchmark) * rng.uniform(0.9, 0.99, nb))[None],
        "log_concentration": np.full((1, nb), np.log(300.0)),
        "rl_rel": d.rl_latent_mu[None].copy(),
        "inf_rel": d.inf_rel_mu[None].copy(),
        "effort_offset": np.array([{"low": -0.35, "high": 0.3, "minimal": -0.8, "xhigh": 0.5}.get(lab, 0.1)
                                   for lab in d.effort_labels])[None],
        "budget_elasticity": np.array([0.6]),
    }
    cell_z = rng.normal(0, 1, nc)
    truth["alpha"] = (truth["benchmark_intercept"][:, d.cell_benchmark]
                      + truth["family_sd"][:, None] * truth["family_z"][:, d.cell_family]
                      + truth["cell_sd"][:, None] * cell_z[None])
    latent = d.anchor_mu + 0.3 * rng.standard_normal(len(d.anchors) - d.n_derived)
    derived = derived_anchors(d, truth["effort_offset"], truth["budget_elasticity"])
    truth["anchor"] = np.concatenate([derived, latent[None]], axis=1)
    return truth


def simulate_observations(df: pd.DataFrame, truth: dict, seed: int) -> pd.DataFrame:
    """``df`` with ``accuracy`` replaced by a draw from the model at ``truth`` (same design, items, compute)."""
    d = build_design(df)
    rng = np.random.default_rng(seed)
    spec = {"model": {"pooling": "partial"}, "priors": {}}
    params = row_parameters(truth, d, spec, rng)
    acc = observed_accuracy_draws(params, d.n, rng)[0]
    out = df.copy()
    out["accuracy"] = acc
    out[["accuracy_low", "accuracy_high"]] = np.nan
    return out


# A small synthetic design with the real structure, for tests, SBC and notebooks.
BENCHMARKS = {"gpqa_diamond": 198, "otis_mock_aime": 45, "arc_agi_1": 100, "math_level_5": 1324}
EFFORT_DECADES = {"low": -0.35, "medium": 0.0, "high": 0.3}
TRUE_SLOPE_RL = np.array([0.9, 0.5, 0.6, 0.7])  # order of sorted(BENCHMARKS)
TRUE_SLOPE_INF = np.array([1.2, 1.0, 0.8, 1.4])


def synthetic_design(n_families: int = 10, seed: int = 0, measured: bool = True) -> pd.DataFrame:
    """Observations-schema rows with the real structure: effort sweeps, measured tokens on some rows,
    ARC cost per task, and families whose two base models differ in RL compute (one uncertain).
    ``measured=False`` leaves inference compute latent everywhere (no calibration term: used by SBC, whose
    prior draws must come from the full joint model)."""
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
                    if measured and bench == "arc_agi_1":
                        row["cost_per_task_usd"] = tokens * 2e-5
                    elif measured and f % 2 == 0:
                        row["tokens_per_item"] = tokens
                    if len(bases) > 1:
                        row["rl_log10_rel"] = rl
                        if rng90 and rl > 0:
                            row["rl_log10_rel_low"], row["rl_log10_rel_high"] = rng90
                    rows.append(row)
    df = pd.DataFrame(rows, columns=NAMES)
    return df.replace("", np.nan).infer_objects()
