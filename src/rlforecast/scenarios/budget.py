"""Uncertainty budget: how much of the spread of each arrival date comes from the posterior, the scenario
parameters, the choice of scenario and the choice of model variant.

Arrivals are computed on a full grid: model variant x posterior draw (nested in the variant) x scenario x
scenario-parameter draw (common random numbers, so the same draw ``j`` in every scenario and variant). The
outcome is the arrival year, with draws not reaching the threshold by the horizon counted at the end of the
horizon (``censored_share`` says how much mass that is). Its variance is split exactly into functional-ANOVA
terms (``kernels.variance_terms``); ``share_*`` columns are main effects, ``share_interactions`` the rest, and
``shapley_*`` columns share every interaction equally between the factors in it (they add up to 1). Variants
get equal weight, or their stacking weights (``--weights``, from ``compare --cv``). Rows per scenario hold the scenario fixed; the ``all scenarios`` rows weight the scenarios
equally and add the scenario choice as a factor.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.figure import Figure

from rlforecast import __version__
from rlforecast.errors import InputError
from rlforecast.io import sha256_file, write_set
from rlforecast.scenarios import kernels
from rlforecast.scenarios.figures import render
from rlforecast.scenarios.propagate import compute_paths, draw_params
from rlforecast.scenarios.spec import Scenario, load_scenarios, load_thresholds, with_start
from rlforecast.scenarios.state import forecast_date

ALL = "all scenarios"
FACTORS = ("model", "posterior", "scenario_choice", "scenario_params")  # grid axes, in this order
NESTED = {1: 0}  # posterior draws are nested in the model variant
COLUMNS = ("scenario", "benchmark", "threshold", "mean_year", "sd_year", "censored_share",
           *(f"share_{f}" for f in FACTORS), "share_interactions", *(f"shapley_{f}" for f in FACTORS))
NO_SPREAD = 1e-12  # years^2: below this the arrival year does not vary (float residue of equal years), no shares
COLORS = {"posterior": "C0", "scenario_params": "C1", "scenario_choice": "C2", "model": "C3"}


def arrival_grid(states: dict[str, xr.Dataset], params: xr.Dataset, requested: xr.DataArray,
                 n_months: int, lags: dict[str, xr.DataArray] | None = None) -> xr.DataArray:
    """First-crossing months on the full grid: int16 dims (model, posterior, scenario, param_draw, benchmark,
    threshold); ``n_months`` = not by the horizon.

    ``states``: per variant a ``scenario_state``-like Dataset over (scenario, sample, benchmark), all with the
    same number of samples; ``params``: ``draw_params`` output over (scenario, sample); ``lags``: per variant
    ``state.anchor_lags`` (years from each anchor to the start, over which the frontier is carried).
    """
    paths = compute_paths(params, n_months)
    thresholds = requested.threshold.values
    out = []
    for name, state in states.items():
        per_scenario = []
        for sc in params.scenario.values:
            st = state.sel(scenario=sc) if "scenario" in state.dims else state
            lag = np.zeros(st.sizes["benchmark"]) if lags is None else (
                lags[name].sel(scenario=sc) if "scenario" in lags[name].dims else lags[name]).values
            eta, a, b, ceiling = (st[v].transpose("sample", "benchmark").values[:, None, :]  # (posterior, 1, bench)
                                  for v in ("eta_anchor", "slope_rl", "slope_inf", "ceiling"))
            growth = [params[g].sel(scenario=sc).values[None, :, None] * lag for g in ("rl_growth", "token_growth")]
            eta = kernels.eta_at(eta, a, b, *growth)  # (posterior, param_draw, bench): carried to the start
            c = None  # other progress, logits per year: (posterior, param_draw, bench)
            if "progress_rate" in st:
                c = (params.trend_share.sel(scenario=sc).values[None, :, None]
                     * st.progress_rate.transpose("sample", "benchmark").values[:, None, :])
                eta = eta + c * lag
            z = kernels.threshold_eta(thresholds, st.floor.values[:, None], ceiling[..., None])
            d_rl = paths.d_rl.sel(scenario=sc).values[None]  # (1, param_draw, time)
            d_inf = paths.d_inf.sel(scenario=sc).values[None]
            months = kernels.first_crossing(eta, a, b, d_rl, d_inf, z, c)
            per_scenario.append(months.astype(np.int16))
        out.append(np.stack(per_scenario, axis=1))  # (posterior, scenario, param_draw, benchmark, threshold)
    first = next(iter(states.values()))
    return xr.DataArray(
        np.stack(out), dims=("model", "posterior", "scenario", "param_draw", "benchmark", "threshold"),
        coords={"model": list(states), "scenario": params.scenario.values,
                "benchmark": first.benchmark.values, "threshold": thresholds},
    )


def budget_table(months: xr.DataArray, requested: xr.DataArray, start_month: int, n_months: int,
                 model_weights: np.ndarray | None = None) -> pd.DataFrame:
    """Variance shares of the (horizon-capped) arrival year per scenario (and all scenarios) x benchmark x
    requested threshold, with the variants weighted by ``model_weights`` (default: equally). Shares are empty
    where the arrival year does not vary (e.g. reached at the start in every draw)."""
    weights = None if model_weights is None else {0: np.asarray(model_weights, dtype=float)}

    def mean_over_factors(x):  # weighted over variants (if weights are given), equal over the other factors
        x = x.mean(axis=tuple(range(1, len(FACTORS))))
        return x.mean(axis=0) if weights is None else np.tensordot(weights[0] / weights[0].sum(), x, axes=1)

    rows = []
    for scenario in [*map(str, months.scenario.values), ALL]:
        grid = months if scenario == ALL else months.sel(scenario=[scenario])
        m = grid.values.astype(float)
        years = (start_month + m) / 12.0
        terms = kernels.variance_terms(years, len(FACTORS), NESTED, weights)
        total = sum(terms.values())
        shapley = kernels.shapley_split(terms)
        zero = np.zeros_like(total)
        with np.errstate(divide="ignore", invalid="ignore"):
            share = {f: np.where(total > NO_SPREAD, terms.get(frozenset({i}), zero) / total, np.nan)
                     for i, f in enumerate(FACTORS)}
            share_sh = {f: np.where(total > NO_SPREAD, shapley.get(i, zero) / total, np.nan) for i, f in enumerate(FACTORS)}
        inter = np.where(total > NO_SPREAD, 1.0 - sum(share.values()), np.nan)
        mean = mean_over_factors(years)
        censored = mean_over_factors((m >= n_months).astype(float))
        for b, bench in enumerate(months.benchmark.values):
            for k, thr in enumerate(months.threshold.values):
                if not requested.sel(benchmark=bench, threshold=thr):
                    continue
                rows.append({"scenario": scenario, "benchmark": str(bench), "threshold": float(thr),
                             "mean_year": mean[b, k], "sd_year": float(np.sqrt(max(total[b, k], 0.0))),
                             "censored_share": censored[b, k],
                             **{f"share_{f}": share[f][b, k] for f in FACTORS},
                             "share_interactions": inter[b, k],
                             **{f"shapley_{f}": share_sh[f][b, k] for f in FACTORS}})
    return pd.DataFrame(rows, columns=list(COLUMNS))


def uncertainty_budget(runs: dict[str, xr.DataTree], scenarios: list[Scenario], levels: dict[str, tuple[float, ...]],
                       *, seed: int, posterior_draws: int = 300, param_draws: int = 300,
                       weights: dict[str, float] | None = None) -> pd.DataFrame:
    """The budget table for fitted variants ``{name: run}`` under ``scenarios`` at thresholds ``levels``; the
    variants weighted by ``weights`` (stacking weights; default equal)."""
    from rlforecast.scenarios.forecast import requested_thresholds, resample, scenario_state
    from rlforecast.scenarios.state import anchor_lags

    states = {name: resample(scenario_state(run, scenarios), posterior_draws) for name, run in runs.items()}
    lags = {name: anchor_lags(st, scenarios[0].start) for name, st in states.items()}
    benches = {name: [str(b) for b in st.benchmark.values] for name, st in states.items()}
    first = next(iter(benches.values()))
    if any(b != first for b in benches.values()):
        raise InputError.at("--fit", "the variants cover different benchmarks: "
                            + "; ".join(f"{k}: {', '.join(v)}" for k, v in benches.items()))
    requested = requested_thresholds(levels)
    params = draw_params(scenarios, param_draws, seed)
    n_months = scenarios[0].n_months
    months = arrival_grid(states, params, requested, n_months, lags)
    return budget_table(months, requested, scenarios[0].start_month, n_months,
                        None if weights is None else np.array([weights[name] for name in runs]))


def budget_figure(table: pd.DataFrame, threshold: float, note: str = "", scenarios: list[str] | None = None,
                  columns: int = 3) -> Figure:
    """Stacked Shapley shares of the arrival-year variance: one panel per scenario (default: every scenario in
    ``table``, ``all scenarios`` last), at most ``columns`` panels per row, one bar per benchmark at
    ``threshold``; beside each bar the standard deviation of the year, or why it has none."""
    sub = table[table["threshold"] == threshold]
    scenarios = scenarios or list(dict.fromkeys(sub["scenario"]))
    benches = sorted(set(sub["benchmark"]))
    n_cols = min(columns, len(scenarios))
    n_rows = -(-len(scenarios) // n_cols)
    fig = Figure(figsize=(max(2.7 * n_cols + 1.9, 5.5), (0.22 * len(benches) + 0.9) * n_rows + 1.2),
                 layout="constrained")
    axes = fig.subplots(n_rows, n_cols, sharex=True, sharey=True, squeeze=False).ravel()
    y = np.arange(len(benches))
    for ax, sc in zip(axes, scenarios):
        rows = sub[sub["scenario"] == sc].set_index("benchmark").reindex(benches)
        left = np.zeros(len(benches))
        for f in ("posterior", "scenario_params", "scenario_choice", "model"):
            width = rows[f"shapley_{f}"].fillna(0).to_numpy()
            ax.barh(y, width, left=left, color=COLORS[f], label=f.replace("_", " "), height=0.75)
            left += width
        for yi, sd, cens in zip(y, rows["sd_year"], rows["censored_share"]):
            label = f"{sd:.1f}y" if sd > 0 else ("never" if cens == 1 else "at start")
            ax.text(1.01, yi, label, va="center", fontsize=6)
        ax.set_title(sc, fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes[len(scenarios):]:
        ax.set_axis_off()
    axes[0].set_xlim(0, 1.2)
    axes[0].set_xticks([0, 0.5, 1])
    axes[0].set_yticks(y, benches)
    axes[0].invert_yaxis()
    for i, ax in enumerate(axes[: len(scenarios)]):
        if i + n_cols >= len(scenarios):  # lowest panel of its column
            ax.set_xlabel("share of variance", fontsize=7)
            ax.xaxis.set_tick_params(labelbottom=True)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=4, fontsize=7, frameon=False)
    fig.suptitle(f"Where the spread of the arrival year comes from\nthreshold {threshold:g}, Shapley shares{note}",
                 fontsize=9)
    return fig


def budget_command(fit_paths, scenarios_path, out_dir, thresholds_path=None, seed=1, posterior_draws=300,
                   param_draws=300, allow_unconverged=False, start=None, weights_path=None, echo=print):
    """``rlforecast budget``: write budget.csv, budget.md, one figure per threshold and provenance.json."""
    from rlforecast.compare import load_variants
    from rlforecast.fit import run_inputs
    from rlforecast.scenarios.forecast import DEFAULT_THRESHOLDS
    from rlforecast.scenarios.stacking import check_same_data, read_weights

    scenarios = load_scenarios(scenarios_path)
    for opt, n in (("--posterior-draws", posterior_draws), ("--param-draws", param_draws)):
        if n < 2:
            raise InputError.at(opt, f"needs at least 2 draws to measure a spread, got {n}")
    variants = load_variants(fit_paths, allow_unconverged)
    runs = {name: run for name, (_, run, _) in variants.items()}
    weights = read_weights(weights_path, {n: v[2] for n, v in variants.items()}) if weights_path is not None else None
    if weights is not None:
        check_same_data(variants)
    scenarios = with_start(scenarios, start or forecast_date(next(iter(runs.values()))))
    fits = [{"name": name, "path": path, "sha256": sha256_file(path), "converged": bool(prov["diagnostics"]["passed"]),
             **({} if weights is None else {"weight": weights[name]})}
            for name, (path, _, prov) in variants.items()]
    thresholds_path = thresholds_path or DEFAULT_THRESHOLDS
    benches = sorted(set(run_inputs(next(iter(runs.values())))[0]["benchmark"]))
    levels = load_thresholds(thresholds_path, benches)
    table = uncertainty_budget(runs, scenarios, levels, seed=seed, posterior_draws=posterior_draws,
                               param_draws=param_draws, weights=weights)
    converged = all(f["converged"] for f in fits)
    files = {"budget.csv": table.to_csv(index=False, float_format="%.6g", lineterminator="\n").encode()}
    files["budget.md"] = _markdown(table, fits, converged).encode()
    for thr in sorted(set(table["threshold"])):
        for fmt, data in render(budget_figure(table, thr)).items():
            files[f"budget_{thr:g}.{fmt}"] = data
    prov = {"command": "budget", "package_version": __version__, "converged": converged, "fits": fits,
            **({} if weights_path is None else {"weights_file": {"path": str(weights_path),
                                                                 "sha256": sha256_file(weights_path)}}),
            "seed": seed, "posterior_draws": posterior_draws, "param_draws": param_draws,
            "scenarios": [{"name": sc.name, "path": sc.path, "sha256": sha256_file(sc.path)} for sc in scenarios],
            "thresholds": {"path": str(thresholds_path), "sha256": sha256_file(thresholds_path)},
            "files": sorted(files)}
    files["provenance.json"] = (json.dumps(prov, indent=2, sort_keys=True) + "\n").encode()
    write_set(out_dir, files, "budget")
    _summary(table, levels, echo)
    if len(runs) == 1:
        echo("note: one model variant, so the model share is 0; pass --fit once per variant to measure it.")
    if not converged:
        echo("WARNING: UNCONVERGED FIT among the inputs; every output is marked.")
    echo(f"wrote {len(files)} files to {out_dir}")


def _markdown(table: pd.DataFrame, fits: list[dict], converged: bool) -> str:
    head = ["scenario", "benchmark", "threshold", "sd (years)", "censored", "posterior", "scenario params",
            "scenario choice", "model"]
    lines = ["# Uncertainty budget of arrival dates", ""]
    if not converged:
        lines += ["**UNCONVERGED FIT: sampler diagnostics failed; not for decisions.**", ""]
    lines += ["Shapley shares of the variance of the arrival year (not reached by the horizon = end of the "
              "horizon).", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in table.itertuples(index=False):
        cells = [r.scenario, r.benchmark, f"{r.threshold:g}", f"{r.sd_year:.2f}", f"{r.censored_share:.0%}",
                 *(_pct(getattr(r, f"shapley_{f}")) for f in ("posterior", "scenario_params", "scenario_choice",
                                                               "model"))]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Fits: " + "; ".join(f"{f['name']} ({f'stacking weight {f['weight']:.3f}, ' if 'weight' in f else ''}"
                                       f"{f['path']}, sha256 {f['sha256'][:12]})" for f in fits) + "."]
    return "\n".join(lines) + "\n"


def _pct(x: float) -> str:
    return "" if not np.isfinite(x) else f"{x:.0%}"


def _summary(table: pd.DataFrame, levels: dict, echo) -> None:
    """The pooled rows at each benchmark's middle threshold."""
    keep = table[(table["scenario"] == ALL)
                 & (table["threshold"] == table["benchmark"].map(lambda b: levels[b][len(levels[b]) // 2]))]
    echo(f"{'benchmark':28} {'thr':>4} {'sd yr':>6} {'cens':>5} {'post':>5} {'params':>6} {'scen':>5} {'model':>5}")
    for r in keep.itertuples(index=False):
        echo(f"{r.benchmark:28} {r.threshold:4g} {r.sd_year:6.2f} {r.censored_share:5.0%} "
             + " ".join(f"{_pct(getattr(r, f'shapley_{f}')):>{w}}" for f, w in
                        (("posterior", 5), ("scenario_params", 6), ("scenario_choice", 5), ("model", 5))))
