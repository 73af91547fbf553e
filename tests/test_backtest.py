"""Backtest metrics and splits."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from rlforecast.backtest import (LOG_FLOOR, arrival_outcomes, crps, effort_split, run_split, score, score_arrivals,
                                 time_split, trend_histogram)
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
    sc = score(draws, np.array([0.5, 0.8, 0.99]), np.full(3, 1000), np.random.default_rng(0))
    assert list(sc["in50"]) == [True, False, False] and list(sc["in90"]) == [True, True, False]


def test_score_coverage_is_calibrated_for_discrete_outcomes_where_quantile_checks_over_cover():
    rng = np.random.default_rng(3)
    n = np.full(4000, 20)
    p = rng.uniform(0.05, 0.95, size=4000)
    y = rng.binomial(n, p) / n  # outcomes drawn from the forecast itself: calibrated
    draws = rng.binomial(n, p, size=(2000, 4000)) / n
    sc = score(draws, y + 1e-9, n, rng)  # a published share is never exactly k/n in floating point
    assert abs(sc["in50"].mean() - 0.5) < 0.03 and abs(sc["in90"].mean() - 0.9) < 0.02
    q = np.quantile(draws, [0.25, 0.75], axis=0)
    assert ((y >= q[0]) & (y <= q[1])).mean() > 0.6  # the tie-inclusive check the PIT replaces


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


def _rows(spec):
    """Observation-like rows: (benchmark, accuracy, release_date, n_items)."""
    import pandas as pd

    return pd.DataFrame([{"benchmark": b, "accuracy": str(a), "release_date": d, "n_items": n} for b, a, d, n in spec])


def test_arrival_outcomes_score_what_later_rows_show_and_skip_the_unobserved():
    df = _rows([("x", 0.40, "2025-02-01", 100), ("x", 0.55, "2025-08-15", 100), ("x", 0.85, "2025-11-03", 100),
                ("y", 0.30, "2025-03-01", 100), ("z", 0.70, "2025-01-01", 100), ("z", 0.60, "2025-09-01", 100)])
    out = arrival_outcomes(df, "2025-07-01", {"x": (0.5, 0.8, 0.9), "y": (0.5,), "z": (0.5, 0.8)})
    got = {(r.benchmark, r.threshold): (r.reached, r.arrival, r.last) for r in out.itertuples()}
    nov, aug = 2025 * 12 + 10, 2025 * 12 + 7
    assert got == {("x", 0.5): (True, aug, nov), ("x", 0.8): (True, nov, nov), ("x", 0.9): (False, -1, nov),
                   ("z", 0.8): (False, -1, 2025 * 12 + 8)}  # y: no newer row (not observed); z 0.5: met before


def test_arrival_scores_brier_log_pit_and_quantile_flags():
    hist = np.array([0, 2, 2, 2, 2, 2])  # 10 draws: 2 in each of months 1-4, 2 never (months 0..4 + never)
    reached = score_arrivals(hist, True, 100 + 2, start=100, last=103)  # P(by month 3) = 6 / 10
    assert reached["p_reached"] == 0.6 and abs(reached["brier"] - 0.16) < 1e-12
    assert abs(reached["log_score"] + np.log(0.6)) < 1e-12
    assert reached["pit"] == (0.2 + 0.4) / 2 and reached["before_q10"] == 0 and reached["after_q90"] == 0
    missed = score_arrivals(hist, False, -1, start=100, last=103)
    assert abs(missed["brier"] - 0.36) < 1e-12 and np.isnan(missed["pit"])
    assert missed["before_q10"] == 0 and np.isnan(missed["after_q90"])  # q90 "never": a later arrival is either side
    early = score_arrivals(np.array([0, 5, 4, 1, 0, 0]), False, -1, start=100, last=103)  # q90 = month 2
    assert early["after_q90"] == 1 and early["before_q10"] == 0
    never = np.zeros(6, int)
    never[-1] = 1
    persistence = score_arrivals(never, True, 101, start=100, last=103)
    assert persistence["p_reached"] == 0 and persistence["brier"] == 1 and persistence["before_q10"]  # "never"
    assert abs(persistence["log_score"] - (-np.log(LOG_FLOOR))) < 1e-12


def test_the_logistic_trend_baseline_recovers_a_clean_trend():
    """Records on floor 0 + logistic(-1 + 2 t) (t in years from 2025-01), 2,000 items each: the 0.9 threshold
    (logit 2.197) is crossed 1.6 years after 2025-01, i.e. month 19-20 from the start."""
    from scipy.special import expit

    dates = ["2024-01-01", "2024-04-01", "2024-07-01", "2024-10-01", "2025-01-01"]
    t = np.array([-1.0, -0.75, -0.5, -0.25, 0.0])
    df = _rows([("x", round(float(expit(-1 + 2 * ti)), 4), d, 2000) for ti, d in zip(t, dates)])
    hist = trend_histogram(df, "x", 0.9, 0.0, 2025 * 12, 120, np.random.default_rng(0))
    months = np.repeat(np.arange(hist.size), hist)
    assert hist.sum() == 2000 and 18 <= np.median(months) <= 21
    assert trend_histogram(df.iloc[:1], "x", 0.9, 0.0, 2025 * 12, 120, np.random.default_rng(0)) is None


@pytest.mark.slow
def test_arrival_backtest_end_to_end_on_a_small_design(simulated, tmp_path, monkeypatch):
    """Simulated families released a quarter apart: fit before the cutoff, forecast from it with the presets,
    and score every open threshold for the model, persistence and the logistic trend."""
    from rlforecast.backtest import ARRIVAL_COLUMNS, arrival_backtest, summarise_arrivals

    monkeypatch.setenv("RLFORECAST_CACHE", str(tmp_path / "cache"))
    df, _ = simulated
    families = sorted(df["family"].unique())
    quarter = {f: f"{2024 + i // 4}-{3 * (i % 4) + 1:02d}-15" for i, f in enumerate(families)}
    df = df.assign(release_date=df["family"].map(quarter))
    spec, text = load_spec(REPO / "models/baseline.toml")
    thresholds = tmp_path / "thr.toml"
    thresholds.write_text("[default]\nlevels = [0.3, 0.5, 0.7, 0.9]\n")
    cutoff = quarter[families[len(families) // 2]][:8] + "01"
    cells = arrival_backtest(df, spec, text, [cutoff], REPO / "data/scenarios", thresholds, seed=3,
                             sampler_kwargs={"draws": 150, "tune": 150, "chains": 2}, param_draws=200)
    assert list(cells.columns) == list(ARRIVAL_COLUMNS) and len(cells)
    methods = set(cells["method"])
    assert {"persistence", "model:rl-to-parity"} <= methods and len({m for m in methods if m.startswith("model:")}) == 5
    assert cells["brier"].between(0, 1).all() and np.isfinite(cells["log_score"]).all()
    reached = cells[cells["reached"]]
    assert reached["pit"].between(0, 1).all() and cells[~cells["reached"]]["pit"].isna().all()
    summary = summarise_arrivals(cells)
    assert set(summary[summary["benchmark"] == "all"]["method"]) == methods
