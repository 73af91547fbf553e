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
# # 05 · Sensitivity: priors, model variants, scenario parameters
#
# How much do the headline numbers move when we change what we assumed?
#
# 1. **Prior**: refit with a much wider prior on the population mean of the log slopes (`log_slope_mu`).
# 2. **Model variants**: `models/interaction.toml` (RL compute changes the value of longer chains of thought)
#    and `models/no-pooling.toml` (each benchmark alone), compared by the pooled exchange rate and PSIS-LOO.
# 3. **Scenario parameters**: the RL growth rate of the `rl-to-parity` scenario.
# 4. **Uncertainty budget**: how much of the spread of each arrival date comes from the posterior, the
#    scenario parameters, the choice of scenario and the choice of model variant (`rlforecast budget`).
#
# **Smoke mode** (`RLFORECAST_SMOKE=1`, set by `make notebooks`): the baseline run is shared with notebooks 02
# to 04 and the refits are tiny (2 chains x 30 draws after 30 tuning steps). None of these fits is converged, so the comparisons
# below only exercise the code. Run without smoke mode for real comparisons (each refit then takes minutes).

# %%
import dataclasses
import json
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy.stats import norm

ROOT = Path.cwd() if (Path.cwd() / "pyproject.toml").is_file() else Path.cwd().parent
os.chdir(ROOT)

from rlforecast.compare import compare_runs  # noqa: E402
from rlforecast.exchange import essay_claims, exchange_table  # noqa: E402
from rlforecast.fit import fit_command, load_run, provenance, run_inputs  # noqa: E402
from rlforecast.model.spec import load_spec, parse_spec  # noqa: E402
from rlforecast.scenarios import figures, tables  # noqa: E402
from rlforecast.scenarios.budget import ALL, budget_figure, uncertainty_budget  # noqa: E402
from rlforecast.scenarios.forecast import DEFAULT_THRESHOLDS, requested_thresholds, scenario_state  # noqa: E402
from rlforecast.scenarios.propagate import arrival_counts, carried, draw_params  # noqa: E402
from rlforecast.scenarios.spec import load_scenarios, load_thresholds, with_start  # noqa: E402
from rlforecast.scenarios.state import anchor_lags, forecast_date  # noqa: E402

SMOKE = os.environ.get("RLFORECAST_SMOKE") == "1"
SEED = 20251022
SAMPLER = {"draws": 60, "tune": 60, "chains": 2} if SMOKE else {"draws": None, "tune": None, "chains": None}
REFIT_SAMPLER = {"draws": 30, "tune": 30, "chains": 2} if SMOKE else SAMPLER
TAG = "notebook-smoke" if SMOKE else "notebook"
FIG_DIR = os.environ.get("RLFORECAST_FIG_DIR")
Path("runs").mkdir(exist_ok=True)


def quiet(msg):
    if msg.startswith(("reusing", "fitting", "wrote", "WARNING")):
        print(msg)


def fit(model_path, run_path, sampler):
    """Fit (or reuse from the fit cache) and load; smoke fits are allowed to be unconverged."""
    fit_command("data/observations.csv", model_path, run_path, seed=SEED, sampler="nutpie", **sampler,
                allow_unconverged=SMOKE, use_cache=True, echo=quiet)
    return load_run(run_path, allow_unconverged=SMOKE)


def show(fig, name):
    if FIG_DIR:
        fig.savefig(Path(FIG_DIR) / f"05_{name}.png", dpi=110, bbox_inches="tight")
    plt.show()


runs = {"baseline": (Path(f"runs/{TAG}.nc" if SMOKE else "runs/notebook-baseline.nc"))}
baseline = fit("models/baseline.toml", runs["baseline"], SAMPLER)

# %% [markdown]
# ## 1. Prior sensitivity: a wider prior on `log_slope_mu`
#
# The baseline gives both axes the same prior, `log_slope_mu ~ Normal(log 0.7, 1)`, so the pooled exchange
# rate is centred on 1 a priori. Here the spec dict is edited (sigma 1 -> 2, a new model id), written back to
# TOML and validated, and the model refitted: if the pooled ratio barely moves, the data, not the prior, drive it.

# %%
def spec_to_toml(spec: dict) -> str:
    """A spec dict (sections of scalars and inline tables) as TOML text."""
    def value(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + " }"
        return repr(v)
    return "\n".join(f"[{section}]\n" + "".join(f"{k} = {value(v)}\n" for k, v in table.items())
                     for section, table in spec.items())


base_spec, _ = load_spec("models/baseline.toml")
wide = json.loads(json.dumps(base_spec))  # deep copy
wide["model"]["id"] = "baseline-wide-slope-prior"
wide["model"]["description"] = "Baseline with log_slope_mu sigma 2 instead of 1 (prior sensitivity)"
wide["priors"]["log_slope_mu"]["sigma"] = 2.0
text = spec_to_toml(wide)
assert parse_spec(text, "<wide spec>") == wide  # the TOML says exactly what the dict says
wide_path = Path(f"runs/{TAG}-spec-wide-slope-prior.toml")
wide_path.write_text(text)
print(f"log_slope_mu prior: {base_spec['priors']['log_slope_mu']} -> {wide['priors']['log_slope_mu']}")
runs["wide slope prior"] = wide_path

# %% [markdown]
# ## 2. Model variants
#
# Refit the two variants on the same data (same rows, so LOO is comparable).

# %%
runs["interaction"] = Path("models/interaction.toml")
runs["no pooling"] = Path("models/no-pooling.toml")
fitted = {"baseline": baseline}
run_paths = {"baseline": runs["baseline"]}
for name in ("wide slope prior", "interaction", "no pooling"):
    run_paths[name] = Path(f"runs/{TAG}-{name.replace(' ', '-')}.nc")
    fitted[name] = fit(runs[name], run_paths[name], REFIT_SAMPLER)

# %% [markdown]
# ### The pooled exchange rate across fits
#
# For the partially pooled fits the pooled ratio is `exp(log_slope_mu[rl] - log_slope_mu[inf])`; for the
# unpooled fit it is the geometric mean over benchmarks. The prior 90% interval of the pooled ratio (partial
# pooling) follows from `log_slope_mu`: the difference of two independent Normal(m, s) is Normal(0, s sqrt 2).

# %%
claims = essay_claims()
rows = []
for name, r in fitted.items():
    pooled = exchange_table(r).set_index("benchmark").loc["pooled"]
    prov = provenance(r)
    s = run_inputs(r)[1]["priors"]["log_slope_mu"]["sigma"]  # the spec stored in the run file
    rows.append({"fit": name, "model_id": prov["model_id"], "converged": prov["diagnostics"]["passed"],
                 "rhat_max": prov["diagnostics"]["rhat_max"], "ratio_median": pooled.ratio_median,
                 "ratio_q05": pooled.ratio_q05, "ratio_q95": pooled.ratio_q95,
                 "prior_ratio_q05": float(np.exp(norm.ppf(0.05) * s * np.sqrt(2))),
                 "prior_ratio_q95": float(np.exp(norm.ppf(0.95) * s * np.sqrt(2))),
                 "p_ratio_below_essay": pooled.p_ratio_below_essay})
pooled_table = pd.DataFrame(rows)
pooled_table.style.format({c: "{:.3g}" for c in pooled_table.columns if c.startswith(("ratio", "prior", "p_", "rhat"))})

# %%
fig, ax = plt.subplots(figsize=(8, 3.8))
y = np.arange(len(pooled_table))[::-1]
ax.errorbar(pooled_table["ratio_median"], y, xerr=[pooled_table["ratio_median"] - pooled_table["ratio_q05"],
            pooled_table["ratio_q95"] - pooled_table["ratio_median"]], fmt="o", color="C0", capsize=3,
            label="posterior median and 90% interval")
partial = pooled_table["fit"] != "no pooling"
ax.hlines(y[partial] - 0.25, pooled_table["prior_ratio_q05"][partial], pooled_table["prior_ratio_q95"][partial],
          color="0.6", lw=3, label="prior 90% interval")
ax.axvline(claims["ratio"], color="C3", ls="--", lw=1.2, label=f"essay (E05): {claims['ratio']:g}")
ax.set_yticks(y, [f"{f}{'' if c else ' (unconverged)'}" for f, c in zip(pooled_table["fit"], pooled_table["converged"])])
ax.set_xscale("log")
ax.set_xlabel("pooled exchange rate slope_rl / slope_inf (log scale)")
ax.set_title("Pooled exchange rate across priors and model variants" + (" [smoke fits]" if SMOKE else ""))
ax.legend(fontsize=8, loc="lower right")
fig.tight_layout()
show(fig, "pooled_exchange_rate")

# %% [markdown]
# ### PSIS-LOO comparison
#
# Expected log predictive density (higher is better) with its standard error; Pareto-k warnings flag
# observations where the LOO approximation is unreliable (common with few draws and influential rows).

# %%
loo_table, loo_warnings = compare_runs([str(run_paths[n]) for n in fitted])
for w in loo_warnings:
    print("WARNING:", w)
loo_table

# %% [markdown]
# ## 3. Scenario sensitivity: how fast RL compute grows
#
# Variants of `rl-to-parity` with RL compute growing 1x (stalls), 3x, 10x and 30x per year, everything else
# unchanged (including the cap at parity with pre-training compute, after which RL follows training compute).
# All variants share the posterior draws and the draws of every other uncertain parameter, so the differences
# come from RL growth alone.

# %%
# the forecast starts at the fit's forecast date (the month of its latest release), as `rlforecast forecast` does
presets = with_start(load_scenarios("data/scenarios"), forecast_date(baseline))
reference = next(sc for sc in presets if sc.name == "rl-to-parity")
variants = [dataclasses.replace(reference, name=f"RL {g:g}x/yr", values={**reference.values, "rl.growth_per_year": g})
            for g in (1.0, 3.0, 10.0, 30.0)]
state = scenario_state(baseline, variants)
levels = load_thresholds(DEFAULT_THRESHOLDS, [str(b) for b in state.benchmark.values])
requested = requested_thresholds(levels)
params = draw_params(variants, state.sizes["sample"], SEED)
state = carried(state, params, anchor_lags(state, reference.start))  # each frontier carried to the start
counts = arrival_counts(state, params, requested, reference.n_months)
header, policy = tables.policy_rows(counts, requested, reference.start_month, reference.horizon)
policy = pd.DataFrame(policy, columns=header)
BENCH = "frontiermath_private"
policy[policy["benchmark"] == BENCH].style.hide(axis="index")

# %%
fig = figures.cdf_plot(counts.arrivals.sel(benchmark=BENCH), reference.start_month, reference.horizon,
                       levels[BENCH], f"{BENCH}: arrival dates by RL growth rate (rl-to-parity otherwise)"
                       + (" [smoke fit]" if SMOKE else ""))
if FIG_DIR:
    fig.savefig(Path(FIG_DIR) / "05_rl_growth_cdf.png", dpi=110, bbox_inches="tight")
fig

# %% [markdown]
# Reading: if the arrival curves for 3x, 10x and 30x RL growth nearly coincide, the parity cap binds early and
# RL growth matters little beyond it; a large gap between "stalls" and the others measures how much of the
# forecast rests on RL scaling, which the exchange rate (notebook 03) prices at about `r` decades of inference
# per decade of RL.

# %% [markdown]
# ## 4. Uncertainty budget: posterior, scenario parameters, scenario choice, model variant
#
# Every posterior draw of every variant meets every draw of the scenario parameters in every preset, and the
# variance of the arrival year (capped at the horizon) is split exactly into functional-ANOVA terms; the Shapley
# shares give each factor its main effect plus an equal part of each interaction it is in. Variants get equal
# weight; the wide-prior refit is left out here because it is a prior check, not a rival model. This is what
# `rlforecast budget --fit A.nc --fit B.nc ...` writes as `budget.csv` and `budget_*.png`.

# %%
variant_runs = {name: fitted[name] for name in ("baseline", "interaction", "no pooling")}
n_budget = 40 if SMOKE else 300
budget = uncertainty_budget(variant_runs, presets, levels, seed=SEED, posterior_draws=n_budget,
                            param_draws=n_budget)
middle = {b: lv[len(lv) // 2] for b, lv in levels.items()}
pooled = budget[(budget["scenario"] == ALL) & (budget["threshold"] == budget["benchmark"].map(middle))]
shares = ["shapley_posterior", "shapley_scenario_params", "shapley_scenario_choice", "shapley_model"]
pooled[["benchmark", "threshold", "mean_year", "sd_year", "censored_share", *shares]].style.hide(axis="index").format(
    {c: "{:.0%}" for c in shares + ["censored_share"]} | {"mean_year": "{:.1f}", "sd_year": "{:.2f}"}, na_rep="")

# %%
fig = budget_figure(budget, 0.8, " [smoke fits]" if SMOKE else "")
if FIG_DIR:
    fig.savefig(Path(FIG_DIR) / "05_uncertainty_budget.png", dpi=110, bbox_inches="tight")
fig

# %% [markdown]
# Reading: a large posterior share says more data (rows with RL variation, above all) would narrow the date;
# a large scenario share says the date hinges on how fast compute grows, which the model cannot learn from
# benchmark scores; a large model share says the answer depends on how RL and inference are assumed to combine.
# Cells reached at the start (or never) in every draw have no spread and no shares.
