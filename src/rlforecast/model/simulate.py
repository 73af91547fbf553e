"""Simulate observations from the model at known parameters (parameter recovery, calibration checks)."""

from __future__ import annotations

import numpy as np
import pandas as pd

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
