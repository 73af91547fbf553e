"""`rlforecast exchange-rate`: slope_rl / slope_inf per benchmark and pooled, beside the essay's claims.

With slopes in logit units per decade of compute, a ratio r means: 10x RL compute buys what 10^r x inference
buys; 10,000x RL buys 10^(4r) x inference; and an inference multiple G taken as one "GPT level" corresponds
to an RL multiple of G^(1/r).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from rlforecast.io import write_text

ESSAY_FILE = Path(__file__).resolve().parents[2] / "data" / "raw" / "essay_evidence.csv"
PROBS = (0.05, 0.5, 0.95)
PRIOR_DRAWS = 20_000
PRIOR_SEED = 0


def essay_claims(path: Path = ESSAY_FILE) -> dict[str, float]:
    """The claims under test: E05 (ratio) and E06 (RL multiple per GPT level)."""
    ev = pd.read_csv(path, dtype=str).set_index("id")
    return {"ratio": float(ev.loc["E05", "value"]), "rl_multiple_gpt_level": float(ev.loc["E06", "value"])}


def _q(x: np.ndarray) -> list[float]:
    return list(np.quantile(x, PROBS))


def rl_variation(df: pd.DataFrame, design) -> pd.Series:
    """Bool per row of ``df``: the row carries RL-compute variation (a non-zero or uncertain relative value),
    i.e. it informs the RL slope directly."""
    staged = design.rl_step_matrix.any(axis=1) if design.rl_steps else np.zeros(len(df), bool)
    return pd.Series((design.rl_fixed != 0) | (design.rl_latent >= 0) | staged, index=df.index)


def contraction(post: np.ndarray, reference: np.ndarray) -> float:
    """1 - var(post) / var(reference): 0 when the posterior is as wide as the reference, 1 when the data pin
    the quantity (Schad, Betancourt and Vasishth 2021, posterior contraction)."""
    return float(1.0 - np.var(post) / np.var(reference))


def prior_log_slopes(spec: dict, n_benchmarks: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Prior draws of (log slope_rl, log ratio) for one benchmark (``benchmark``) and for the pooled row."""
    from rlforecast.model.kernels import population_slopes, prior_population

    rng = np.random.default_rng(PRIOR_SEED)
    pop = prior_population(spec, PRIOR_DRAWS, rng)
    per = population_slopes(pop, spec, max(n_benchmarks, 1), rng)  # (draw, benchmark, axis)
    if spec["model"]["pooling"] == "partial":
        pooled = pop["log_slope_mu"]
    else:  # the pooled row is the geometric mean over benchmarks
        pooled = per.mean(axis=1)
    return {"benchmark": (per[:, 0, 0], per[:, 0, 0] - per[:, 0, 1]), "pooled": (pooled[:, 0], pooled[:, 0] - pooled[:, 1])}


def data_columns(post_rl: np.ndarray, post_ratio: np.ndarray, prior: tuple[np.ndarray, np.ndarray],
                 new_rl: np.ndarray | None) -> dict:
    """How far the data moved a row's slopes: the prior 90% interval of the ratio, the contraction of log
    slope_rl and of the log ratio against the prior, and (benchmarks under partial pooling) of log slope_rl
    against a benchmark without rows of its own under the fitted population (``own_data_rl`` near 0: the
    benchmark's RL slope is the pooled prior in disguise)."""
    prior_rl, prior_ratio = prior
    q05, q95 = np.exp(np.quantile(prior_ratio, [0.05, 0.95]))
    return {"ratio_prior_q05": q05, "ratio_prior_q95": q95,
            "contraction_rl": contraction(np.log(post_rl), prior_rl),
            "contraction_ratio": contraction(np.log(post_ratio), prior_ratio),
            "own_data_rl": np.nan if new_rl is None else contraction(np.log(post_rl), new_rl)}


def exchange_table(run, gpt_level_inference: float = 1000.0) -> pd.DataFrame:
    """One row per benchmark plus ``pooled``: medians and 5/95% quantiles of the derived statements, and how
    much of each the data (rather than the prior) decide."""
    from rlforecast.fit import posterior_arrays, run_inputs
    from rlforecast.model.kernels import population_slopes

    df, spec, design = run_inputs(run)
    post = posterior_arrays(run)
    prior = prior_log_slopes(spec, len(design.benchmarks))
    new_rl = (population_slopes(post, spec, 1, np.random.default_rng(PRIOR_SEED))[:, 0, 0]
              if spec["model"]["pooling"] == "partial" else None)
    essay = essay_claims()
    rl_varies = rl_variation(df, design)
    series = {b: (post["slope_rl"][:, i], post["slope_inf"][:, i]) for i, b in enumerate(design.benchmarks)}
    if "log_slope_sd" in post:
        series["pooled"] = tuple(np.exp(post["log_slope_mu"][:, k]) for k in range(2))
    else:  # no pooling: geometric mean over benchmarks
        series["pooled"] = (np.exp(np.log(post["slope_rl"]).mean(axis=1)), np.exp(np.log(post["slope_inf"]).mean(axis=1)))
    rows = []
    for name, (s_rl, s_inf) in series.items():
        ratio = s_rl / s_inf
        mask = df["benchmark"].eq(name) if name != "pooled" else pd.Series(True, index=df.index)
        with np.errstate(over="ignore"):  # tiny ratios give astronomically large (inf) RL multiples
            stats = {
                "slope_rl": s_rl, "slope_inf": s_inf, "ratio": ratio,
                "inf_multiple_per_10x_rl": 10.0**ratio,
                "inf_multiple_equal_10000x_rl": 10.0 ** (4 * ratio),
                "rl_multiple_per_gpt_level": 10.0 ** (np.log10(gpt_level_inference) / ratio),
            }
        row = {"benchmark": name, "n_obs": int(mask.sum()), "n_obs_rl_varies": int((mask & rl_varies).sum())}
        for key, val in stats.items():
            q05, q50, q95 = _q(val)
            row |= {f"{key}_median": q50, f"{key}_q05": q05, f"{key}_q95": q95}
        row["essay_ratio"] = essay["ratio"]
        row["essay_inf_multiple_per_10x_rl"] = 10.0 ** essay["ratio"]
        row["essay_inf_multiple_equal_10000x_rl"] = 10.0 ** (4 * essay["ratio"])
        row["essay_rl_multiple_per_gpt_level"] = essay["rl_multiple_gpt_level"]
        row["essay_ratio_in_90"] = "yes" if row["ratio_q05"] <= essay["ratio"] <= row["ratio_q95"] else "no"
        row["p_ratio_below_essay"] = float(np.mean(ratio < essay["ratio"]))
        pooled = name == "pooled"
        row |= data_columns(s_rl, ratio, prior["pooled" if pooled else "benchmark"], None if pooled else new_rl)
        rows.append(row)
    return pd.DataFrame(rows)


OWN_DATA_MIN = 0.5  # own_data_rl at which a benchmark's RL slope counts as decided by its own rows


def own_data_summary(table: pd.DataFrame) -> str:
    """One sentence: how many per-benchmark RL slopes their own rows decide, and how far the data moved the
    pooled exchange rate from its prior."""
    per = table[table["benchmark"] != "pooled"]
    pooled = table[table["benchmark"] == "pooled"].iloc[0]
    if per["own_data_rl"].isna().all():
        own = "no pooling: each benchmark's RL slope stands on its own rows and the prior"
    else:
        decided = per.loc[per["own_data_rl"] >= OWN_DATA_MIN, "benchmark"]
        own = (f"RL slopes decided by the benchmark's own rows (own_data_rl >= {OWN_DATA_MIN:g}): {len(decided)} of "
               f"{len(per)}" + (f" ({', '.join(decided)})" if len(decided) else "")
               + "; the others are mostly the pooled prior")
    return (f"{own}. Pooled ratio: prior 90% [{pooled['ratio_prior_q05']:.2g}, {pooled['ratio_prior_q95']:.3g}], "
            f"posterior [{pooled['ratio_q05']:.2g}, {pooled['ratio_q95']:.3g}] "
            f"(contraction {pooled['contraction_ratio']:.2f} on the log scale).")


def exchange_rate_command(fit_path, out_path=None, *, gpt_level_inference=1000.0, allow_unconverged=False,
                          echo=print) -> None:
    from rlforecast.fit import load_run, unconverged_warning

    run = load_run(fit_path, allow_unconverged=allow_unconverged)
    unconverged_warning(run, echo)
    table = exchange_table(run, gpt_level_inference)
    show = table[["benchmark", "n_obs", "n_obs_rl_varies", "ratio_median", "ratio_q05", "ratio_q95",
                  "inf_multiple_per_10x_rl_median", "rl_multiple_per_gpt_level_median", "essay_ratio_in_90",
                  "own_data_rl"]]
    echo(f"exchange rate slope_rl / slope_inf (median, 90% interval); essay (E05) says {table['essay_ratio'][0]:g}")
    echo(show.to_string(index=False, float_format=lambda x: f"{x:.3g}"))
    echo(own_data_summary(table))
    if out_path:
        write_text(out_path, table.to_csv(index=False, lineterminator="\n", float_format="%.6g"))
        echo(f"wrote {out_path}")
