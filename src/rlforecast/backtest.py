"""`rlforecast backtest`: rolling-origin and effort-extrapolation backtests against two naive baselines.

* Rolling origin: fit on rows released before a cutoff, predict the rows released on or after it.
* Effort extrapolation: hide the highest inference setting of every (base model, benchmark, source) sweep,
  fit on the rest, predict the hidden rows.
Metrics per benchmark and overall: coverage of the 50% and 90% predictive intervals (from the randomised PIT of
each observed accuracy), CRPS, and the absolute
error of the predictive median. Baselines: ``best_earlier`` (Binomial at the best earlier score of the
benchmark) and ``logistic_mle`` (per-benchmark logistic regression on log inference compute, maximum
likelihood, no pooling, Binomial item noise).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import expit

from rlforecast.errors import InputError, Problem
from rlforecast.io import write_set
from rlforecast.model.kernels import randomised_pit
from rlforecast.scenarios import tables

EFFORT_ORDER = {"none": 0, "minimal": 1, "low": 2, "medium": 3, "default": 3, "high": 4, "xhigh": 5, "max": 6}
N_DRAWS = 2000


def crps(draws: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Sample CRPS per column: E|X - y| - E|X - X'| / 2 (sorted-sample formula, O(S log S))."""
    x = np.sort(draws, axis=0)
    s = x.shape[0]
    term1 = np.abs(x - y).mean(axis=0)
    weights = (2 * np.arange(1, s + 1) - s - 1)[:, None]
    term2 = (weights * x).sum(axis=0) / s**2
    return term1 - term2


def score(draws: np.ndarray, y: np.ndarray, n_items: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    """Per row: inside the central 50% / 90% predictive interval by the randomised PIT of the observed accuracy
    (``kernels.randomised_pit`` on counts: draws and observation rounded to the 1/n_items grid), the CRPS and the
    absolute error of the predictive median. Counting a tie at an interval's end as inside, as quantile checks
    do, over-covers discrete outcomes."""
    n = np.asarray(n_items, float)
    pit = randomised_pit(np.rint(draws * n), np.rint(y * n), rng)
    return pd.DataFrame({
        "pit": pit,
        "in50": np.abs(pit - 0.5) <= 0.25,
        "in90": np.abs(pit - 0.5) <= 0.45,
        "crps": crps(draws, y),
        "abs_err_median": np.abs(np.median(draws, axis=0) - y),
    })


def _binomial_draws(p: np.ndarray, n: np.ndarray, rng) -> np.ndarray:
    p = np.clip(p, 0, 1)
    return rng.binomial(np.broadcast_to(n, (N_DRAWS, len(n))), np.broadcast_to(p, (N_DRAWS, len(p)))) / n


def best_earlier(train: pd.DataFrame, test: pd.DataFrame, rng) -> np.ndarray:
    """Binomial draws at the best earlier score of each benchmark (0.5 if the benchmark is new)."""
    best = train.groupby("benchmark")["accuracy"].max()
    p = test["benchmark"].map(best).fillna(0.5).to_numpy(float)
    return _binomial_draws(p, test["n_items"].to_numpy(int), rng)


def logistic_mle(train: pd.DataFrame, test: pd.DataFrame, x_train, x_test, floors_train, floors_test, rng) -> np.ndarray:
    """Per-benchmark logistic fit of accuracy on x_inf by maximum likelihood (no pooling), Binomial noise."""
    p = np.full(len(test), 0.5)
    k_all = np.rint(train["accuracy"].to_numpy(float) * train["n_items"].to_numpy(float))
    for bench in test["benchmark"].unique():
        tr = (train["benchmark"] == bench).to_numpy()
        te = (test["benchmark"] == bench).to_numpy()
        if tr.sum() == 0:
            continue
        x, k, n, fl = x_train[tr], k_all[tr], train["n_items"].to_numpy(float)[tr], floors_train[tr]

        def nll(theta):
            q = np.clip(fl + (1 - fl) * expit(theta[0] + theta[1] * x), 1e-9, 1 - 1e-9)
            return -(k * np.log(q) + (n - k) * np.log1p(-q)).sum() + 1e-3 * (theta**2).sum()

        theta = minimize(nll, np.zeros(2), method="L-BFGS-B").x
        p[te] = floors_test[te] + (1 - floors_test[te]) * expit(theta[0] + theta[1] * x_test[te])
    return _binomial_draws(p, test["n_items"].to_numpy(int), rng)


def baseline_compute(train: pd.DataFrame, test: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Naive x_inf for the logistic baseline: measured log compute, else the benchmark's median measured
    value in the training rows (0 if none)."""
    from rlforecast.model.design import measured_x

    m_tr, m_te = measured_x(train), measured_x(test)
    center = m_tr.groupby(train["benchmark"]).median()
    fill_tr = train["benchmark"].map(center).fillna(0.0)
    fill_te = test["benchmark"].map(center).fillna(0.0)
    return m_tr.fillna(fill_tr).to_numpy(float), m_te.fillna(fill_te).to_numpy(float)


def _setting_rank(df: pd.DataFrame) -> pd.Series:
    s = df["inference_setting"]
    lab = s.str.extract(r"^effort:(.*)$")[0].map(EFFORT_ORDER)
    budget = pd.to_numeric(s.str.extract(r"^budget:(\d+)$")[0], errors="coerce")
    return lab.fillna(budget / 1e3 + 10 * budget.notna()).fillna(np.log10(pd.to_numeric(df["cost_per_task_usd"])))


def effort_split(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hide the highest setting of every sweep with >= 2 ranked settings."""
    rank = _setting_rank(df)
    group = df["base_model"] + "|" + df["benchmark"] + "|" + df["source"]
    ranked = rank.notna()
    size = ranked.groupby(group).transform("sum")
    top = rank.eq(rank.where(ranked).groupby(group).transform("max")) & (size >= 2)
    return df[~top], df[top]


def time_split(df: pd.DataFrame, cutoff: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    date = df["release_date"].fillna("0000-00-00")  # undated rows (essay evidence) are old
    return df[date < cutoff], df[date >= cutoff]


def run_split(train, test, spec, spec_text, *, seed, sampler_kwargs, label="training rows",
              echo=lambda _: None) -> pd.DataFrame:
    """Fit on ``train`` (through the fit cache), predict ``test``; per-row metrics for the model and both
    baselines."""
    from rlforecast.data.build import to_csv_text
    from rlforecast.fit import fit_cached, provenance
    from rlforecast.model.design import chance_floor
    from rlforecast.predict import predict_draws

    run = fit_cached(train, to_csv_text(train).encode(), spec, spec_text, {"sampler": "nutpie", "seed": seed,
                     **sampler_kwargs}, use_cache=True, label=label, echo=echo)
    model_draws = predict_draws(run, test, seed=seed)[:N_DRAWS]
    x_tr, x_te = baseline_compute(train, test)
    rng = np.random.default_rng(seed)
    floors_tr = np.array([chance_floor(b) for b in train["benchmark"]])
    floors_te = np.array([chance_floor(b) for b in test["benchmark"]])
    y = test["accuracy"].to_numpy(float)
    parts = []
    for name, draws in [("model", model_draws), ("best_earlier", best_earlier(train, test, rng)),
                        ("logistic_mle", logistic_mle(train, test, x_tr, x_te, floors_tr, floors_te, rng))]:
        sc = score(draws, y, test["n_items"].to_numpy(float), rng)
        sc.insert(0, "method", name)
        sc.insert(0, "benchmark", test["benchmark"].to_numpy())
        parts.append(sc)
    out = pd.concat(parts, ignore_index=True)
    out["converged"] = provenance(run)["diagnostics"]["passed"]
    return out


def summarise(rows: pd.DataFrame) -> pd.DataFrame:
    keys = ["split", "method"]
    per = rows.groupby(keys + ["benchmark"]).agg(n=("crps", "size"), cover50=("in50", "mean"), cover90=("in90", "mean"),
                                                 crps=("crps", "mean"), mae_median=("abs_err_median", "mean"))
    overall = rows.groupby(keys).agg(n=("crps", "size"), cover50=("in50", "mean"), cover90=("in90", "mean"),
                                     crps=("crps", "mean"), mae_median=("abs_err_median", "mean"))
    overall["benchmark"] = "all"
    return pd.concat([per.reset_index(), overall.reset_index()], ignore_index=True).sort_values(keys + ["benchmark"])


def backtest(df: pd.DataFrame, spec: dict, spec_text: str, cutoffs: list[str], *, seed: int, sampler_kwargs: dict,
             echo=print) -> pd.DataFrame:
    from rlforecast.model.design import rows_for

    used, _ = rows_for(df, spec)
    splits = [(f"before {c}", *time_split(used, c)) for c in cutoffs]
    splits.append(("effort extrapolation", *effort_split(used)))
    results = []
    for name, train, test in splits:
        if train.empty or test.empty:
            echo(f"{name}: skipped (train {len(train)}, test {len(test)} rows)")
            continue
        echo(f"{name}: fitting on {len(train)} rows, predicting {len(test)} ...")
        rows = run_split(train.reset_index(drop=True), test.reset_index(drop=True), spec, spec_text, seed=seed,
                         sampler_kwargs=sampler_kwargs, label=f"the {name} training rows", echo=echo)
        rows.insert(0, "split", name)
        results.append(rows)
    return summarise(pd.concat(results, ignore_index=True))


def backtest_figure(table: pd.DataFrame) -> bytes:
    """PNG bytes: coverage and CRPS per split and method, all benchmarks."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    overall = table[table["benchmark"] == "all"]
    splits = list(dict.fromkeys(overall["split"]))
    methods = ["model", "logistic_mle", "best_earlier"]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for ax, (col, label, target) in zip(axes, [("cover90", "90% interval coverage", 0.9),
                                               ("cover50", "50% interval coverage", 0.5),
                                               ("crps", "CRPS (lower is better)", None)]):
        width = 0.8 / len(methods)
        for j, m in enumerate(methods):
            vals = [overall[(overall["split"] == s) & (overall["method"] == m)][col].squeeze() for s in splits]
            ax.bar(np.arange(len(splits)) + j * width, vals, width, label=m)
        if target is not None:
            ax.axhline(target, color="k", ls="--", lw=1)
        ax.set_xticks(np.arange(len(splits)) + width, splits, rotation=20, ha="right", fontsize=8)
        ax.set_title(label)
    axes[0].legend(fontsize=8)
    fig.suptitle("Backtests on held-out observations (all benchmarks)")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120, metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def backtest_command(data_path, model_path, out_dir, *, cutoffs, seed, draws, tune, chains, echo=print) -> None:
    from pathlib import Path

    from rlforecast.data.schema import read_observations
    from rlforecast.model.spec import load_spec

    df = read_observations(data_path)
    spec, spec_text = load_spec(model_path)
    kwargs = {"draws": draws, "tune": tune, "chains": chains}
    table = backtest(df, spec, spec_text, cutoffs, seed=seed, sampler_kwargs=kwargs, echo=echo)
    out = Path(out_dir)
    write_set(out, {"backtest.csv": table.to_csv(index=False, lineterminator="\n", float_format="%.4f"),
                    "backtest.png": backtest_figure(table)}, "backtest")
    echo(table[table["benchmark"] == "all"].to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    echo(f"wrote {out / 'backtest.csv'} and {out / 'backtest.png'}")


# ------------------------------------------------------------------------------------- arrival-date backtest
# For each cutoff: fit on the rows released before it, forecast from it with the presets, and score the
# probability of reaching each threshold not met at the cutoff by the last date with data against what the
# later rows show (Brier, log score), and the observed arrival months against the forecast's distribution
# (mid-PIT, shares before its 10% and after its 90% quantile). Baselines in the same table: persistence
# (nothing new is reached: p = 0) and a per-benchmark logistic trend of the frontier over calendar time fitted
# on the same early rows (maximum likelihood, Laplace-approximation draws of its two parameters).

ARRIVAL_COLUMNS = ("split", "method", "benchmark", "threshold", "best_before", "reached", "arrival", "last",
                   "p_reached",
                   "brier", "log_score", "pit", "before_q10", "after_q90", "converged")
TREND_DRAWS = 2000
LOG_FLOOR = 1e-3  # the log score clips probabilities to [LOG_FLOOR, 1 - LOG_FLOOR] (persistence's p = 0 included)


def month_of(date: str) -> int:
    """Absolute month number (year * 12 + month - 1) of a YYYY-MM-DD date."""
    return int(date[:4]) * 12 + int(date[5:7]) - 1


def arrival_outcomes(df: pd.DataFrame, cutoff: str, levels: dict[str, tuple[float, ...]]) -> pd.DataFrame:
    """Per benchmark and threshold not met by the rows released before ``cutoff``: whether a row released from
    the cutoff to the benchmark's last date with data (``last``, a month number) reached it, and the month of
    the first such row (``arrival``; -1 if none). Benchmarks without a row released on or after the cutoff
    are left out: their outcome is not observed."""
    dated = df[df["release_date"].notna()]
    acc = pd.to_numeric(df["accuracy"])
    before = acc[df["release_date"].fillna("0000-00-00") < cutoff].groupby(df["benchmark"]).max()
    rows = []
    for bench, lv in levels.items():
        best = float(before.get(bench, 0.0))
        later = dated[(dated["benchmark"] == bench) & (dated["release_date"] >= cutoff)]
        if later.empty:
            continue
        later_acc = pd.to_numeric(later["accuracy"])
        for thr in lv:
            if thr <= best:
                continue
            hit = later[later_acc >= thr]
            rows.append({"benchmark": bench, "threshold": thr, "best_before": best, "reached": not hit.empty,
                         "arrival": month_of(hit["release_date"].min()) if not hit.empty else -1,
                         "last": month_of(later["release_date"].max())})
    return pd.DataFrame(rows, columns=["benchmark", "threshold", "best_before", "reached", "arrival", "last"])


def score_arrivals(hist: np.ndarray, reached: bool, arrival: int, start: int, last: int) -> dict:
    """Scores of one arrival histogram (months from ``start``; last bin = never) against the outcome by month
    ``last`` (absolute months). ``before_q10`` / ``after_q90``: 1 or 0, or NaN where an arrival after
    ``last`` could fall either side of the quantile. Log score: minus the log probability of the outcome, clipped to
    ``[LOG_FLOOR, 1 - LOG_FLOOR]`` so that a forecast that gave the outcome no draw (or persistence) scores
    -log(LOG_FLOOR) = 6.9 instead of infinity."""
    n = hist.sum()
    cdf = np.cumsum(hist) / n
    m_last = last - start
    p = float(cdf[min(m_last, hist.size - 2)]) if m_last >= 0 else 0.0
    y = float(reached)
    log_score = float(-np.log(np.clip(p if reached else 1.0 - p, LOG_FLOOR, 1 - LOG_FLOOR)))
    q10, q90 = (tables.histogram_quantile(hist, q) for q in (0.1, 0.9))
    out = {"p_reached": p, "brier": (p - y) ** 2, "log_score": log_score, "pit": np.nan}
    if reached:
        m = arrival - start
        out["pit"] = float((cdf[m - 1] if m > 0 else 0.0) + cdf[m]) / 2
        out["before_q10"], out["after_q90"] = float(m < q10), float(m > q90)
    else:  # not reached by the last month (the arrival, if any, is later): known only against quantiles by then
        out["before_q10"] = 0.0 if q10 <= m_last else np.nan
        out["after_q90"] = 1.0 if q90 <= m_last else np.nan
    return out


def trend_histogram(train: pd.DataFrame, bench: str, thr: float, floor: float, start: int, n_months: int,
                    rng) -> np.ndarray | None:
    """Arrival histogram (months from ``start``, last bin = never) of a logistic trend of the benchmark's
    frontier over calendar time: the rows that set a new best score, accuracy = floor + (1 - floor) *
    logistic(a + b * years since the start), Binomial likelihood, maximum likelihood and Laplace draws of
    (a, b). None when fewer than two records with different dates exist."""
    rows = train[(train["benchmark"] == bench) & train["release_date"].notna()].sort_values("release_date")
    acc = pd.to_numeric(rows["accuracy"]).to_numpy(float)
    record = acc > np.maximum.accumulate(np.concatenate([[-1.0], acc[:-1]]))
    rows, acc = rows[record], acc[record]
    t = np.array([(month_of(d) - start) / 12 for d in rows["release_date"]])
    if len(rows) < 2 or np.ptp(t) == 0:
        return None
    n = rows["n_items"].to_numpy(float)
    k = np.rint(acc * n)

    def nll(theta):
        q = np.clip(floor + (1 - floor) * expit(theta[0] + theta[1] * t), 1e-9, 1 - 1e-9)
        return -(k * np.log(q) + (n - k) * np.log1p(-q)).sum()

    fit = minimize(nll, np.zeros(2), method="BFGS")
    w, v = np.linalg.eigh(_hessian(nll, fit.x))
    cov = (v / np.maximum(w, 1e-6)) @ v.T  # flat directions (e.g. records at the ceiling) stay very uncertain
    a, b = rng.multivariate_normal(fit.x, cov, size=TREND_DRAWS, method="eigh").T
    z = np.inf if thr >= 1 else -np.inf if thr <= floor else np.log((thr - floor) / (1 - thr))
    with np.errstate(divide="ignore", invalid="ignore"):
        cross = np.where(b > 0, (z - a) / b, np.where(a >= z, -np.inf, np.inf))  # years from the start
    months = np.clip(np.ceil(np.where(np.isfinite(cross), cross * 12, np.where(cross < 0, 0, n_months))), 0, n_months)
    return np.bincount(months.astype(int), minlength=n_months + 1)


def _hessian(f, x, h=1e-4):
    """Central-difference Hessian of ``f`` at ``x``."""
    n = len(x)
    out = np.empty((n, n))
    for i in range(n):
        for j in range(n):
            e_i, e_j = np.eye(n)[i] * h, np.eye(n)[j] * h
            out[i, j] = (f(x + e_i + e_j) - f(x + e_i - e_j) - f(x - e_i + e_j) + f(x - e_i - e_j)) / (4 * h * h)
    return out


def arrival_split(train, outcomes, run_path, scenarios_path, thresholds_path, cutoff, seed, param_draws):
    """Scores of every preset forecast and both baselines for one cutoff."""
    from rlforecast.model.design import chance_floor
    from rlforecast.scenarios.forecast import compute_forecast
    from rlforecast.scenarios.spec import parse_start

    start = parse_start(cutoff[:8] + "01", "--cutoff")
    fc = compute_forecast(run_path, scenarios_path, thresholds_path=thresholds_path, seed=seed,
                          param_draws=param_draws, allow_unconverged=True, command="backtest", start=start)
    s0, n_months = fc.start_month, fc.n_months
    if s0 + n_months <= int(outcomes["last"].max()):
        raise InputError.at(fc.scenarios[0].path, f"the horizon {fc.horizon} ends before the last date with data: "
                            "the backtest needs forecasts that reach it", key="horizon")
    rng = np.random.default_rng(seed)
    rows = []
    for o in outcomes.itertuples():
        if o.benchmark not in fc.counts.benchmark.values:
            continue
        cell = {"benchmark": o.benchmark, "threshold": o.threshold, "best_before": o.best_before,
                "reached": o.reached, "arrival": o.arrival, "last": o.last}
        last = o.last
        for sc in fc.counts.scenario.values:
            hist = fc.counts.arrivals.sel(scenario=sc, benchmark=o.benchmark, threshold=o.threshold).values
            rows.append({**cell, "method": f"model:{sc}", **score_arrivals(hist, o.reached, o.arrival, s0, last),
                         "converged": fc.converged})
        trend = trend_histogram(train, o.benchmark, o.threshold, chance_floor(o.benchmark), s0, n_months, rng)
        if trend is not None:
            rows.append({**cell, "method": "logistic_trend", **score_arrivals(trend, o.reached, o.arrival, s0, last),
                         "converged": True})
        never = np.zeros(n_months + 1, dtype=int)
        never[-1] = 1
        rows.append({**cell, "method": "persistence", **score_arrivals(never, o.reached, o.arrival, s0, last),
                     "converged": True})
    return pd.DataFrame(rows)


def arrival_backtest(df, spec, spec_text, cutoffs, scenarios_path, thresholds_path, *, seed, sampler_kwargs,
                     param_draws=None, echo=print) -> pd.DataFrame:
    """Per-cell scores over every cutoff (``ARRIVAL_COLUMNS``); fits go through the fit cache."""
    import tempfile
    from pathlib import Path

    from rlforecast.data.build import to_csv_text
    from rlforecast.fit import fit_cached, write_run
    from rlforecast.model.design import rows_for
    from rlforecast.scenarios.forecast import DEFAULT_THRESHOLDS
    from rlforecast.scenarios.spec import read_thresholds

    from rlforecast.scenarios.spec import load_scenarios

    dated = [Problem(sc.path, "a scenario with its own start cannot be backtested: each forecast starts at its "
                              "cutoff (remove `start`)", key="start")
             for sc in load_scenarios(scenarios_path) if sc.start is not None]
    if dated:
        raise InputError(dated)
    used, _ = rows_for(df, spec)
    thresholds_path = thresholds_path or DEFAULT_THRESHOLDS
    levels, _ = read_thresholds(thresholds_path, sorted(set(used["benchmark"])))
    parts = []
    for cutoff in cutoffs:
        train, _ = time_split(used, cutoff)
        outcomes = arrival_outcomes(used, cutoff, levels)
        if train.empty or outcomes.empty:
            echo(f"arrivals before {cutoff}: skipped (train {len(train)} rows, {len(outcomes)} open thresholds)")
            continue
        echo(f"arrivals before {cutoff}: fitting on {len(train)} rows; {len(outcomes)} thresholds open at the "
             f"cutoff, {int(outcomes['reached'].sum())} reached by the last date with data")
        train = train.reset_index(drop=True)
        run = fit_cached(train, to_csv_text(train).encode(), spec, spec_text,
                         {"sampler": "nutpie", "seed": seed, **sampler_kwargs}, use_cache=True,
                         label=f"rows before {cutoff}", echo=echo)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "run.nc"
            write_run(run, path)
            rows = arrival_split(train, outcomes, path, scenarios_path, thresholds_path, cutoff, seed, param_draws)
        rows.insert(0, "split", f"before {cutoff}")
        parts.append(rows)
    if not parts:
        return pd.DataFrame(columns=list(ARRIVAL_COLUMNS))
    return pd.concat(parts, ignore_index=True)[list(ARRIVAL_COLUMNS)]


def summarise_arrivals(cells: pd.DataFrame) -> pd.DataFrame:
    """Per split and method, over all cells and per benchmark: Brier, log score, shares of observed arrivals
    before the 10% / after the 90% quantile (over the cells where that is known)."""
    agg = {"n": ("brier", "size"), "reached": ("reached", "mean"), "p_reached": ("p_reached", "mean"),
           "brier": ("brier", "mean"), "log_score": ("log_score", "mean"), "before_q10": ("before_q10", "mean"),
           "after_q90": ("after_q90", "mean")}
    keys = ["split", "method"]
    per = cells.groupby(keys + ["benchmark"]).agg(**agg).reset_index()
    overall = cells.groupby(keys).agg(**agg).reset_index()
    overall["benchmark"] = "all"
    return pd.concat([overall, per], ignore_index=True)[keys + ["benchmark", *agg]]


def arrivals_figure(cells: pd.DataFrame) -> bytes:
    """PNG bytes: reliability diagram (forecast probability vs observed frequency) and PIT histogram of the
    observed arrival months, per method, all cutoffs together."""
    import io

    from matplotlib.figure import Figure

    methods = sorted(cells["method"].unique(), key=lambda m: (not m.startswith("model:rl-to-parity"), m))
    fig = Figure(figsize=(11, 4))
    ax, bx = fig.subplots(1, 2)
    bins = np.linspace(0, 1, 6)
    for m in methods:
        c = cells[cells["method"] == m]
        idx = np.clip(np.digitize(c["p_reached"], bins[1:-1]), 0, len(bins) - 2)
        mean_p = c.groupby(idx)["p_reached"].mean()
        freq = c.groupby(idx)["reached"].mean()
        ax.plot(mean_p, freq, "o-", label=m, ms=4)
        pit = c["pit"].dropna()
        if len(pit):
            bx.hist(pit, bins=np.linspace(0, 1, 6), histtype="step", label=m)
    ax.plot([0, 1], [0, 1], "k--", lw=1)
    ax.set(xlabel="forecast P(reached by the last date with data)", ylabel="observed frequency",
           title="Reliability (all cutoffs)", xlim=(0, 1), ylim=(0, 1))
    bx.set(xlabel="PIT of the observed arrival month", ylabel="arrivals", title="PIT of observed arrivals")
    ax.legend(fontsize=7)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120, metadata={"Software": None})
    return buf.getvalue()


def arrivals_command(data_path, model_path, out_dir, *, cutoffs, scenarios_path, thresholds_path, seed, draws,
                     tune, chains, param_draws=None, echo=print) -> None:
    """CLI body of ``rlforecast backtest --arrivals``."""
    from pathlib import Path

    from rlforecast.data.schema import read_observations
    from rlforecast.model.spec import load_spec

    df = read_observations(data_path)
    spec, spec_text = load_spec(model_path)
    cells = arrival_backtest(df, spec, spec_text, cutoffs, scenarios_path, thresholds_path, seed=seed,
                             sampler_kwargs={"draws": draws, "tune": tune, "chains": chains},
                             param_draws=param_draws, echo=echo)
    if cells.empty:
        raise InputError.at(data_path, "no cutoff has rows before it and thresholds open at it", key="--cutoff")
    summary = summarise_arrivals(cells)
    out = Path(out_dir)
    write_set(out, {"arrivals.csv": cells.to_csv(index=False, lineterminator="\n", float_format="%.4f"),
                    "arrivals_summary.csv": summary.to_csv(index=False, lineterminator="\n", float_format="%.4f"),
                    "arrivals.png": arrivals_figure(cells)}, "backtest-arrivals")
    echo(summary[summary["benchmark"] == "all"].to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    echo(f"wrote {out / 'arrivals.csv'}, {out / 'arrivals_summary.csv'} and {out / 'arrivals.png'}")
