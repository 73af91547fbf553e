"""``rlforecast explore``: one self-contained HTML page where a reader changes scenario parameters and sees the
arrival dates recomputed in the browser (no server, no network).

The page embeds a thinned, draw-coherent sample of exactly what ``rlforecast forecast`` propagates: per model
variant (one run file each) the frontier state at each benchmark's anchor (``eta_anchor``, slopes, ceiling;
floor and the anchor's lag to the start), and the common random numbers of every scenario parameter (uniforms
and their normal scores). ``explorer.js`` mirrors ``scenarios.spec`` (distributions, path coefficients),
``scenarios.kernels`` (paths, carry to the start, first crossings) and ``scenarios.tables`` (quantiles, P(by
year)) on those numbers, so a preset's table in the page is the ``forecast`` table on the same draws
(``--param-draws`` = the page's draws, same ``--seed``). Figures are Bokeh with its JavaScript inlined.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import json
import re
from importlib.resources import files

import numpy as np
from scipy.special import ndtri

from rlforecast import __version__
from rlforecast.errors import InputError
from rlforecast.io import sha256_file, write_text
from rlforecast.scenarios import tables
from rlforecast.scenarios.spec import (
    DISTS,
    PARAMS,
    REQUIRED,
    TOGETHER,
    Z90,
    common_uniforms,
    load_scenarios,
    read_thresholds,
    with_start,
)

DEFAULT_DRAWS = 500
CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data: blob:; "
       "base-uri 'none'; form-action 'none'")
# slider span per parameter, log10 of the natural unit (every parameter is positive)
SPANS = {
    "rl.growth_per_year": (0, 2), "training.growth_per_year": (0, 2), "inference.tokens_growth_per_year": (0, 2),
    "inference.price_decline_per_year": (0, 2), "inference.budget_growth_per_year": (0, 2),
    "rl.ratio_today": (-3, 1), "rl.max_ratio": (-2, 2), "training.flop_today": (24, 31), "training.max_flop": (24, 31),
    "inference.max_tokens_multiple": (0, 6), "inference.budget_usd_per_task": (-2, 4),
    "inference.cost_usd_per_task_today": (-3, 3),
    "other.trend_share": (0, 2),  # linear: 0 = no other progress, 1 = the fitted trend continues
}
LINEAR = {"other.trend_share"}
OTHER_KEYS = ("other.trend_share",)
LABELS = {
    "rl.growth_per_year": "RL-training compute growth",
    "rl.ratio_today": "RL / pre-training compute today",
    "rl.max_ratio": "RL cap: at most this multiple of pre-training",
    "training.growth_per_year": "Pre-training compute growth",
    "training.flop_today": "Largest training run today",
    "training.max_flop": "Largest feasible training run",
    "inference.tokens_growth_per_year": "Inference tokens per task: growth",
    "inference.max_tokens_multiple": "Tokens per task cap (multiple of today's)",
    "inference.budget_usd_per_task": "Budget per task",
    "inference.cost_usd_per_task_today": "Cost per task today",
    "inference.price_decline_per_year": "Cost per token falls",
    "inference.budget_growth_per_year": "Budget per task grows",
    "other.trend_share": "Share of the fitted trend across model generations that continues",
}
GROUPS = (  # fieldsets of the page: (title, keys, optional); optional groups are switched on and off as a whole
    ("RL-training compute", ("rl.growth_per_year",), False),
    ("RL cap at a multiple of pre-training compute", TOGETHER[0], True),
    ("Training-run ceiling (binds the RL cap)", TOGETHER[1], True),
    ("Inference compute per task", ("inference.tokens_growth_per_year",), False),
    ("Tokens per task cap", ("inference.max_tokens_multiple",), True),
    ("Dollar budget per task", TOGETHER[2], True),
    ("Budget growth (with a budget)", ("inference.budget_growth_per_year",), True),
    ("Other progress: new model generations (fits with a progress term)", OTHER_KEYS, True),
)


def _f64(x) -> str:
    """Little-endian float64 bytes, base64: exact numbers, a third of the size of decimal JSON."""
    return base64.b64encode(np.ascontiguousarray(x, dtype="<f8").tobytes()).decode("ascii")


def _state(run, scenarios):
    """One run file's frontier states per scenario, all posterior draws (offered presets with other progress
    need a progress fit, and the state depends on the anchors only)."""
    from rlforecast.scenarios.forecast import scenario_state

    compute_only = [dataclasses.replace(sc, values={k: v for k, v in sc.values.items() if k not in OTHER_KEYS})
                    for sc in scenarios]
    return scenario_state(run, compute_only)


def _variant(name, fit, sha256, converged, diagnostics, state, best, scenarios, start) -> dict:
    """What the page needs of one variant: its frontier states (one per distinct set of scenario anchors)."""
    from rlforecast.scenarios.state import anchor_lags

    lags = anchor_lags(state, start)
    keys = [json.dumps(sorted(sc.anchors.items())) for sc in scenarios]
    states, index = [], {}
    for i, key in enumerate(keys):
        if key in index:
            continue
        index[key] = len(states)
        s = state.isel(scenario=i)
        lag = lags.isel(scenario=i) if "scenario" in lags.dims else lags
        states.append({
            **{v: _f64(s[v].transpose("benchmark", "sample").values)
               for v in ("eta_anchor", "slope_rl", "slope_inf", "ceiling", "progress_rate") if v in s},
            "lag": [float(v) for v in lag.values],
            "anchor_model": [str(v) for v in s.anchor_model.values],
            "anchor_date": [str(v) for v in s.anchor_date.values],
        })
    benchmarks = [str(b) for b in state.benchmark.values]
    return {
        "name": name,
        "fit": fit,
        "sha256": sha256,
        "converged": converged,
        "progress": "progress_rate" in state,
        "diagnostics": diagnostics,
        "benchmarks": benchmarks,
        "floor": [float(v) for v in state.floor.isel(scenario=0).values],
        "best_accuracy": [best[b][0] for b in benchmarks],
        "best_model": [best[b][1] for b in benchmarks],
        "best_date": [best[b][2] for b in benchmarks],
        "states": states,
        "preset_state": [index[k] for k in keys],
    }


def _mixture(loaded, states, weights_path, scenarios, start, n) -> dict:
    """The stacked mixture of the fits as one more variant, the same draws as ``forecast --param-draws n``
    (``stacking.mix_states``); it offers other progress only when every variant has a progress term."""
    from rlforecast.scenarios.stacking import check_same_data, mix_states, read_weights
    from rlforecast.scenarios.state import best_observed

    names = list(loaded)
    first_run = next(iter(loaded.values()))[1]
    provs = [prov for _, _, prov in loaded.values()]
    weights = read_weights(weights_path, dict(zip(names, provs)))
    check_same_data(loaded)
    mixed = mix_states(dict(zip(names, states)), weights, n)
    if not all("progress_rate" in st for st in states):
        mixed = mixed.drop_vars("progress_rate", errors="ignore")
    return _variant("stacked mixture (" + ", ".join(f"{k} {w:.2f}" for k, w in weights.items()) + ")",
                    f"{weights_path}: " + ", ".join(map(str, names)), sha256_file(weights_path),
                    all(bool(p["diagnostics"]["passed"]) for p in provs),
                    {name: p["diagnostics"] for name, p in zip(names, provs)}, mixed, best_observed(first_run),
                    scenarios, start)


def explorer_payload(fit_paths, scenarios_path, thresholds_path=None, seed=1, draws=DEFAULT_DRAWS,
                     allow_unconverged=False, start=None, weights_path=None) -> dict:
    """Everything the page needs, as JSON-ready data; reads and checks every input, writes nothing.

    The start is ``start`` if given, else the latest forecast date of the fits (scenarios with their own
    ``start`` keep it); every variant's frontier is carried to it as ``forecast`` does. With ``weights_path``
    the stacked mixture of the fits comes first, as the page's default variant."""
    from rlforecast.compare import load_variants
    from rlforecast.scenarios.forecast import DEFAULT_THRESHOLDS, resample
    from rlforecast.scenarios.state import best_observed, forecast_date

    if draws < 2:
        raise InputError.at("--draws", f"must be at least 2 draws, got {draws}")
    scenarios = load_scenarios(scenarios_path)
    scenarios_have_start = scenarios[0].start is not None
    loaded = load_variants(fit_paths, allow_unconverged)  # names: model id, the file stem added when it repeats
    runs = [run for _, run, _ in loaded.values()]
    scenarios = with_start(scenarios, start or max(forecast_date(r) for r in runs))
    first = scenarios[0]
    states = [_state(r, scenarios) for r in runs]
    variants = [_variant(name, path, sha256_file(path), bool(prov["diagnostics"]["passed"]), prov["diagnostics"],
                         resample(st, draws), best_observed(r), scenarios, first.start)
                for (name, (path, r, prov)), st in zip(loaded.items(), states)]
    if weights_path is not None:
        variants.insert(0, _mixture(loaded, states, weights_path, scenarios, first.start, draws))
    benchmarks = sorted({b for v in variants for b in v["benchmarks"]})
    thresholds_path = thresholds_path or DEFAULT_THRESHOLDS
    levels, sourced = read_thresholds(thresholds_path, benchmarks)
    keys = sorted(PARAMS)
    uniforms = common_uniforms(keys, draws, seed)
    return {
        "format": 1,
        "package_version": __version__,
        "seed": seed,
        "n_draws": draws,
        "start": first.start.isoformat(),
        "start_explicit": start is not None or scenarios_have_start,
        "start_month": first.start_month,
        "horizon": first.horizon,
        "n_months": first.n_months,
        "policy_years": list(tables.POLICY_YEARS),
        "quantiles": list(tables.QUANTILES),
        "z90": Z90,
        "params": {k: {"label": LABELS[k], "unit": PARAMS[k].unit, "minimum": PARAMS[k].minimum,
                       "floor": PARAMS[k].minimum if PARAMS[k].inclusive else float(np.nextafter(PARAMS[k].minimum, 1)),
                       "span": SPANS[k], "linear": k in LINEAR} for k in keys},
        "required": list(REQUIRED),
        "groups": [{"title": t, "keys": list(k), "optional": o} for t, k, o in GROUPS],
        "dists": {d: list(f) for d, f in DISTS.items()},
        "uniforms": {k: _f64(uniforms[k]) for k in keys},
        "normals": {k: _f64(ndtri(uniforms[k])) for k in keys},
        "levels": {b: list(levels[b]) for b in benchmarks},
        "sourced": {b: [{"level": lv, "label": x.label, "source": x.source, "note": x.note} for lv, x in per.items()]
                    for b, per in sourced.items()},
        "thresholds": {"path": str(thresholds_path), "sha256": sha256_file(thresholds_path)},
        "presets": [{"name": sc.name, "description": sc.description, "path": sc.path, "sha256": sha256_file(sc.path),
                     "values": sc.values, "anchors": sc.anchors,
                     "needs_progress": any(k in sc.values for k in OTHER_KEYS)}
                    for sc in scenarios],
        "variants": variants,
    }


def _bokeh_items(first_year: float, horizon: int) -> dict:
    """The page's two figures as Bokeh JSON items, with model ids renumbered from 1 so the bytes depend on
    nothing but the figures (Bokeh numbers models per process)."""
    from bokeh.embed import json_item
    from bokeh.models import ColumnDataSource, HoverTool, NumeralTickFormatter
    from bokeh.plotting import figure

    cdf = figure(height=340, sizing_mode="stretch_width", x_axis_label="year", y_axis_label="P(reached by date)",
                 x_range=(first_year, horizon + 1), y_range=(0, 1.02), tools="pan,wheel_zoom,box_zoom,reset,save",
                 name="cdf-figure",
                 title="Arrival-date CDF: current settings (solid) and the preset they started from (dashed)")
    empty = {"xs": [], "ys": [], "color": [], "dash": [], "label": []}
    lines = ColumnDataSource(dict(empty), name="cdf-source")
    cdf.multi_line("xs", "ys", color="color", line_dash="dash", line_width=2, source=lines, legend_field="label")
    cdf.yaxis.formatter = NumeralTickFormatter(format="0%")
    cdf.add_tools(HoverTool(tooltips=[("", "@label")]))
    cdf.legend.location = "bottom_right"
    cdf.legend.click_policy = "hide"

    bars = figure(height=260, sizing_mode="stretch_width", x_axis_label="end of year", y_axis_label="P(reached)",
                  x_range=(int(first_year) - 0.5, horizon + 0.5), y_range=(0, 1.02), tools="save", name="year-figure",
                  title="P(reached by the end of each year)")
    source = ColumnDataSource({"year": [], "current": [], "preset": []}, name="year-source")
    bars.vbar(x="year", top="preset", width=0.8, source=source, fill_color="#cccccc", line_color=None,
              legend_label="preset")
    bars.vbar(x="year", top="current", width=0.45, source=source, fill_color="#1f77b4", line_color=None,
              legend_label="current settings")
    bars.yaxis.formatter = NumeralTickFormatter(format="0%")
    bars.legend.location = "top_left"
    items = {}
    for key, fig in (("cdf", cdf), ("years", bars)):
        item = json_item(fig, f"{key}-plot")
        text = json.dumps(item)  # Bokeh's key order: a model is defined where it first appears
        ids = {}
        for ident in re.findall(r'"(?:id|root_id)": "(p\d+)"', text):
            ids.setdefault(ident, f"m{len(ids) + 1}")
        items[key] = json.loads(re.sub(r'"(p\d+)"', lambda m, ids=ids: f'"{ids.get(m.group(1), m.group(1))}"', text))
    return items


def _script(text: str) -> str:
    """Inline script text that cannot end its own ``<script>`` element."""
    return text.replace("</", "<\\/")


def explorer_html(payload: dict) -> str:
    """The page: payload and Bokeh items as JSON, Bokeh's JavaScript and ``explorer.js`` inlined."""
    from bokeh.resources import Resources

    bokeh_js = "\n".join(Resources(mode="inline", components=["bokeh"]).js_raw[:1])
    here = files("rlforecast")
    app_js, css = here.joinpath("explorer.js").read_text(), here.joinpath("explorer.css").read_text()
    data = json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False)
    figures = json.dumps(_bokeh_items(payload["start_month"] / 12, payload["horizon"]), separators=(",", ":"), allow_nan=False)
    unconverged = [v["name"] for v in payload["variants"] if not v["converged"]]
    banner = (f'<p id="unconverged" class="banner" role="alert">{tables.UNCONVERGED} ({html.escape(", ".join(unconverged))}): '
              "sampler diagnostics failed; not for decisions.</p>") if unconverged else ""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f'<meta http-equiv="Content-Security-Policy" content="{html.escape(CSP)}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta name="generator" content="rlforecast {html.escape(__version__)}">\n'
        "<title>rlforecast scenario explorer</title>\n"
        f"<style>{css}</style>\n</head>\n<body>\n{banner}\n"
        + here.joinpath("explorer.html").read_text()
        + f'\n<script type="application/json" id="rlf-data">{_script(data)}</script>\n'
        f'<script type="application/json" id="rlf-figures">{_script(figures)}</script>\n'
        f"<script>{_script(bokeh_js)}</script>\n<script>{_script(app_js)}</script>\n</body>\n</html>\n"
    )


def explore_command(fit_paths, scenarios_path, out_path, thresholds_path=None, seed=1, draws=DEFAULT_DRAWS,
                    allow_unconverged=False, start=None, weights_path=None, echo=print) -> None:
    """CLI body of ``rlforecast explore``: check and gather everything, then write one HTML file atomically."""
    if not fit_paths:
        raise InputError.at("--fit", "give at least one run file")
    payload = explorer_payload(fit_paths, scenarios_path, thresholds_path=thresholds_path, seed=seed, draws=draws,
                               allow_unconverged=allow_unconverged, start=start, weights_path=weights_path)
    text = explorer_html(payload)
    write_text(out_path, text)
    if any(not v["converged"] for v in payload["variants"]):
        echo(f"WARNING: {tables.UNCONVERGED}: the page is marked; not for decisions.")
    echo(f"wrote {out_path} ({len(text.encode('utf-8')) // 1024} KiB; {len(payload['variants'])} variant(s), "
         f"{payload['n_draws']} draws, start {payload['start']})")
