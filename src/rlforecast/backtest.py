"""`rlforecast backtest`: rolling-origin and effort-extrapolation backtests against two naive baselines.

* Rolling origin: fit on rows released before a cutoff, predict the rows released on or after it.
* Effort extrapolation: hide the highest inference setting of every (base model, benchmark, source) sweep,
  fit on the rest, predict the hidden rows.
Metrics per benchmark and overall: coverage of the 50% and 90% predictive intervals, CRPS, and the absolute
error of the predictive median. Baselines: ``best_earlier`` (Binomial at the best earlier score of the
benchmark) and ``logistic_mle`` (per-benchmark logistic regression on log inference compute, maximum
likelihood, no pooling, Binomial item noise).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import expit

from rlforecast.io import write_set

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


def score(draws: np.ndarray, y: np.ndarray) -> pd.DataFrame:
    q = np.quantile(draws, [0.05, 0.25, 0.5, 0.75, 0.95], axis=0)
    return pd.DataFrame({
        "in50": (y >= q[1]) & (y <= q[3]),
        "in90": (y >= q[0]) & (y <= q[4]),
        "crps": crps(draws, y),
        "abs_err_median": np.abs(q[2] - y),
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


def run_split(train, test, spec, spec_text, *, seed, sampler_kwargs) -> pd.DataFrame:
    """Fit on ``train``, predict ``test``; per-row metrics for the model and both baselines."""
    from rlforecast.data.build import to_csv_text
    from rlforecast.fit import fit_observations, provenance
    from rlforecast.model.design import chance_floor
    from rlforecast.predict import predict_draws

    run = fit_observations(train, spec, spec_text, to_csv_text(train).encode(), seed=seed, progressbar=False,
                           **sampler_kwargs)
    model_draws = predict_draws(run, test, seed=seed)[:N_DRAWS]
    x_tr, x_te = baseline_compute(train, test)
    rng = np.random.default_rng(seed)
    floors_tr = np.array([chance_floor(b) for b in train["benchmark"]])
    floors_te = np.array([chance_floor(b) for b in test["benchmark"]])
    y = test["accuracy"].to_numpy(float)
    parts = []
    for name, draws in [("model", model_draws), ("best_earlier", best_earlier(train, test, rng)),
                        ("logistic_mle", logistic_mle(train, test, x_tr, x_te, floors_tr, floors_te, rng))]:
        sc = score(draws, y)
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
    from rlforecast.model.design import select_rows

    used, _ = select_rows(df, spec["model"]["include_non_reasoning"])
    splits = [(f"before {c}", *time_split(used, c)) for c in cutoffs]
    splits.append(("effort extrapolation", *effort_split(used)))
    results = []
    for name, train, test in splits:
        if train.empty or test.empty:
            echo(f"{name}: skipped (train {len(train)}, test {len(test)} rows)")
            continue
        echo(f"{name}: fitting on {len(train)} rows, predicting {len(test)} ...")
        rows = run_split(train.reset_index(drop=True), test.reset_index(drop=True), spec, spec_text, seed=seed,
                         sampler_kwargs=sampler_kwargs)
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
