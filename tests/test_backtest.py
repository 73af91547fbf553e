"""Backtest metrics and splits."""

from __future__ import annotations

import numpy as np
from scipy.stats import norm

from rlforecast.backtest import crps, effort_split, run_split, score, time_split
from rlforecast.model.spec import load_spec

from conftest import REPO


def test_crps_matches_closed_form_for_a_normal():
    rng = np.random.default_rng(0)
    draws = rng.standard_normal((200_000, 1))
    y = np.array([0.7])
    exact = 0.7 * (2 * norm.cdf(0.7) - 1) + 2 * norm.pdf(0.7) - 1 / np.sqrt(np.pi)
    assert abs(crps(draws, y)[0] - exact) < 3e-3
    np.testing.assert_allclose(crps(np.full((10, 1), 0.3), np.array([0.5])), [0.2])


def test_score_coverage_flags():
    draws = np.linspace(0, 1, 1001)[:, None].repeat(3, axis=1)
    sc = score(draws, np.array([0.5, 0.8, 0.99]))
    assert list(sc["in50"]) == [True, False, False] and list(sc["in90"]) == [True, True, False]


def test_splits_hold_out_the_right_rows(simulated):
    df, _ = simulated
    train, test = effort_split(df)
    assert set(test["inference_setting"]) == {"effort:high"} and len(test) == len(df) / 3
    dated = df.assign(release_date=np.where(df.index % 2, "2025-01-01", "2026-01-01"))
    tr, te = time_split(dated, "2025-06-01")
    assert (tr["release_date"] < "2025-06-01").all() and (te["release_date"] >= "2025-06-01").all()
    assert len(tr) + len(te) == len(df)


def test_effort_extrapolation_backtest_runs_and_model_beats_naive_baseline(simulated):
    df, _ = simulated
    spec, text = load_spec(REPO / "models/baseline.toml")
    train, test = effort_split(df)
    rows = run_split(train.reset_index(drop=True), test.reset_index(drop=True), spec, text, seed=5,
                     sampler_kwargs={"draws": 200, "tune": 200, "chains": 2})
    by = rows.groupby("method")[["in90", "crps"]].mean()
    assert set(by.index) == {"model", "best_earlier", "logistic_mle"}
    assert by.loc["model", "crps"] < by.loc["best_earlier", "crps"]
    assert by.loc["model", "in90"] >= 0.7
