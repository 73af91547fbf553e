"""``rlforecast forecast``: posterior x scenarios -> arrival-date tables, figures and provenance.

All computation happens before any file is written; each file is then written atomically, so invalid input
or a failed computation leaves ``out_dir`` untouched.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from rlforecast import __version__
from rlforecast.errors import InputError, Problem
from rlforecast.io import json_default, sha256_file, write_set
from rlforecast.scenarios import figures, tables
from rlforecast.scenarios.propagate import (accuracy_paths, arrival_counts, carried, compute_paths, draw_params,
                                            driver_counts)
from rlforecast.scenarios.spec import Scenario, level_key, load_scenarios, read_thresholds, with_start

DEFAULT_THRESHOLDS = Path(__file__).resolve().parents[3] / "data" / "thresholds.toml"
DEFAULT_REFERENCE = "rl-to-parity"
FAN_DRAWS = 400  # draws (evenly thinned) behind the accuracy fan charts


def scenario_state(run, scenarios: list[Scenario]) -> xr.Dataset:
    """Frontier state per scenario (anchor overrides differ), stacked along ``scenario``; a scenario with other
    progress needs a fit with a progress term."""
    from rlforecast.fit import provenance
    from rlforecast.scenarios.state import frontier_state

    base = frontier_state(run, None)
    known = [str(b) for b in base.benchmark.values]
    problems = [Problem(sc.path, f"benchmark not in the fit (fit has: {', '.join(known)})", key=f"anchor.{b}")
                for sc in scenarios for b in sc.anchors if b not in known]
    if problems:
        raise InputError(problems)
    cache = {(): base}
    for sc in scenarios:
        key = tuple(sorted(sc.anchors.items()))
        if key not in cache:
            try:
                cache[key] = frontier_state(run, dict(key))
            except InputError as err:  # the anchor check knows the key, not the scenario file: name the file
                raise InputError([Problem(sc.path, p.message, row=p.row, column=p.column, key=p.key)
                                  for p in err.problems]) from None
    if "progress_rate" not in base:
        model = provenance(run).get("model_id")
        problems = [Problem(sc.path, f"other progress needs a fit with a progress term across model generations "
                                     f"(e.g. models/progress.toml); this fit's model ({model}) has none",
                            key="other.trend_share") for sc in scenarios if "other.trend_share" in sc.values]
        if problems:
            raise InputError(problems)
    states = [cache[tuple(sorted(sc.anchors.items()))] for sc in scenarios]
    return xr.concat(states, dim=xr.DataArray([sc.name for sc in scenarios], dims="scenario", name="scenario"),
                     data_vars="all", coords="different", compat="equals", join="exact")


def resample(state: xr.Dataset, n: int) -> xr.Dataset:
    """``n`` draws from the posterior, evenly thinned (n < draws) or each repeated (n > draws)."""
    idx = (np.arange(n) * state.sizes["sample"]) // n
    return state.isel(sample=idx).assign_coords(sample=np.arange(n))


def requested_thresholds(levels: dict[str, tuple[float, ...]]) -> xr.DataArray:
    """Bool (benchmark, threshold) over the union of all levels: which pairs the tables report."""
    union = sorted({x for lv in levels.values() for x in lv})
    mask = [[x in lv for x in union] for lv in levels.values()]
    return xr.DataArray(mask, dims=("benchmark", "threshold"),
                        coords={"benchmark": list(levels), "threshold": union})


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def _footer(prov: dict) -> list[str]:
    fit, diag = prov["fit"], prov["fit"].get("diagnostics", {})
    lines = [f"{tables.UNCONVERGED}: sampler diagnostics failed; not for decisions."] if not prov["converged"] else []
    lines += [
        f"Fit: {fit['path']} (sha256 {fit['sha256'][:12]}); model {fit.get('model_id')}, spec {str(fit.get('spec_hash'))[:12]}, "
        f"data {str(fit.get('data_sha256'))[:12]}, git {str(fit.get('git_commit'))[:12]}, sampler {fit.get('sampler')}, "
        f"fit seed {fit.get('seed')}.",
        "Diagnostics: " + ", ".join(f"{k} {v}" for k, v in sorted(diag.items())) + ".",
        *([] if "mixture" not in prov else [
            "Model: stacked mixture of " + ", ".join(f"{v['name']} (weight {v['weight']:.3f}, {v['n_draws']} draws, "
                                                     f"{v['path']}, sha256 {v['sha256'][:12]}"
                                                     + ("" if v["converged"] else f", {tables.UNCONVERGED}") + ")"
                                                     for v in prov["mixture"]["variants"])
            + f"; stacking weights from {prov['mixture']['weights_file']['path']}. Fit and diagnostics above: the "
            "first variant."]),
        f"Forecast: seed {prov['seed']}, {prov['n_draws']} draws ({prov['n_posterior_draws']} posterior), "
        f"grid {prov['start']} to end {prov['horizon']}, rlforecast {prov['package_version']}.",
        "Scenarios: " + "; ".join(f"{s['name']} ({s['path']}, sha256 {s['sha256'][:12]})" for s in prov["scenarios"]) + ".",
        f"Thresholds: {prov['thresholds']['path']} (sha256 {prov['thresholds']['sha256'][:12]}); 'met at the forecast "
        "date': at or below the best accuracy observed on the benchmark.",
        *[f"Threshold {bench} {level}: {x['label']}; source: {x['source']}" + (f" ({x['note']})" if x["note"] else "")
          + "." for bench, per in prov["thresholds"]["sourced"].items() for level, x in per.items()],
        f"Dates are the first month the predicted accuracy reaches the threshold; 'after {prov['horizon']}' "
        "is probability mass not reached by the horizon, never dropped.",
        "'Earlier by X': the median arrival with X switched off after the start (zero growth, or no other "
        "progress) minus the median with every driver, same draws (drivers.csv has every counterfactual).",
    ]
    return lines


@dataclass
class Forecast:
    """Everything ``forecast`` computes before it writes a file (also what ``report`` renders)."""

    run: object  # the fit's DataTree (as returned by ``fit.load_run``)
    scenarios: list[Scenario]
    converged: bool
    levels: dict[str, tuple[float, ...]]  # thresholds per benchmark
    sourced: dict  # {benchmark: {level: SourcedLevel}}: thresholds with a published meaning
    observed: dict  # {benchmark: (accuracy, model id, release date)}: the best result in the fit's data
    requested: xr.DataArray  # bool (benchmark, threshold): which pairs the tables report
    state: xr.Dataset  # frontier state resampled to ``n`` draws, per scenario
    params: xr.Dataset  # scenario path parameters per scenario and draw
    counts: xr.Dataset  # exact arrival histograms (``propagate.arrival_counts``)
    drivers: xr.DataArray  # arrival histograms per driver counterfactual (``propagate.driver_counts``)
    provenance: dict
    start_month: int
    horizon: int
    n_months: int

    @property
    def suffix(self) -> str:
        return "" if self.converged else f" — {tables.UNCONVERGED}"

    def policy_table(self) -> tuple[list[str], list[list[str]]]:
        """(header, rows) of the policy table: median, 80% interval, P(by year), P(not by horizon)."""
        return tables.policy_rows(self.counts, self.requested, self.start_month, self.horizon,
                                  observed=self.observed, sourced=self.sourced, drivers=self.drivers)

    def fan_quantiles(self) -> xr.DataArray:
        """Accuracy quantiles over time (``FAN_DRAWS`` evenly thinned draws): (benchmark, scenario, quantile, time)."""
        n = self.state.sizes["sample"]
        thin = np.unique((np.arange(min(n, FAN_DRAWS)) * n) // min(n, FAN_DRAWS))
        fan = accuracy_paths(self.state.isel(sample=thin), compute_paths(self.params.isel(sample=thin), self.n_months))
        return fan.quantile(list(figures.FAN_QUANTILES), dim="sample")

    def years(self) -> np.ndarray:
        return (self.start_month + np.arange(self.n_months)) / 12

    def cdf_figure(self, bench: str):
        """Arrival-date CDFs of one benchmark: one panel per threshold, one line per scenario."""
        return figures.cdf_plot(self.counts.arrivals.sel(benchmark=bench), self.start_month, self.horizon,
                                self.levels[str(bench)], f"{bench}: arrival dates{self.suffix}")


def compute_forecast(fit_path, scenarios_path, thresholds_path=None, seed=1, param_draws=None, scheduler=None,
                     allow_unconverged=False, command="forecast", start=None, weights_path=None) -> Forecast:
    """Load and check the inputs, propagate the posterior through the scenarios; write nothing.

    ``fit_path``: one run file, or several model variants fitted on the same observations, mixed by the
    stacking weights in ``weights_path`` (``stacking.mix_states``). Scenarios without a ``start`` begin at
    ``start`` if given, else at the fit's forecast date; every benchmark's frontier is carried from its
    anchor's release month to the start (``propagate.carried``)."""
    from rlforecast.compare import load_variants
    from rlforecast.scenarios.stacking import check_same_data, mix_states, read_weights
    from rlforecast.scenarios.state import anchor_lags, best_observed, forecast_date

    scenarios = load_scenarios(scenarios_path)
    if param_draws is not None and param_draws < 1:
        raise InputError.at("--param-draws", f"must be a positive number of draws, got {param_draws}")
    paths = [fit_path] if isinstance(fit_path, (str, Path)) else list(fit_path)
    variants = load_variants(paths, allow_unconverged)
    if len(variants) > 1 and weights_path is None:
        raise InputError.at("--weights", f"{len(variants)} fits are mixed by stacking weights: pass --weights FILE "
                            "(compare --cv K --cv-out DIR writes DIR/cv_models.csv)")
    weights = read_weights(weights_path, {n: v[2] for n, v in variants.items()}) if weights_path is not None else None
    check_same_data(variants)
    primary = next(iter(variants))  # the first fit given: its data, anchors and diagnostics label the tables
    fit_path, run, fit_prov = variants[primary]
    converged = all(bool(prov["diagnostics"]["passed"]) for _, _, prov in variants.values())
    start_from = ("scenario file" if scenarios[0].start is not None else "--start" if start
                  else "forecast date (latest release in the fit's data)")
    scenarios = with_start(scenarios, start or forecast_date(run))
    states = {name: scenario_state(r, scenarios) for name, (_, r, _) in variants.items()}
    state = states[primary]
    thresholds_path = thresholds_path or DEFAULT_THRESHOLDS
    levels, sourced = read_thresholds(thresholds_path, [str(b) for b in state.benchmark.values])
    requested = requested_thresholds(levels)

    n_posterior = max(st.sizes["sample"] for st in states.values())
    n = param_draws or n_posterior
    state = resample(state, n) if weights is None else mix_states(states, weights, n)
    params = draw_params(scenarios, n, seed)
    names = [sc.name for sc in scenarios]
    reference = names.index(DEFAULT_REFERENCE) if DEFAULT_REFERENCE in names else 0
    first = scenarios[0]
    start_month, horizon, n_months = first.start_month, first.horizon, first.n_months
    lags = anchor_lags(state, first.start)
    state = carried(state, params, lags)
    counts = arrival_counts(state, params, requested, n_months, reference=reference, scheduler=scheduler)
    drivers = driver_counts(state, params, requested, n_months, counts.arrivals, scheduler=scheduler)

    prov = {
        "command": command,
        "package_version": __version__,
        "converged": converged,
        "fit": {"path": str(fit_path), "sha256": sha256_file(fit_path), **fit_prov},
        **({"mixture": _mixture_provenance(variants, weights, weights_path, state)} if weights else {}),
        "seed": seed,
        "n_posterior_draws": n_posterior,
        "n_draws": n,
        "start": first.start.isoformat(),
        "start_from": start_from,
        "anchor_lag_years": _lag_table(lags),
        "horizon": horizon,
        "reference_scenario": names[reference],
        "scenarios": [{"name": sc.name, "path": sc.path, "sha256": sha256_file(sc.path),
                       "description": sc.description} for sc in scenarios],
        "thresholds": {"path": str(thresholds_path), "sha256": sha256_file(thresholds_path),
                       "levels": {b: list(lv) for b, lv in levels.items()},
                       "sourced": {b: {level_key(lv): {"label": x.label, "source": x.source, "note": x.note}
                                       for lv, x in per.items()} for b, per in sourced.items()}},
        "quantiles": list(tables.QUANTILES),
    }
    return Forecast(run=run, scenarios=scenarios, converged=converged, levels=levels, sourced=sourced,
                    observed=best_observed(run), requested=requested,
                    state=state, params=params, counts=counts, drivers=drivers, provenance=prov, start_month=start_month,
                    horizon=horizon, n_months=n_months)


def _mixture_provenance(variants: dict, weights: dict, weights_path, state: xr.Dataset) -> dict:
    """Which variants made a mixed forecast: weights (and their file), draws taken, each fit's identity."""
    taken = dict(zip(*np.unique(state.variant.values, return_counts=True)))
    return {"weights_file": {"path": str(weights_path), "sha256": sha256_file(weights_path)},
            "variants": [{"name": name, "weight": weights[name], "n_draws": int(taken.get(name, 0)), "path": path,
                          "sha256": sha256_file(path), "model_id": prov.get("model_id"),
                          "converged": bool(prov["diagnostics"]["passed"])}
                         for name, (path, _, prov) in variants.items()]}


def _lag_table(lags: xr.DataArray) -> dict:
    """{benchmark: years}, or {scenario: {benchmark: years}} when scenarios anchor differently."""
    if "scenario" in lags.dims:
        return {str(sc): _lag_table(lags.sel(scenario=sc, drop=True)) for sc in lags.scenario.values}
    return {str(b): float(v) for b, v in zip(lags.benchmark.values, lags.values)}


def forecast_files(fc: Forecast) -> dict[str, bytes | str]:
    """The ``forecast`` command's output files by name (tables, figures, provenance), in memory."""
    counts, requested, start_month, horizon = fc.counts, fc.requested, fc.start_month, fc.horizon
    prov = fc.provenance
    fan_q = fc.fan_quantiles()
    footer = _footer(prov)
    title = "Capability arrival dates by scenario" + ("" if fc.converged else f" ({tables.UNCONVERGED})")

    files = {
        "arrival_quantiles.csv": tables.csv_text(tables.QUANTILE_COLUMNS,
                                                 tables.quantile_rows(counts, requested, start_month)),
        "arrival_cdf.csv": tables.csv_text(tables.CDF_COLUMNS,
                                           tables.cdf_rows(counts, requested, start_month, horizon)),
        "scenario_diff.csv": tables.csv_text(tables.DIFF_COLUMNS, tables.diff_rows(counts, requested)),
        "drivers.csv": tables.csv_text(tables.DRIVER_COLUMNS, tables.driver_rows(fc.drivers, requested, start_month, horizon)),
    }
    header, rows = fc.policy_table()
    files["policy_table.md"] = tables.markdown(title, header, rows, footer)
    files["policy_table.tex"] = tables.latex(title, header, rows, footer)
    files["policy_table.xlsx"] = tables.xlsx_bytes(title, header, rows, prov)
    years = fc.years()
    for bench in requested.benchmark.values:
        fig = figures.fan_chart(fan_q.sel(benchmark=bench), years, fc.levels[str(bench)],
                                f"{bench}: projected accuracy{fc.suffix}")
        for fmt, data in figures.render(fig).items():
            files[f"fan_{_slug(str(bench))}.{fmt}"] = data
        for fmt, data in figures.render(fc.cdf_figure(bench)).items():
            files[f"cdf_{_slug(str(bench))}.{fmt}"] = data
    prov = dict(prov, files=sorted(files))
    files["provenance.json"] = json.dumps(prov, indent=2, sort_keys=True, default=json_default) + "\n"
    return files


def forecast_command(fit_path, scenarios_path, out_dir, thresholds_path=None, seed=1, param_draws=None,
                     scheduler=None, allow_unconverged=False, start=None, weights_path=None, echo=print):
    """Propagate a fitted posterior (or a stacked mixture of variants) through compute scenarios; write tables,
    figures and provenance."""
    fc = compute_forecast(fit_path, scenarios_path, thresholds_path=thresholds_path, seed=seed,
                          param_draws=param_draws, scheduler=scheduler, allow_unconverged=allow_unconverged,
                          start=start, weights_path=weights_path)
    files = forecast_files(fc)
    write_set(out_dir, files, "forecast")
    header, rows = fc.policy_table()
    _summary(header, rows, fc.levels, echo)
    if not fc.converged:
        echo(f"WARNING: {tables.UNCONVERGED}: sampler diagnostics failed; every output is marked.")
    if "mixture" in fc.provenance:
        echo("stacked mixture: " + ", ".join(f"{v['name']} {v['weight']:.3f}" for v in fc.provenance["mixture"]["variants"]))
    echo(f"wrote {len(files)} files to {out_dir}")


def _summary(header, rows, levels, echo):
    """Median and 80% interval per scenario x benchmark at each benchmark's middle threshold, where it is not
    met at the forecast date."""
    keep = [r for r in rows if float(r[2]) == levels[r[1]][len(levels[r[1]]) // 2] and not r[4].startswith("met")]
    met = sum(r[4].startswith("met") for r in rows)
    cols = [0, 1, 2, 4, 5, next(i for i, h in enumerate(header) if h.startswith("P(not by"))]
    table = [[header[c] for c in cols]] + [[r[c] for c in cols] for r in keep]
    widths = [max(len(row[i]) for row in table) for i in range(len(cols))]
    for row in table:
        echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    if met:
        echo(f"({met} scenario x benchmark x threshold rows are met at the forecast date: see the policy table)")
