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
# # 04 · Scenarios: when are capability thresholds reached?
#
# Runs the `forecast` command (the same code as `rlforecast forecast`) on the baseline run and the five preset
# scenarios in `data/scenarios/`: each scenario describes, month by month from the forecast date (the month of
# the fit's latest release) to the end of 2040, frontier RL-training compute and inference compute per task,
# with uncertain growth rates and caps. Every scenario uses the same posterior draws and the same parameter
# draws (common random numbers), so differences between scenarios are differences per draw.
#
# Outputs go to a temporary folder (set `OUT` to keep them). In smoke mode (`RLFORECAST_SMOKE=1`) the fit is
# tiny and **unconverged**: every table and figure is then marked "UNCONVERGED FIT" and is not for reading.

# %%
import os
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import Image, Markdown, display

ROOT = Path.cwd() if (Path.cwd() / "pyproject.toml").is_file() else Path.cwd().parent
os.chdir(ROOT)

from rlforecast.fit import fit_command, load_run  # noqa: E402
from rlforecast.scenarios.forecast import forecast_command  # noqa: E402
from rlforecast.scenarios.spec import load_scenarios, with_start  # noqa: E402
from rlforecast.scenarios.state import forecast_date  # noqa: E402

SMOKE = os.environ.get("RLFORECAST_SMOKE") == "1"
SEED = 20251022
SAMPLER = {"draws": 60, "tune": 60, "chains": 2} if SMOKE else {"draws": None, "tune": None, "chains": None}
RUN_PATH = Path("runs/notebook-smoke.nc" if SMOKE else "runs/notebook-baseline.nc")
FIG_DIR = os.environ.get("RLFORECAST_FIG_DIR")
OUT = Path(tempfile.mkdtemp(prefix="rlforecast-scenarios-"))


def quiet(msg):
    if msg.startswith(("reusing", "fitting", "wrote", "WARNING")):
        print(msg)


RUN_PATH.parent.mkdir(exist_ok=True)
fit_command("data/observations.csv", "models/baseline.toml", RUN_PATH, seed=SEED, sampler="nutpie",
            **SAMPLER, allow_unconverged=SMOKE, use_cache=True, echo=quiet)
run = load_run(RUN_PATH, allow_unconverged=SMOKE)

# %% [markdown]
# ## The scenarios

# %%
scenarios = with_start(load_scenarios("data/scenarios"), forecast_date(run))  # presets start at the forecast date
pd.DataFrame([{"scenario": sc.name, "description": sc.description, "start": sc.start, "horizon": sc.horizon,
               "RL growth (x/yr)": sc.values.get("rl.growth_per_year"),
               "tokens growth (x/yr)": sc.values.get("inference.tokens_growth_per_year")}
              for sc in scenarios]).style.hide(axis="index")

# %% [markdown]
# ## Run the forecast
#
# `forecast_command` prints the median and 80% interval at each benchmark's middle threshold and writes the
# contract tables (`arrival_quantiles.csv`, `arrival_cdf.csv`), the scenario differences, the policy table
# (Markdown, LaTeX, XLSX), fan and CDF figures and `provenance.json` into `OUT`.

# %%
forecast_command(RUN_PATH, "data/scenarios", OUT, seed=SEED, allow_unconverged=SMOKE, echo=lambda m: None)
print(f"wrote {len(list(OUT.iterdir()))} files to {OUT}")

# %% [markdown]
# ## The policy table
#
# One row per scenario, benchmark and threshold: median arrival month, 80% interval, probability of arrival by
# the end of 2027 / 2030 / 2035, and `P(not by 2040)`, the probability that the threshold is **not** reached by
# the horizon. Shown here for three benchmarks at different distances from today's frontier.

# %%
policy = pd.read_excel(OUT / "policy_table.xlsx", sheet_name="policy", header=1)
SHOW = ["frontiermath_private", "swe_bench_verified", "simpleqa"]
policy[policy["benchmark"].isin(SHOW)].sort_values(["benchmark", "threshold", "scenario"]).style.hide(axis="index")

# %% [markdown]
# ## Censored mass: "not by the horizon"
#
# For a posterior draw whose predicted accuracy never reaches the threshold by December 2040 (or whose
# learned ceiling lies below it), there is no arrival date. Those draws are **kept** as probability mass
# "after 2040": the CDF then levels off below 1, quantiles that fall into that mass are reported as
# "after 2040" (empty `year` in `arrival_quantiles.csv`), and no fake date is invented. Dropping them would
# make forecasts look earlier and more certain than the model says. The table below is the censored mass per
# scenario for the displayed benchmarks, read from `arrival_cdf.csv` as `1 - p_reached` at the horizon.

# %%
cdf = pd.read_csv(OUT / "arrival_cdf.csv")
last = cdf[cdf["year"] == cdf["year"].max()]
censored = last.assign(p_not_by_horizon=1 - last["p_reached"])
censored[censored["benchmark"].isin(SHOW)].pivot_table(
    index=["benchmark", "threshold"], columns="scenario", values="p_not_by_horizon").style.format("{:.0%}")

# %% [markdown]
# ## Figures
#
# **Fan chart**: projected accuracy over time (median, 50% and 90% bands), one panel per scenario, dashed lines
# at the thresholds. **CDF plot**: probability that each threshold has been reached by a date, one line per
# scenario; the text box lists each scenario's censored mass (not reached by 2040).
# A threshold the anchor model already exceeds is reached in the first month: its curves jump to 1 at the
# start (hidden behind the text box when all scenarios coincide).

# %%
for bench in ["frontiermath_private", "swe_bench_verified"]:
    for kind in ("fan", "cdf"):
        png = OUT / f"{kind}_{bench}.png"
        display(Markdown(f"**{png.name}**"))
        display(Image(filename=str(png)))
        if FIG_DIR:
            (Path(FIG_DIR) / f"04_{png.name}").write_bytes(png.read_bytes())

# %% [markdown]
# ## Scenario differences, draw by draw
#
# `scenario_diff.csv` compares each scenario with the reference `rl-to-parity` per draw: the probability the
# threshold arrives earlier / at the same month / later, and the median difference in years where both arrive.

# %%
diff = pd.read_csv(OUT / "scenario_diff.csv")
diff[diff["benchmark"].isin(SHOW)].round(3)

# %%
plt.close("all")
print("outputs kept in", OUT)
