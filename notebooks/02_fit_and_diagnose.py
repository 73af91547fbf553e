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
# # 02 · Fit the baseline model and diagnose it
#
# Fits `models/baseline.toml` to `data/observations.csv` with the package's own fit command (the same code as
# `rlforecast fit`, including its cache keyed by data, spec and sampler settings), then checks the sampler
# (R-hat, ESS, divergences, energy) and the fit to the data (posterior predictive coverage).
#
# **Smoke mode.** With `RLFORECAST_SMOKE=1` (set by `make notebooks`) the fit is tiny: 2 chains x 60 draws
# after 60 tuning steps. A smoke fit is **not converged**: its R-hat and ESS fail the thresholds, its numbers
# are for checking that the notebook runs, not for reading. Without smoke mode the spec's sampler settings
# (4 chains x 1000 draws) are used and an unconverged fit stops the notebook. The fitted run is written to
# `runs/notebook-smoke.nc` (smoke) or `runs/notebook-baseline.nc` and reused by notebooks 03 to 05.

# %%
import os
from pathlib import Path

import arviz_plots as azp
import arviz_stats as azs
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

ROOT = Path.cwd() if (Path.cwd() / "pyproject.toml").is_file() else Path.cwd().parent
os.chdir(ROOT)  # the fit cache (runs/.cache) and all paths below are relative to the repository root

from rlforecast.fit import (  # noqa: E402
    fit_command, format_diagnostics, load_run, ppc_coverage, provenance, run_inputs)
from rlforecast.predict import predict_rows  # noqa: E402

SMOKE = os.environ.get("RLFORECAST_SMOKE") == "1"
SEED = 20251022
SAMPLER = {"draws": 60, "tune": 60, "chains": 2} if SMOKE else {"draws": None, "tune": None, "chains": None}
RUN_PATH = Path("runs/notebook-smoke.nc" if SMOKE else "runs/notebook-baseline.nc")
FIG_DIR = os.environ.get("RLFORECAST_FIG_DIR")
CI = 0.9  # every interval in this notebook is a 90% interval (ArviZ 1.x would default to 89%)


def show(pc_or_fig, name):
    """Display a matplotlib figure or an arviz-plots PlotCollection; keep a PNG when RLFORECAST_FIG_DIR is set."""
    fig = pc_or_fig.viz["figure"].item() if hasattr(pc_or_fig, "viz") else pc_or_fig
    if FIG_DIR:
        fig.savefig(Path(FIG_DIR) / f"02_{name}.png", dpi=110, bbox_inches="tight")
    plt.show()


print("smoke mode:", SMOKE, "| sampler settings:", SAMPLER, "| run file:", RUN_PATH)

# %%
RUN_PATH.parent.mkdir(exist_ok=True)
fit_command("data/observations.csv", "models/baseline.toml", RUN_PATH, seed=SEED, sampler="nutpie",
            **SAMPLER, allow_unconverged=SMOKE, use_cache=True)
run = load_run(RUN_PATH, allow_unconverged=SMOKE)
obs, spec, design = run_inputs(run)
prov = provenance(run)

# %% [markdown]
# ## Sampler diagnostics
#
# The thresholds come from the spec's `[diagnostics]` section. A run that fails them is marked as failed in
# the run file and refused by `forecast` / `predict` unless explicitly allowed (smoke fits always fail them).

# %%
print(format_diagnostics(prov["diagnostics"], spec["diagnostics"]))
print(f"\n{prov['n_obs_used']} observations used, {len(prov['dropped_rows'])} left out; "
      f"sampling wall time incl. compile {prov['timings_s']['sample_wall_incl_compile']:.0f} s")
if not prov["diagnostics"]["passed"]:
    print("\nWARNING: this fit FAILED its diagnostics" + (" (expected for a smoke fit)" if SMOKE else ""))

# %% [markdown]
# The key parameters: the population mean and spread of the log slopes on each axis (`rl`, `inf`), the
# per-benchmark slopes (logit units per decade of compute) and the pooled exchange rate
# `exp(log_slope_mu[rl] - log_slope_mu[inf])`. Intervals are equal-tailed 90%.

# %%
KEY = ["log_slope_mu", "log_slope_sd", "exchange_rate_pooled"]
summary = azs.summary(run, var_names=KEY + ["slope_rl", "slope_inf"], ci_prob=CI, ci_kind="eti")
summary

# %% [markdown]
# ## Trace and rank plots
#
# Traces should look like stationary, overlapping noise; rank plots (fractional-rank ECDF differences with a
# simultaneous envelope) should stay inside the band for every chain. Per-benchmark slopes are shown for
# three benchmarks with different amounts of RL data.

# %%
SHOW_B = [b for b in ("gpqa_diamond", "arc_agi_1", "swe_bench_verified") if b in design.benchmarks]
coords = {"benchmark": SHOW_B}
pc = azp.plot_trace(run, var_names=KEY + ["slope_rl", "slope_inf"], coords=coords, backend="matplotlib",
                    col_wrap=4, figure_kwargs={"figsize": (14, 9), "layout": "constrained"})
pc.viz["figure"].item().suptitle("Trace plots of the key parameters (one colour per chain; x axis: draw)")
show(pc, "trace")

# %%
pc = azp.plot_rank(run, var_names=KEY + ["slope_rl", "slope_inf"], coords=coords, backend="matplotlib",
                   col_wrap=4, figure_kwargs={"figsize": (14, 9), "layout": "constrained"})
pc.viz["figure"].item().suptitle("Rank ECDF plots (difference from uniform, 99% simultaneous envelope)")
show(pc, "rank")

# %% [markdown]
# ## Energy
#
# The marginal energy distribution and the distribution of energy transitions should be similar; a much
# narrower transition distribution (BFMI below 0.3) means the sampler explores the tails poorly.

# %%
pc = azp.plot_energy(run, backend="matplotlib", figure_kwargs={"figsize": (11, 3.6), "layout": "constrained"})
fig = pc.viz["figure"].item()
fig.suptitle("Energy: marginal vs transition distributions, and BFMI per chain (dashed line: 0.3)")
fig.axes[-1].set_xlabel("energy (centred)")
show(pc, "energy")

# %% [markdown]
# ## Posterior predictive checks
#
# Coverage: the share of observations that fall inside their 50% and 90% posterior predictive intervals of
# the *observed* accuracy (item noise and over-dispersion included). Well-calibrated predictions give about
# 0.5 and 0.9; much lower means the model is overconfident for that benchmark.

# %%
coverage = ppc_coverage(run, seed=SEED)
coverage.style.format({"cover50": "{:.2f}", "cover90": "{:.2f}"})

# %%
pred = predict_rows(run, obs, seed=SEED)
observed = pd.to_numeric(obs["accuracy"]).to_numpy()
inside = (observed >= pred["pred_q05"]) & (observed <= pred["pred_q95"])

fig, (ax, ax2) = plt.subplots(1, 2, figsize=(13, 5.5), gridspec_kw={"width_ratios": [1.2, 1]})
for ok, color, label in ((True, "C0", "inside its 90% interval"), (False, "C3", "outside its 90% interval")):
    m = inside.to_numpy() == ok
    ax.errorbar(pred["pred_q50"][m], observed[m],
                xerr=[pred["pred_q50"][m] - pred["pred_q05"][m], pred["pred_q95"][m] - pred["pred_q50"][m]],
                fmt="o", ms=3, lw=0.6, alpha=0.6, color=color, label=f"{label} ({m.sum()})")
ax.plot([0, 1], [0, 1], color="0.3", lw=0.8, ls="--", label="observed = predicted")
ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="predicted accuracy (median, bar: 90% predictive interval)",
       ylabel="observed accuracy (fraction correct)", title=f"All {len(obs)} fitted observations")
ax.legend(loc="upper left", fontsize=8)
per = coverage[coverage["benchmark"] != "all"].sort_values("cover90")
ax2.barh(per["benchmark"], per["cover90"], color="C0", alpha=0.7, label="90% interval")
ax2.barh(per["benchmark"], per["cover50"], color="C1", alpha=0.7, height=0.4, label="50% interval")
ax2.axvline(0.9, color="C0", ls="--", lw=1)
ax2.axvline(0.5, color="C1", ls="--", lw=1)
for y, n in enumerate(per["n_obs"]):
    ax2.text(1.01, y, f"n={n}", va="center", fontsize=7)
ax2.set(xlim=(0, 1.12), xlabel="share of observations inside their interval (dashed: nominal)")
ax2.set_title("Coverage per benchmark", pad=22)
ax2.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, fontsize=8, frameon=False)
fig.suptitle("Posterior predictive check: observed vs predicted accuracy" + (" (smoke fit, not converged)" if SMOKE else ""))
fig.tight_layout()
show(fig, "ppc")

# %% [markdown]
# Reading the check: points far from the diagonal with short bars are observations the model is confidently
# wrong about; benchmarks whose 90% coverage is well below 0.9 need a closer look (harness differences,
# contamination, or a slope that is not linear in log compute). In smoke mode the intervals come from 120
# unconverged draws and say little.
