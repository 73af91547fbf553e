"""Simulation-based calibration of the baseline model (Talts et al. 2018).

Draw parameters and data from the prior (joint model), refit each simulated data set with the same compiled
model, and record the rank of each true value among thinned posterior draws. With a calibrated sampler and
model the ranks are uniform; a chi-square test and rank histograms say whether they are.

    python scripts/sbc.py --sims 100 --out outputs/sbc
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import chisquare

REPO = Path(__file__).resolve().parents[1]
# (variable, index into its trailing dims or None): the key estimands
KEY = [("log_slope_mu", 0), ("log_slope_mu", 1), ("exchange_rate_pooled", None), ("slope_rl", 0), ("slope_inf", 0),
       ("exchange_rate", 0), ("family_sd", None), ("ceiling", 0)]
N_RANK = 99  # thinned posterior draws per fit: ranks take values 0..99


def _value(arr: np.ndarray, idx):
    return arr if idx is None else arr[..., idx]


def run_sbc(sims: int, seed: int, draws: int, tune: int) -> tuple[pd.DataFrame, dict]:
    import nutpie
    import pymc as pm

    from rlforecast.fit import compile_nutpie
    from rlforecast.model.build import build_model
    from rlforecast.model.design import build_design
    from rlforecast.model.simulate import synthetic_design
    from rlforecast.model.spec import load_spec

    spec, _ = load_spec(REPO / "models/baseline.toml")
    design = build_design(synthetic_design(n_families=8, measured=False))
    model = build_model(design, spec)
    with model:
        prior = pm.sample_prior_predictive(draws=sims, random_seed=seed)
    t0 = time.perf_counter()
    compiled = compile_nutpie(model)
    compile_s = time.perf_counter() - t0
    names = [f"{v}[{i}]" if i is not None else v for v, i in KEY]
    ranks, diverging = [], []
    t0 = time.perf_counter()
    for s in range(sims):
        counts = prior["prior_predictive"]["correct"].values[0, s]
        post = nutpie.sample(compiled.with_data(correct_count=counts), draws=draws, tune=tune, chains=2, cores=2,
                             seed=seed + s, progress_bar=False, save_warmup=False, target_accept=0.95)
        diverging.append(int(post["sample_stats"]["diverging"].sum()))
        row = []
        for v, i in KEY:
            true = _value(prior["prior"][v].values[0, s], i)
            chain_draws = _value(post["posterior"][v].values, i).reshape(-1)
            thin = chain_draws[np.linspace(0, chain_draws.size - 1, N_RANK).astype(int)]
            row.append(int((thin < true).sum()))
        ranks.append(row)
    table = pd.DataFrame(ranks, columns=names)
    meta = {"sims": sims, "seed": seed, "draws": draws, "tune": tune, "chains": 2, "n_rank": N_RANK,
            "compile_s": round(compile_s, 1), "sampling_s": round(time.perf_counter() - t0, 1),
            "fits_with_divergences": int(np.sum(np.array(diverging) > 0)), "design_rows": len(design.obs_ids)}
    return table, meta


def uniformity(table: pd.DataFrame, bins: int = 10) -> pd.DataFrame:
    rows = []
    for col in table.columns:
        counts = np.histogram(table[col], bins=bins, range=(0, N_RANK + 1))[0]
        rows.append({"parameter": col, "chi2": chisquare(counts).statistic, "p_value": chisquare(counts).pvalue,
                     "mean_rank_scaled": table[col].mean() / N_RANK})
    return pd.DataFrame(rows)


def figure(table: pd.DataFrame, tests: pd.DataFrame, path: Path, bins: int = 10) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy.stats import binom

    from rlforecast.io import atomic_path

    n = len(table)
    lo, hi = binom.ppf([0.005, 0.995], n, 1 / bins)
    cols = 4
    fig, axes = plt.subplots(int(np.ceil(len(table.columns) / cols)), cols, figsize=(13, 5.5), squeeze=False)
    for ax, col in zip(axes.ravel(), table.columns):
        ax.axhspan(lo, hi, color="0.85", label="99% band if uniform")
        ax.hist(table[col], bins=bins, range=(0, N_RANK + 1), color="C0", edgecolor="white")
        p = tests.set_index("parameter").loc[col, "p_value"]
        ax.set_title(f"{col}\nchi-square p = {p:.2f}", fontsize=9)
        ax.set_xlabel("rank of true value")
    for ax in axes.ravel()[len(table.columns):]:
        ax.axis("off")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(f"Simulation-based calibration: rank histograms ({n} simulations)")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, metadata={"Software": None})
    plt.close(fig)


def main(argv=None) -> int:
    from rlforecast.io import write_text

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sims", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--draws", type=int, default=300)
    ap.add_argument("--tune", type=int, default=300)
    ap.add_argument("--out", type=Path, default=REPO / "outputs" / "sbc")
    args = ap.parse_args(argv)
    table, meta = run_sbc(args.sims, args.seed, args.draws, args.tune)
    tests = uniformity(table)
    write_text(args.out / "sbc_ranks.csv", table.to_csv(index=False, lineterminator="\n"))
    write_text(args.out / "sbc_uniformity.csv", tests.to_csv(index=False, lineterminator="\n", float_format="%.4f"))
    write_text(args.out / "sbc_meta.json", json.dumps(meta, indent=2) + "\n")
    figure(table, tests, args.out / "sbc_ranks.png")
    print(json.dumps(meta))
    print(tests.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
