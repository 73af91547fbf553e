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


def exchange_table(run, gpt_level_inference: float = 1000.0) -> pd.DataFrame:
    """One row per benchmark plus ``pooled``: medians and 5/95% quantiles of the derived statements."""
    from rlforecast.fit import posterior_arrays, run_inputs

    df, _, design = run_inputs(run)
    post = posterior_arrays(run)
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
        rows.append(row)
    return pd.DataFrame(rows)


def exchange_rate_command(fit_path, out_path=None, *, gpt_level_inference=1000.0, allow_unconverged=False,
                          echo=print) -> None:
    from rlforecast.fit import load_run, unconverged_warning

    run = load_run(fit_path, allow_unconverged=allow_unconverged)
    unconverged_warning(run, echo)
    table = exchange_table(run, gpt_level_inference)
    show = table[["benchmark", "n_obs", "n_obs_rl_varies", "ratio_median", "ratio_q05", "ratio_q95",
                  "inf_multiple_per_10x_rl_median", "rl_multiple_per_gpt_level_median", "essay_ratio_in_90"]]
    echo(f"exchange rate slope_rl / slope_inf (median, 90% interval); essay (E05) says {table['essay_ratio'][0]:g}")
    echo(show.to_string(index=False, float_format=lambda x: f"{x:.3g}"))
    if out_path:
        write_text(out_path, table.to_csv(index=False, lineterminator="\n", float_format="%.6g"))
        echo(f"wrote {out_path}")
