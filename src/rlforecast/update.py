"""``rlforecast update``: refit with newly published results and show what they changed.

The new rows are appended to the observations stored in the run file (same spec, same sampler settings and
seed unless overridden), the model is refitted (or the cached refit reused), and both posteriors go through
the same scenarios with the same scenario-parameter draws, so the printed shifts of the median arrival dates
come from the new data alone: a new frontier anchor, a moved slope, a moved ceiling.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

from rlforecast.errors import ConvergenceError, InputError, Problem
from rlforecast.io import write_text
from rlforecast.scenarios import tables

DEFAULT_SCENARIOS = Path(__file__).resolve().parents[2] / "data" / "scenarios"
COLUMNS = ("scenario", "benchmark", "threshold", "anchor_before", "anchor_after", "median_before", "median_after",
           "shift_months", "p_by_2030_before", "p_by_2030_after", "p_by_horizon_before", "p_by_horizon_after",
           "p_by_old_median_before", "p_by_old_median_after", "alert")


def combined_observations(old_csv: str, new_path) -> tuple[pd.DataFrame, str, int]:
    """Validated new rows appended to a run's stored observations: (typed table, CSV text, number of new rows).

    New rows must carry new ``obs_id`` values: a repeated id is an error naming the new file's row."""
    from rlforecast.data.build import to_csv_text
    from rlforecast.data.schema import read_observations, typed, validate

    new = read_observations(new_path)
    old = pd.read_csv(io.StringIO(old_csv), dtype=str, keep_default_na=False)
    known = set(old["obs_id"].str.strip())
    problems = [Problem(str(new_path), f"obs_id '{obs_id}' is already in the fit's data; new results need new ids",
                        row=i, column="obs_id") for i, obs_id in enumerate(new["obs_id"], start=2) if obs_id in known]
    if problems:
        raise InputError(problems)
    text = old_csv.rstrip("\n") + "\n" + to_csv_text(new).split("\n", 1)[1]
    cells = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    problems = validate(cells, new_path)
    if problems:  # cannot happen for two valid tables with distinct ids; kept as a guard on the join
        raise InputError(problems)
    return typed(cells), text, len(new)


def median_shifts(before, after, alert_points: float = 10) -> pd.DataFrame:
    """Median arrival (fractional year; NaN = not by the horizon) before and after, with the probability of
    arrival by the end of 2030, by the horizon and by the old median's month, per scenario x benchmark x
    requested threshold present in both forecasts.

    ``alert`` marks the monitoring triggers: one of those three probabilities moved by ``alert_points``
    percentage points or more. Probabilities, not the median itself: where the arrival CDF is flat (mass
    piling up near a ceiling), a refit's Monte Carlo noise alone can move the median by years."""
    rows = []
    for sc, bench, thr in tables.cells(after.counts, after.requested):
        if bench not in before.counts.benchmark.values or thr not in before.counts.threshold.values \
                or not bool(before.requested.sel(benchmark=bench, threshold=thr)):
            continue
        out = {"scenario": sc, "benchmark": bench, "threshold": thr}
        hists = {tag: fc.counts.arrivals.sel(scenario=sc, benchmark=bench, threshold=thr).values
                 for tag, fc in (("before", before), ("after", after))}
        old_median = tables.histogram_quantile(hists["before"], 0.5)
        for tag, fc in (("before", before), ("after", after)):
            hist = hists[tag]
            m = tables.histogram_quantile(hist, 0.5)
            out[f"median_{tag}"] = (fc.start_month + m) / 12 if m < hist.size - 1 else np.nan
            out[f"p_by_2030_{tag}"] = tables.p_by_end_of(hist, 2030, fc.start_month)
            out[f"p_by_horizon_{tag}"] = float(hist[:-1].sum() / hist.sum())
            out[f"p_by_old_median_{tag}"] = (float(hist[: old_median + 1].sum() / hist.sum())
                                             if old_median < hist.size - 1 else np.nan)
            anchors = fc.state.anchor_model
            anchors = anchors.sel(scenario=sc) if "scenario" in anchors.dims else anchors
            out[f"anchor_{tag}"] = str(anchors.sel(benchmark=bench).values)
        shift = 12 * (out["median_after"] - out["median_before"])
        out["shift_months"] = round(shift) if np.isfinite(shift) else np.nan
        moves = [abs(out[f"{p}_after"] - out[f"{p}_before"]) for p in ("p_by_2030", "p_by_horizon", "p_by_old_median")]
        out["alert"] = bool(np.nanmax(moves) >= alert_points / 100 - 1e-12)  # exact 10-point moves count
        rows.append(out)
    return pd.DataFrame(rows, columns=list(COLUMNS))


def _year(x: float) -> str:
    if not np.isfinite(x):
        return "not by horizon"
    month = int(round(x * 12))
    return f"{month // 12}-{month % 12 + 1:02d}"


def format_shifts(table: pd.DataFrame) -> str:
    """Readable table, alerts first, then the largest median moves; cells that did not move are counted."""
    moved = table[(table["shift_months"].fillna(0) != 0) | (table["median_before"].isna() != table["median_after"].isna())
                  | (table["anchor_before"] != table["anchor_after"])
                  | ((table["p_by_2030_after"] - table["p_by_2030_before"]).abs() >= 0.01)]
    order = moved.assign(key=-moved["shift_months"].abs().fillna(10_000), quiet=~moved["alert"]).sort_values(
        ["quiet", "key", "scenario", "benchmark", "threshold"])
    lines = [f"{'':5} {'scenario':22} {'benchmark':26} {'thr':>4}  {'median before':>14} -> {'after':<14} "
             f"{'shift':>6}  {'P(2030)':>12}  {'P(old median)':>13}  anchor"]
    for r in order.itertuples(index=False):
        shift = "" if not np.isfinite(r.shift_months) else f"{int(r.shift_months):+d} mo"
        old = "" if not np.isfinite(r.p_by_old_median_after) else \
            f"{r.p_by_old_median_before:4.0%} -> {r.p_by_old_median_after:4.0%}"
        anchor = r.anchor_after if r.anchor_after == r.anchor_before else f"{r.anchor_before} -> {r.anchor_after}"
        lines.append(f"{'ALERT' if r.alert else '':5} {r.scenario:22} {r.benchmark:26} {r.threshold:4g}  "
                     f"{_year(r.median_before):>14} -> {_year(r.median_after):<14} {shift:>6}  "
                     f"{r.p_by_2030_before:4.0%} -> {r.p_by_2030_after:4.0%}  {old:>13}  {anchor}")
    lines.append(f"{len(table) - len(moved)} of {len(table)} scenario x benchmark x threshold cells did not move "
                 "(same median month, same anchor, P(2030) within 1 point).")
    lines.append(f"{int(table['alert'].sum())} alert(s): the probability of arrival by 2030, by the horizon or by the "
                 "old median date moved by the alert threshold (--alert-points) or more.")
    return "\n".join(lines)


def update_command(fit_path, new_path, out_fit, scenarios_path=None, *, out_path=None, thresholds_path=None, seed=1,
                   param_draws=None, sampler=None, draws=None, tune=None, chains=None, allow_unconverged=False,
                   use_cache=True, alert_points=10, start=None, echo=print) -> pd.DataFrame:
    """Refit ``fit_path``'s model on its data plus ``new_path``'s rows into ``out_fit``; print (and with
    ``out_path`` write) how each median arrival date moved under ``scenarios_path``."""
    from rlforecast.fit import check_and_write, fit_cached, load_run, provenance
    from rlforecast.model.spec import parse_spec
    from rlforecast.scenarios.forecast import DEFAULT_THRESHOLDS, compute_forecast
    from rlforecast.scenarios.spec import load_scenarios, load_thresholds

    if param_draws is not None and param_draws < 1:
        raise InputError.at("--param-draws", f"must be a positive number of draws, got {param_draws}")
    if not 0 < alert_points <= 100:
        raise InputError.at("--alert-points", f"must be a number of percentage points in (0, 100], got {alert_points}")
    old = load_run(fit_path, allow_unconverged=allow_unconverged)
    prov = provenance(old)
    if not prov["diagnostics"]["passed"] and not allow_unconverged:
        raise ConvergenceError(f"{fit_path}: the fit failed its sampler diagnostics; refit it, or pass "
                               "--allow-unconverged (the comparison is then marked).")
    df, text, n_new = combined_observations(old.attrs["observations_csv"], new_path)
    scenarios_path = scenarios_path or DEFAULT_SCENARIOS
    scenarios = load_scenarios(scenarios_path)  # checked before the long refit
    load_thresholds(thresholds_path or DEFAULT_THRESHOLDS, sorted(set(df["benchmark"])))
    spec_text = old.attrs["spec_toml"]
    spec = parse_spec(spec_text, f"{fit_path} (stored spec)")
    settings = {"sampler": sampler or prov["sampler"]["sampler"], "draws": draws or prov["sampler"]["draws"],
                "tune": tune or prov["sampler"]["tune"], "chains": chains or prov["sampler"]["chains"],
                "seed": prov["seed"]}
    run = fit_cached(df, text.encode("utf-8"), spec, spec_text, settings, use_cache=use_cache,
                     label=f"{fit_path} data + {n_new} rows of {new_path}", echo=echo)
    check_and_write(run, spec, out_fit, allow_unconverged, echo)

    from rlforecast.scenarios.state import forecast_date

    # both forecasts start at the refit's forecast date: one time grid, the old frontier carried to it
    kwargs = {"thresholds_path": thresholds_path, "seed": seed, "param_draws": param_draws,
              "allow_unconverged": allow_unconverged, "command": "update", "start": start or forecast_date(run)}
    before = compute_forecast(fit_path, scenarios_path, **kwargs)
    after = compute_forecast(out_fit, scenarios_path, **kwargs)
    table = median_shifts(before, after, alert_points)
    echo(f"median arrival dates, {fit_path} -> {out_fit} (+{n_new} rows; same scenarios {', '.join(s.name for s in scenarios)} "
         f"and scenario draws, seed {seed}):")
    echo(format_shifts(table))
    if not (before.converged and after.converged):
        echo(f"WARNING: {tables.UNCONVERGED}: a fit failed its sampler diagnostics; these shifts are not for decisions.")
    if out_path is not None:
        write_text(out_path, table.to_csv(index=False, float_format="%.6g", lineterminator="\n"))
        echo(f"wrote {out_path}")
    return table
