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
# # 01 · A tour of the observations
#
# What the model is fitted on: one row per (model setting, benchmark) in `data/observations.csv`, built
# deterministically from the public files in `data/raw/` (see `data/README.md` and `data/raw/SOURCES.md`).
# This notebook reads the table through the package's validating reader and answers four questions:
#
# 1. What is measured (benchmarks, sources, row counts)?
# 2. Where is inference compute *known* (tokens per item, dollars per task) and where is it *latent*
#    (only an effort label or a thinking budget)?
# 3. Which model families carry RL-compute contrasts (`rl_log10_rel`), the only rows that inform the RL slope?
# 4. Which rows come from the essay's own evidence (`data/raw/essay_evidence.csv`)?

# %%
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

# Run from the repository root whatever the kernel's working directory (notebooks/ or the root).
ROOT = Path.cwd() if (Path.cwd() / "pyproject.toml").is_file() else Path.cwd().parent
os.chdir(ROOT)

from rlforecast.data.schema import read_observations  # noqa: E402
from rlforecast.model.design import select_rows  # noqa: E402

pd.set_option("display.width", 160)
pd.set_option("display.max_columns", 20)
FIG_DIR = os.environ.get("RLFORECAST_FIG_DIR")  # set by scripts/run_notebooks.py to keep PNGs for review


def show(fig, name):
    """Display a figure; also save it as PNG when RLFORECAST_FIG_DIR is set."""
    if FIG_DIR:
        fig.savefig(Path(FIG_DIR) / f"01_{name}.png", dpi=110, bbox_inches="tight")
    plt.show()


obs = read_observations("data/observations.csv")
print(f"{len(obs)} rows, {obs['benchmark'].nunique()} benchmarks, {obs['family'].nunique()} model families, "
      f"{obs['model_id'].nunique()} model settings")

# %% [markdown]
# ## 1. What is measured
#
# Rows per benchmark and source. `n_items` is the number of questions (AIME has 30, OTIS Mock AIME 45: those
# accuracies are noisy and the Beta-Binomial likelihood says so). `exactness` tells whether a value was
# transcribed from a table or read off a chart.

# %%
src_short = obs["source"].str.split("/").str[0].str.replace("epoch-research__", "epoch:", regex=False)
by_source = pd.crosstab(obs["benchmark"], src_short, margins=True, margins_name="total")
items = obs.groupby("benchmark")["n_items"].agg(lambda s: int(s.mode().iloc[0]))
by_source.insert(0, "n_items", items)
by_source

# %%
pd.crosstab(obs["exactness"], obs["reasoning"].map({"yes": "reasoning model", "no": "non-reasoning model"}),
            margins=True, margins_name="total")

# %% [markdown]
# ## 2. Where inference compute is known, and where it is latent
#
# * **tokens**: Epoch AI's logs give output tokens per item (GPQA Diamond, MATH level 5, OTIS Mock AIME).
# * **$ per task**: ARC Prize reports dollars per task; within one model, cost ratios between effort levels are
#   token ratios (same price list), so ARC calibrates what "low / medium / high" mean.
# * **relative multiple**: the essay's rows (e.g. cons@64 = 64 samples, i.e. +1.8 decades).
# * **latent**: only an effort label (`effort:high`) or a thinking budget (`budget:32000`) is known; the model
#   treats that row's log10 compute as a latent variable with a prior.

# %%
def inference_info(df):
    kind = np.select(
        [df["tokens_per_item"].notna(), df["cost_per_task_usd"].notna(), df["inference_log10_rel"].notna(),
         df["inference_setting"].str.startswith(("effort:", "budget:"))],
        ["tokens per item", "$ per task", "relative multiple", "latent: effort label / budget"],
        default="latent: default setting",
    )
    return pd.Series(kind, index=df.index, name="inference compute")


reasoning = obs[obs["reasoning"] == "yes"]
pd.crosstab(reasoning["benchmark"], inference_info(reasoning), margins=True, margins_name="total")

# %% [markdown]
# ## 3. Which families carry RL-compute contrasts
#
# The RL slope is identified only by rows of one family whose base models differ in RL-training compute,
# `rl_log10_rel` (decades relative to the family's reference model, with a 90% range when uncertain).
# The model keeps a row only if it can place it on both axes: families with several base models but no RL
# value on a row drop that row (listed by `select_rows`).

# %%
rl_rows = obs[obs["rl_log10_rel"].notna()]
rl_table = rl_rows.groupby(["family", "base_model"]).agg(
    rl_log10_rel=("rl_log10_rel", "first"), low=("rl_log10_rel_low", "first"), high=("rl_log10_rel_high", "first"),
    rows=("obs_id", "size"), benchmarks=("benchmark", "nunique"))
rl_table

# %%
used, dropped = select_rows(obs, include_non_reasoning=False)
print(f"baseline model uses {len(used)} of {len(obs)} rows; reasons for leaving rows out:")
pd.Series(dropped).value_counts().rename("rows").to_frame()

# %% [markdown]
# ## 4. The essay's evidence rows
#
# Statements that exist only in the essay or in papers it cites enter as explicit rows (never hidden
# constants): OpenAI's o1 AIME chart endpoints (read off the chart, with reading error), DeepSeek-R1-Zero
# before/after RL, and pass@1 vs cons@64 pairs. The claims under test (E05: ratio 0.5; E06: 10^6x RL per
# "GPT level") are not data: notebook 03 compares the posterior with them.

# %%
essay = obs[obs["source"] == "essay_evidence.csv"]
essay[["obs_id", "benchmark", "model_id", "family", "inference_setting", "accuracy", "accuracy_low",
       "accuracy_high", "rl_log10_rel", "inference_log10_rel", "exactness"]]

# %% [markdown]
# ## Figures
#
# **Effort sweeps with measured tokens:** accuracy against output tokens per item for the reasoning models
# Epoch AI ran at several effort levels (a line joins one model's settings on one benchmark).

# %%
measured = reasoning[reasoning["tokens_per_item"].notna()]
sweeps = measured.groupby(["base_model", "benchmark"]).filter(lambda g: len(g) >= 2)
benches = sorted(sweeps["benchmark"].unique())
models = sorted(sweeps["base_model"].unique())
colors = {m: f"C{i % 10}" for i, m in enumerate(models)}
fig, axes = plt.subplots(1, len(benches), figsize=(4.3 * len(benches), 4.3), sharey=True, squeeze=False)
for ax, bench in zip(axes[0], benches):
    for model, g in sweeps[sweeps["benchmark"] == bench].groupby("base_model"):
        g = g.sort_values("tokens_per_item")
        ax.plot(np.log10(g["tokens_per_item"]), g["accuracy"], "o-", color=colors[model], label=model)
        ax.annotate(g["inference_setting"].iloc[-1].replace("effort:", ""),
                    (np.log10(g["tokens_per_item"].iloc[-1]), g["accuracy"].iloc[-1]),
                    textcoords="offset points", xytext=(3, -10), fontsize=7, color=colors[model])
    ax.set_title(bench)
    ax.set_xlabel("log10 output tokens per item")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
axes[0][0].set_ylabel("accuracy (fraction correct)")
handles = [plt.Line2D([], [], color=colors[m], marker="o", label=m) for m in models]
fig.legend(handles=handles, loc="lower center", ncol=len(models), fontsize=8, title="base model (effort sweep)",
           bbox_to_anchor=(0.5, -0.12))
fig.suptitle("Accuracy vs measured inference compute (Epoch AI logs)")
fig.tight_layout()
show(fig, "token_sweeps")

# %% [markdown]
# **ARC Prize effort sweeps:** score against dollars per task for the six models with the most ARC-AGI-1 settings.
# Within one model, dollar ratios are token ratios (same price list); across models prices differ, so the x
# positions of different models are not directly comparable.

# %%
arc = reasoning[reasoning["cost_per_task_usd"].notna() & reasoning["benchmark"].isin(["arc_agi_1", "arc_agi_2"])]
arc_sweeps = arc.groupby(["base_model", "benchmark"]).filter(lambda g: len(g) >= 3)
top = arc_sweeps[arc_sweeps["benchmark"] == "arc_agi_1"].groupby("base_model").size().nlargest(6).index
fig, axes = plt.subplots(1, 2, figsize=(12, 4.6), sharey=True)
for ax, bench in zip(axes, ["arc_agi_1", "arc_agi_2"]):
    for i, model in enumerate(sorted(top)):
        h = arc_sweeps[(arc_sweeps["base_model"] == model) & (arc_sweeps["benchmark"] == bench)]
        h = h.sort_values("cost_per_task_usd")
        ax.plot(h["cost_per_task_usd"], h["accuracy"], "o-", color=f"C{i}", label=model)
    ax.set_xscale("log")
    ax.set_xlabel("cost per task (USD, log scale)")
    ax.set_title(bench.replace("arc_agi_", "ARC-AGI-") + " (semi-private)")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
axes[0].set_ylabel("score (fraction of tasks solved)")
axes[1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1), title="base model")
fig.suptitle("ARC Prize: score vs inference cost per task, one line per model's effort sweep")
fig.tight_layout()
show(fig, "arc_cost")

# %% [markdown]
# Take-aways: inference compute is measured directly on few benchmarks (tokens on three Epoch benchmarks,
# dollars on ARC); elsewhere it is an effort label whose meaning the model learns from those calibrations.
# RL-compute contrasts come from a handful of families (OpenAI o1 -> o3, DeepSeek V3 -> R1, the o1 chart), so
# the RL slope is much less data-driven than the inference slope: notebook 03 shows where it is borrowed
# from the population.
