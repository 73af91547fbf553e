# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 03 · The RL-vs-inference exchange rate
#
# The key estimand: the ratio of the accuracy slope per decade of RL-training compute to the slope per decade
# of inference compute, `slope_rl / slope_inf`, per benchmark and pooled. A ratio `r` means 10x RL buys what
# `10^r` x inference buys. The essay (Ord 2025) eyeballed **r = 0.5** (claim E05: 10x RL ~ 3x inference) and
# **10^6 x RL per "GPT level"** (claim E06, with a GPT level taken as ~1,000x inference).
#
# This notebook reuses the baseline run of notebook 02 (fitting it first if it is missing). In smoke mode
# (`RLFORECAST_SMOKE=1`) that run is a tiny, **unconverged** fit: the numbers below then only show what the
# notebook computes, not what the data say.

# %%
import os
from pathlib import Path

import arviz_plots as azp
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

ROOT = Path.cwd() if (Path.cwd() / "pyproject.toml").is_file() else Path.cwd().parent
os.chdir(ROOT)

from rlforecast.exchange import essay_claims, exchange_table  # noqa: E402
from rlforecast.fit import fit_command, load_run, posterior_arrays, provenance, run_inputs  # noqa: E402

SMOKE = os.environ.get("RLFORECAST_SMOKE") == "1"
SEED = 20251022
SAMPLER = {"draws": 60, "tune": 60, "chains": 2} if SMOKE else {"draws": None, "tune": None, "chains": None}
RUN_PATH = Path("runs/notebook-smoke.nc" if SMOKE else "runs/notebook-baseline.nc")
FIG_DIR = os.environ.get("RLFORECAST_FIG_DIR")
CI = 0.9


def quiet(msg):
    """Echo only the fit command's status lines (the full diagnostics are in notebook 02)."""
    if msg.startswith(("reusing", "fitting", "wrote", "WARNING")):
        print(msg)


def show(pc_or_fig, name):
    fig = pc_or_fig.viz["figure"].item() if hasattr(pc_or_fig, "viz") else pc_or_fig
    if FIG_DIR:
        fig.savefig(Path(FIG_DIR) / f"03_{name}.png", dpi=110, bbox_inches="tight")
    plt.show()


RUN_PATH.parent.mkdir(exist_ok=True)
fit_command("data/observations.csv", "models/baseline.toml", RUN_PATH, seed=SEED, sampler="nutpie",
            **SAMPLER, allow_unconverged=SMOKE, use_cache=True, echo=quiet)
run = load_run(RUN_PATH, allow_unconverged=SMOKE)
obs, spec, design = run_inputs(run)
converged = provenance(run)["diagnostics"]["passed"]
print("fit converged:", converged, "" if converged else "-> exploratory numbers only")

# %% [markdown]
# ## The table (`rlforecast exchange-rate`)
#
# Medians and 90% intervals. `n_obs_rl_varies` counts a benchmark's observations whose RL compute differs from
# the family reference (fixed or latent `rl_log10_rel`): only those inform that benchmark's RL slope.

# %%
claims = essay_claims()
table = exchange_table(run)
cols = ["benchmark", "n_obs", "n_obs_rl_varies", "ratio_median", "ratio_q05", "ratio_q95", "essay_ratio_in_90",
        "p_ratio_below_essay", "inf_multiple_per_10x_rl_median", "rl_multiple_per_gpt_level_median",
        "rl_multiple_per_gpt_level_q05", "rl_multiple_per_gpt_level_q95"]
print(f"essay: ratio {claims['ratio']:g} (E05); RL multiple per GPT level {claims['rl_multiple_gpt_level']:.0e} (E06)")
table[cols].style.format({c: "{:.3g}" for c in cols[3:] if c != "essay_ratio_in_90"}).format(
    {c: "{:.2g}" for c in cols if c.startswith("rl_multiple")})

# %%
pooled = table.set_index("benchmark").loc["pooled"]
print(f"Pooled exchange rate: {pooled.ratio_median:.2f} (90% interval {pooled.ratio_q05:.2f} to {pooled.ratio_q95:.2f});"
      f" essay {claims['ratio']:g} is {'inside' if pooled.essay_ratio_in_90 == 'yes' else 'outside'} the interval; "
      f"P(ratio < {claims['ratio']:g}) = {pooled.p_ratio_below_essay:.2f}.")
print(f"So 10x RL buys about {pooled.inf_multiple_per_10x_rl_median:.1f}x inference "
      f"(90%: {pooled.inf_multiple_per_10x_rl_q05:.1f} to {pooled.inf_multiple_per_10x_rl_q95:.1f}); essay: ~3x.")
print(f"One GPT level (1,000x inference) takes about {pooled.rl_multiple_per_gpt_level_median:.1e}x RL "
      f"(90%: {pooled.rl_multiple_per_gpt_level_q05:.1e} to {pooled.rl_multiple_per_gpt_level_q95:.1e}); "
      f"essay (E06): {claims['rl_multiple_gpt_level']:.0e}x.")

# %% [markdown]
# ## Forest plot of the per-benchmark ratios
#
# Thick bars are 50% and thin bars 90% equal-tailed intervals, points are medians; the x axis is
# logarithmic (a ratio of slopes). The red dashed line is the essay's 0.5, the grey dotted line is 1 (RL and
# inference decades worth the same). Labels give the number of observations with RL variation.

# %%
n_rl = table.set_index("benchmark")["n_obs_rl_varies"]
labels = [f"{b}  ({n_rl[b]} RL obs)" for b in design.benchmarks]
post = run["posterior"].to_dataset()
ratios = post[["exchange_rate", "exchange_rate_pooled"]].assign_coords(benchmark=labels).rename(
    exchange_rate="per benchmark", exchange_rate_pooled="pooled (population)")
pc = azp.plot_forest(ratios, combined=True, point_estimate="median", ci_kind="eti", ci_probs=[0.5, CI],
                     backend="matplotlib", figure_kwargs={"figsize": (10, 7.5), "layout": "constrained"})
ax = pc.viz["plot"].sel(column="forest").item()
ax.set_xscale("log")
ax.axvline(claims["ratio"], color="C3", ls="--", lw=1.2, label=f"essay (E05): {claims['ratio']:g}")
ax.axvline(1.0, color="0.5", ls=":", lw=1, label="1 (equal value per decade)")
ax.set_xlabel("exchange rate slope_rl / slope_inf (log scale; 10x RL = 10^r x inference)")
ax.legend(loc="lower right", fontsize=8)
pc.viz["figure"].item().suptitle("Exchange rate per benchmark: median, 50% and 90% intervals"
                                 + ("  [smoke fit, not converged]" if SMOKE else ""))
show(pc, "forest")

# %% [markdown]
# ## Where is the RL slope data-driven, and where is it borrowed from the population?
#
# With partial pooling, a benchmark without RL variation still gets an RL slope: a draw from the fitted
# population of benchmarks (shifted by its correlation with the benchmark's inference slope). The table
# compares each benchmark's posterior spread of `log slope_rl` with the population spread `log_slope_sd[rl]`:
# a ratio near 1 (or above) means the data for that benchmark say little beyond the population, a ratio well
# below 1 means its own observations pin the slope down.

# %%
arrays = posterior_arrays(run)
log_rl = arrays["log_slope"][:, :, 0]
honesty = pd.DataFrame({
    "benchmark": design.benchmarks,
    "n_obs": [int(table.set_index("benchmark").loc[b, "n_obs"]) for b in design.benchmarks],
    "n_obs_rl_varies": [int(n_rl[b]) for b in design.benchmarks],
    "families_with_rl_contrast": [
        obs.loc[(obs["benchmark"] == b) & obs["rl_log10_rel"].notna(), "family"].nunique()
        for b in design.benchmarks],
    "sd_log_slope_rl": log_rl.std(axis=0),
})
if "log_slope_sd" in arrays:
    honesty["sd_over_population_sd"] = honesty["sd_log_slope_rl"] / np.median(arrays["log_slope_sd"][:, 0])
honesty["rl_slope_source"] = np.where(honesty["n_obs_rl_varies"] == 0, "population only (no RL data)",
                                      np.where(honesty["n_obs_rl_varies"] < 5, "thin RL data", "own RL data"))
honesty.sort_values("n_obs_rl_varies", ascending=False).style.format(
    {"sd_log_slope_rl": "{:.2f}", "sd_over_population_sd": "{:.2f}"})

# %% [markdown]
# Honest reading: RL-compute variation exists only within a few families (OpenAI o1 -> o3, DeepSeek V3 -> R1,
# the o1 AIME chart), so most benchmarks have a handful of RL-informative observations or none. Their
# individual ratios mostly restate the pooled one; the pooled ratio itself rests on those few families. The
# inference slope, by contrast, is measured on many effort sweeps. Statements like "10x RL = 3x inference"
# should be quoted with the pooled interval, not with a single benchmark's median.
