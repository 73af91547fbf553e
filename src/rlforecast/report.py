"""``rlforecast report``: one self-contained HTML file for a policy analyst.

Sections: summary, data, sampler diagnostics, exchange rates, scenarios (policy table and arrival CDFs),
uncertainty budget, provenance. Everything is computed by the modules that own it (``fit``, ``exchange``,
``scenarios.forecast``, ``scenarios.budget``); this module only turns their tables and figures into HTML.

The file needs nothing else to display: CSS is inline, figures are PNG ``data:`` URIs, there is no script and
a Content-Security-Policy forbids loading anything from elsewhere. Every string that comes from data is
HTML-escaped. It carries no timestamp: the same inputs and seed give the same bytes.
"""

from __future__ import annotations

import base64
import html
import json
import math
import struct
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from rlforecast import __version__
from rlforecast.errors import InputError
from rlforecast.io import sha256_file, write_text
from rlforecast.scenarios import figures, tables

SECTIONS = (
    ("summary", "Summary"),
    ("data", "Data"),
    ("diagnostics", "Sampler diagnostics"),
    ("exchange", "Exchange rates"),
    ("scenarios", "Scenarios and arrival dates"),
    ("budget", "Uncertainty budget"),
    ("provenance", "Provenance"),
)
BUDGET_FACTORS = (("posterior", "posterior"), ("scenario_params", "scenario parameters"),
                  ("scenario_choice", "scenario choice"), ("model", "model variant"))
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
CSS = """
:root { color-scheme: light; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color: #1b1f24; background: #fff; margin: 0; }
main { max-width: 1180px; margin: 0 auto; padding: 1.5rem 2rem 4rem; }
h1 { font-size: 1.7rem; margin: 0.5rem 0 0.75rem; }
h2 { font-size: 1.3rem; margin: 2.5rem 0 0.75rem; padding-top: 0.5rem; border-top: 2px solid #d0d7de; }
h3 { font-size: 1.05rem; margin: 1.5rem 0 0.5rem; }
p, li { max-width: 60rem; }
.lead { font-size: 1.05rem; }
.banner { background: #b42318; color: #fff; padding: 0.9rem 1.2rem; border-radius: 6px; margin: 1rem 0;
          font-size: 1.05rem; }
.banner strong { font-size: 1.25rem; letter-spacing: 0.04em; }
.ok-banner { background: #e6f4ea; color: #14532d; padding: 0.6rem 1rem; border-radius: 6px; }
nav ol { columns: 2; max-width: 36rem; }
.table-wrap { overflow-x: auto; margin: 0.5rem 0 1rem; }
table { border-collapse: collapse; font-size: 0.86rem; font-variant-numeric: tabular-nums; }
caption { caption-side: top; text-align: left; font-weight: 600; padding: 0.3rem 0; }
th, td { padding: 0.25rem 0.6rem; border-bottom: 1px solid #e1e4e8; vertical-align: top; }
thead th { background: #f3f5f7; border-bottom: 2px solid #c9d1d9; text-align: left; }
tbody tr:nth-child(even) { background: #fafbfc; }
td.num { text-align: right; white-space: nowrap; }
th.num { text-align: right; }
#scenario-table td, #budget-per-scenario td, #budget-table td:first-child { white-space: nowrap; }
tr.group td { border-top: 2px solid #c9d1d9; }
td.fail { color: #b42318; font-weight: 700; }
td.pass { color: #14532d; font-weight: 700; }
tr.pooled td { font-weight: 700; border-top: 2px solid #c9d1d9; }
figure { margin: 1rem 0 1.5rem; }
figure img { max-width: 100%; height: auto; border: 1px solid #e1e4e8; }
figcaption { font-size: 0.88rem; color: #444c56; max-width: 60rem; }
details { margin: 0.5rem 0 1rem; }
summary { cursor: pointer; font-weight: 600; }
pre { background: #f6f8fa; padding: 0.8rem; overflow-x: auto; font-size: 0.8rem; }
.note { color: #444c56; font-size: 0.9rem; }
"""


# --------------------------------------------------------------------------------------------- HTML pieces

def esc(x) -> str:
    """HTML-escaped text of any value (quotes too: safe inside attributes)."""
    return html.escape(str(x), quote=True)


def table_html(header, rows, *, caption: str | None = None, numeric: set[int] | None = None,
               row_classes: list[str] | None = None, cell_classes=None, table_id: str | None = None) -> str:
    """A ``<table>`` with ``<thead>``/``<th>``; cells are escaped. ``numeric``: column indices right-aligned;
    ``cell_classes(row_index, col_index, value)`` may add a class to one cell."""
    numeric = numeric or set()
    ident = f' id="{esc(table_id)}"' if table_id else ""
    out = [f'<div class="table-wrap"><table{ident}>']
    if caption:
        out.append(f"<caption>{esc(caption)}</caption>")
    num = ' class="num"'
    out.append("<thead><tr>" + "".join(f'<th scope="col"{num if i in numeric else ""}>{esc(h)}</th>'
                                       for i, h in enumerate(header)) + "</tr></thead>")
    out.append("<tbody>")
    for r, row in enumerate(rows):
        cls = f' class="{esc(row_classes[r])}"' if row_classes and row_classes[r] else ""
        cells = []
        for i, value in enumerate(row):
            classes = (["num"] if i in numeric else []) + ([cell_classes(r, i, value)] if cell_classes else [])
            attr = f' class="{esc(" ".join(c for c in classes if c))}"' if any(classes) else ""
            cells.append(f"<td{attr}>{esc(value)}</td>")
        out.append(f"<tr{cls}>" + "".join(cells) + "</tr>")
    out.append("</tbody></table></div>")
    return "\n".join(out)


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) in pixels from a PNG's IHDR chunk."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    return struct.unpack(">II", data[16:24])


def figure_html(data: bytes, alt: str, caption: str) -> str:
    """A ``<figure>`` with the PNG embedded as a ``data:`` URI."""
    w, h = png_size(data)
    uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
    return (f'<figure><img src="{uri}" alt="{esc(alt)}" width="{w}" height="{h}">'
            f"<figcaption>{esc(caption)}</figcaption></figure>")


def png(fig: Figure) -> bytes:
    """Deterministic PNG bytes of a figure (``figures.render``)."""
    return figures.render(fig, formats=("png",))["png"]


def section(ident: str, body: str) -> str:
    title = dict(SECTIONS)[ident]
    return f'<section id="{ident}" aria-labelledby="{ident}-h">\n<h2 id="{ident}-h">{esc(title)}</h2>\n{body}\n</section>'


def document(title: str, banner: str, sections: list[str]) -> str:
    toc = "".join(f'<li><a href="#{ident}">{esc(name)}</a></li>' for ident, name in SECTIONS)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{esc(CSP)}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta name="generator" content="rlforecast {esc(__version__)}">\n'
        f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n"
        f"<header>\n<h1>{esc(title)}</h1>\n{banner}\n"
        f'<nav aria-label="Contents"><strong>Contents</strong><ol>{toc}</ol></nav>\n</header>\n'
        + "\n".join(sections)
        + "\n</main>\n</body>\n</html>\n"
    )


# ----------------------------------------------------------------------------------------------- formatting

def _num(x, fmt: str = ".3g") -> str:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return str(x)
    return "" if not math.isfinite(x) else format(x, fmt)


def _pct(x, digits: int = 0) -> str:
    x = float(x)
    return "" if not math.isfinite(x) else f"{round(100 * x, digits) + 0.0:.{digits}f}%"  # + 0.0: no "-0%"


def _interval(lo, mid, hi, fmt: str = ".3g") -> str:
    return f"{_num(mid, fmt)} [{_num(lo, fmt)}, {_num(hi, fmt)}]"


# ------------------------------------------------------------------------------------------------- sections

def summary_section(fit_path: str, fit_prov: dict, unconverged: list[str], n_scenarios: int, n_benchmarks: int,
                    pooled: dict, essay_ratio: float, variants: list[str], weights: dict[str, float] | None = None,
                    progress: bool = False, start: str = "") -> str:
    status = ("passed its sampler diagnostics" if not unconverged else
              "<strong>FAILED its sampler diagnostics</strong>" if fit_path in unconverged else
              "passed its sampler diagnostics (a variant did not)")
    inside = pooled["ratio_q05"] <= essay_ratio <= pooled["ratio_q95"]
    var = (f" Model variants in the uncertainty budget: {esc(', '.join(variants))}." if variants else "")
    if weights:
        var += (" The arrival dates and the budget come from the stacked mixture of the variants' posteriors "
                "(stacking weights " + esc(", ".join(f"{k} {w:.3f}" for k, w in weights.items()))
                + "); the data, diagnostics and exchange rates below are those of the first fit.")
    trend = ("the progress that new model generations bring continues at the share of its fitted trend each "
             "scenario states (none in the compute-only presets)" if progress else
             "the model has no time trend, so nothing beyond RL and inference compute improves")
    return (
        f'<p class="lead">This report summarises the fitted model <code>{esc(fit_prov.get("model_id"))}</code> '
        f"read from <code>{esc(fit_path)}</code>: the data it was fitted on ({esc(fit_prov.get('n_obs_used'))} "
        f"observations on {n_benchmarks} benchmarks), how well the sampler did, the RL-vs-inference exchange "
        f"rate it implies, and the dates at which capability thresholds are reached under {n_scenarios} compute "
        f"scenarios. The fit {status}.{var}</p>\n<ul>\n"
        f"<li>Pooled exchange rate slope_rl / slope_inf: median {esc(_num(pooled['ratio_median']))}, 90% interval "
        f"{esc(_num(pooled['ratio_q05']))} to {esc(_num(pooled['ratio_q95']))}: 10x RL compute buys about what "
        f"{esc(_num(pooled['inf_multiple_per_10x_rl_median'], '.2g'))}x inference compute buys. The essay's "
        f"{esc(_num(essay_ratio))} is {'inside' if inside else 'outside'} this interval.</li>\n"
        "<li>Arrival dates are the first month the predicted accuracy reaches a threshold; draws that never reach it "
        "by the horizon are kept as probability mass &ldquo;not by&rdquo; the horizon, never dropped.</li>\n"
        f"<li>Arrival dates describe compute scaling from the frontier carried to the start ({esc(start)}); {trend}.</li>\n"
        "</ul>"
    )


def banner_html(unconverged: list[str]) -> str:
    if not unconverged:
        return '<p class="ok-banner">All fits passed their sampler diagnostics.</p>'
    return ('<div class="banner" role="alert" id="unconverged"><strong>UNCONVERGED FIT</strong>: '
            f"{esc(', '.join(unconverged))} failed the sampler diagnostics (R-hat, ESS or divergences). "
            "Every number below is for exploration only, not for decisions.</div>")


def data_section(df: pd.DataFrame, fit_prov: dict, measured: pd.Series, rl_varies: pd.Series) -> str:
    """Per-benchmark counts of the rows used; ``measured`` / ``rl_varies``: bool per row of ``df``."""
    dropped = fit_prov.get("dropped_rows", {})
    n_used = len(df)
    header = ["benchmark", "rows", "model families", "base models", "inference compute measured",
              "inference compute latent", "rows with RL variation", "read off a chart"]
    rows = []
    groups = list(df.groupby("benchmark", sort=True)) + [("all benchmarks", df)]
    for bench, g in groups:
        m = measured.loc[g.index]
        rows.append([bench, str(len(g)), str(g["family"].nunique()), str(g["base_model"].nunique()),
                     _pct(m.mean()), _pct(1 - m.mean()), str(int(rl_varies.loc[g.index].sum())),
                     str(int(g["exactness"].ne("exact").sum()))])
    body = [f"<p>The run file stores the observations it was fitted on. Of {n_used + len(dropped)} rows, "
            f"{n_used} were used and {len(dropped)} left out.</p>",
            table_html(header, rows, caption="Observations used, per benchmark", numeric=set(range(1, 8)),
                       row_classes=[""] * (len(rows) - 1) + ["pooled"], table_id="data-table"),
            '<p class="note">Measured inference compute: tokens per item from evaluation logs, or dollars per task '
            "(ARC Prize). Latent: only an effort label, a thinking budget or a relative multiple is known, and the "
            "model estimates the compute. Rows with RL variation carry a relative RL-compute value (exact or with a "
            "stated range): only they inform the RL slopes directly; the rest rely on partial pooling.</p>"]
    if dropped:
        by_reason: dict[str, list[str]] = {}
        for oid, reason in sorted(dropped.items()):
            by_reason.setdefault(reason, []).append(oid)
        drop_rows = [[reason, str(len(ids)), ", ".join(ids[:3]) + (" ..." if len(ids) > 3 else "")]
                     for reason, ids in sorted(by_reason.items())]
        body.append(table_html(["reason left out", "rows", "examples (obs_id)"], drop_rows,
                               caption="Rows left out of the fit", numeric={1}, table_id="dropped-table"))
    return "\n".join(body)


def diagnostics_section(diag_rows, passed: bool, coverage: pd.DataFrame | None) -> str:
    """``diag_rows``: (diagnostic, value, threshold, status); ``coverage``: n_obs, cover50, cover90 by group
    (None: the run file does not store it)."""
    verdict = ("passed" if passed else "FAILED")
    body = [f"<p>Sampler diagnostics over every parameter; the fit <strong>{verdict}</strong> its thresholds "
            "(BFMI is advice only).</p>",
            table_html(["diagnostic", "value", "threshold", "status"], diag_rows, caption="Sampler diagnostics",
                       numeric={1}, table_id="diagnostics-table",
                       cell_classes=lambda r, i, v: ("fail" if v == "FAIL" else "pass") if i == 3 else "")]
    if coverage is None:
        body.append('<p class="note">This run file stores no posterior predictive check (made by an older '
                    "version of <code>rlforecast fit</code>).</p>")
        return "\n".join(body)
    cov_rows = [[str(group), str(int(row["n_obs"])), _pct(row["cover50"]), _pct(row["cover90"])]
                for group, row in coverage.iterrows()]
    body.append(table_html(["benchmark", "observations", "inside 50% interval", "inside 90% interval"], cov_rows,
                           caption="Posterior predictive coverage (target: about 50% and 90%)", numeric={1, 2, 3},
                           row_classes=["pooled" if str(g) == "all" else "" for g in coverage.index],
                           table_id="coverage-table"))
    body.append('<p class="note">Share of observed accuracies inside their posterior predictive intervals '
                "(item noise included). Much lower shares mean the model is overconfident; much higher, too vague."
                "</p>")
    return "\n".join(body)


def forest_plot(table: pd.DataFrame, essay_ratio: float, title: str) -> Figure:
    """Median and 90% interval of slope_rl / slope_inf per benchmark and pooled (last), essay value dashed."""
    n = len(table)
    fig = Figure(figsize=(7.0, 0.32 * n + 1.3))
    fig.subplots_adjust(left=0.28, right=0.97, bottom=0.9 / (0.32 * n + 1.3), top=1 - 0.45 / (0.32 * n + 1.3))
    ax = fig.subplots()
    y = np.arange(n)[::-1]
    pooled = (table["benchmark"] == "pooled").to_numpy()
    for mask, color, size in ((~pooled, "C0", 5), (pooled, "C3", 8)):
        ax.errorbar(table["ratio_median"][mask], y[mask],
                    xerr=[table["ratio_median"][mask] - table["ratio_q05"][mask],
                          table["ratio_q95"][mask] - table["ratio_median"][mask]],
                    fmt="o", color=color, ms=size, lw=1.4, capsize=2)
    ax.axvline(essay_ratio, color="0.3", ls="--", lw=1, label=f"essay: {essay_ratio:g}")
    if (table["ratio_q05"] > 0).all():
        ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
    ax.xaxis.set_minor_formatter(FuncFormatter(lambda x, _: f"{x:g}" if str(f"{x:g}")[0] in "25" else ""))
    ax.set_yticks(y, list(table["benchmark"]))
    ax.set_xlabel("slope_rl / slope_inf (median and 90% interval)")
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(title, fontsize=10)
    return fig


def exchange_section(table: pd.DataFrame, forest_png: bytes, gpt_level: float) -> str:
    from rlforecast.exchange import own_data_summary

    header = ["benchmark", "rows", "rows with RL variation", "slope_rl / slope_inf", "10x RL = this x inference",
              f"RL multiple per GPT level ({gpt_level:g}x inference)", "essay inside 90%", "P(ratio < essay)",
              "prior 90% of the ratio", "RL slope from own rows"]
    rows = []
    for r in table.to_dict("records"):
        rows.append([r["benchmark"], str(r["n_obs"]), str(r["n_obs_rl_varies"]),
                     _interval(r["ratio_q05"], r["ratio_median"], r["ratio_q95"]),
                     _interval(r["inf_multiple_per_10x_rl_q05"], r["inf_multiple_per_10x_rl_median"],
                               r["inf_multiple_per_10x_rl_q95"]),
                     _interval(r["rl_multiple_per_gpt_level_q05"], r["rl_multiple_per_gpt_level_median"],
                               r["rl_multiple_per_gpt_level_q95"]),
                     r["essay_ratio_in_90"], _pct(r["p_ratio_below_essay"]),
                     f"[{_num(r['ratio_prior_q05'], '.2g')}, {_num(r['ratio_prior_q95'], '.3g')}]",
                     _pct(max(r["own_data_rl"], 0.0)) if math.isfinite(r["own_data_rl"]) else "pooled"])
    essay = table["essay_ratio"].iloc[0]
    return "\n".join([
        f"<p>The exchange rate is the ratio of the accuracy slope per decade of RL-training compute to the slope per "
        f"decade of inference compute. A ratio r means 10x RL compute buys what 10<sup>r</sup>x inference compute "
        f"buys. The essay (Ord 2025) reads about {esc(_num(essay))} off public charts, i.e. 10x RL is worth about "
        f"{esc(_num(table['essay_inf_multiple_per_10x_rl'].iloc[0], '.2g'))}x inference. Cells show the median "
        "and, in brackets, the 90% credible interval. \"RL slope from own rows\" is the posterior contraction of "
        "the benchmark's log RL slope against a benchmark with no rows of its own under the fitted population "
        "(1 - variance ratio): near 0% the benchmark's RL slope, and so its exchange rate's spread, is the pooled "
        f"prior in disguise. {esc(own_data_summary(table))}</p>",
        table_html(header, rows, caption="Exchange rate per benchmark and pooled", numeric=set(range(1, 10)),
                   row_classes=["pooled" if b == "pooled" else "" for b in table["benchmark"]],
                   table_id="exchange-table"),
        figure_html(forest_png, "Forest plot of the exchange rate per benchmark on a log axis",
                    f"Exchange rate per benchmark and pooled (red): median and 90% interval; dashed line: the "
                    f"essay's {_num(essay)}."),
    ])


def cdf_benchmarks(arrivals, requested) -> tuple[list[str], list[str]]:
    """(benchmarks worth a CDF figure, benchmarks whose every requested threshold is already reached at the
    start, or never reached by the horizon, in every draw of every scenario: their curves would be flat)."""
    total = arrivals.sum("month")
    settled = (arrivals.isel(month=0) == total) | (arrivals.isel(month=-1) == total)
    flat = (settled | ~requested).all(("scenario", "threshold"))
    return ([str(b) for b in flat.benchmark.values if not flat.sel(benchmark=b)],
            [str(b) for b in flat.benchmark.values if flat.sel(benchmark=b)])


def scenario_section(scenarios, header, rows, cdf_figures: list[tuple[str, bytes]], flat: list[str],
                     horizon: int) -> str:
    desc_rows = [[sc.name, sc.description, Path(sc.path).name] for sc in scenarios]
    body = [
        "<p>Each scenario describes frontier RL-training compute and inference compute per task year by year, with "
        "uncertain parameters given as distributions. Every scenario uses the same posterior draws and the same "
        "scenario-parameter draws, so differences between scenarios are per draw.</p>",
        table_html(["scenario", "description", "file"], desc_rows, caption="Scenarios", table_id="scenario-list"),
        f"<p>Arrival dates: the median, the 80% interval, the probability of reaching the threshold by the end of "
        f"2027, 2030 and 2035, and the probability of not reaching it by the end of {horizon}. An interval end "
        f"&ldquo;after {horizon}&rdquo; is probability mass beyond the horizon. A threshold at or below the best "
        "accuracy observed on its benchmark is marked met at the forecast date instead; &ldquo;meaning&rdquo; names "
        "the thresholds that are published human baselines (sources in the provenance and data/thresholds.toml). "
        "Benchmarks with a threshold still open come first. &ldquo;Earlier by&rdquo; a driver: the median "
        "arrival with that driver switched off after the start (zero growth, or no other progress), minus the "
        "median with every driver, on the same draws.</p>",
        table_html(header, rows, caption="Capability arrival dates by scenario", numeric={2} | set(range(4, len(header))),
                   row_classes=_group_starts([r[0] for r in rows]), table_id="scenario-table"),
        "<h3>Arrival-date distributions</h3>",
        "<p>One figure per benchmark, one panel per threshold, one line per scenario: the probability that the "
        "threshold is reached by each date; the legend gives the share not reached by the horizon.</p>",
    ]
    body += [figure_html(data, f"Arrival-date CDFs for {bench}", f"{bench}: P(threshold reached by date) per "
                         "scenario.") for bench, data in cdf_figures]
    if flat:
        body.append(f'<p class="note">Not plotted, because every threshold is already reached at the start or never '
                    f"reached by {horizon} in every draw of every scenario (see the table): "
                    f"{esc(', '.join(flat))}.</p>")
    return "\n".join(body)


def budget_rows(table: pd.DataFrame, with_scenario: bool) -> list[list[str]]:
    return [[*([r["scenario"]] if with_scenario else []), r["benchmark"], _num(r["threshold"], "g"),
             _num(r["mean_year"], ".1f"), _num(r["sd_year"], ".2f"), _pct(r["censored_share"]),
             *(_pct(r[f"shapley_{f}"]) for f, _ in BUDGET_FACTORS), _pct(r["share_interactions"])]
            for r in table.to_dict("records")]


def _group_starts(keys: list[str]) -> list[str]:
    """Row classes marking where the value of the first column changes (a visual separator)."""
    return ["group" if i and k != keys[i - 1] else "" for i, k in enumerate(keys)]


def budget_section(table: pd.DataFrame, models: list[str], all_label: str, figs: list[tuple[float, bytes]],
                   horizon: int, weights: dict[str, float] | None = None) -> str:
    """``table``: ``budget.uncertainty_budget`` output; ``figs``: (threshold, PNG of ``budget.budget_figure``)."""
    header = ["benchmark", "threshold", "mean year", "sd (years)", f"not by {horizon}",
              *(name for _, name in BUDGET_FACTORS), "interactions"]
    pooled = table[table["scenario"] == all_label]
    per = table[table["scenario"] != all_label]
    one = (f"Only one model variant ({esc(models[0])}) was given, so the model-variant share is zero; pass "
           "<code>--variant RUN.nc</code> to measure it." if len(models) == 1 else
           f"Model variants (equal weight): {esc(', '.join(models))}." if weights is None else
           "Model variants, weighted by their stacking weights: "
           + esc(", ".join(f"{m} {weights[m]:.3f}" for m in models)) + ".")
    body = [
        "<p>How much of the spread of each arrival year comes from the posterior (what the data leave open), "
        "the scenario parameters (growth rates and caps within a scenario), the choice of scenario, and the choice "
        f"of model variant. The arrival year counts draws not reached by the horizon at the end of {horizon}. "
        "Shares are Shapley shares of the variance (interactions split equally between the factors in them; they "
        "add up to 100%); &ldquo;interactions&rdquo; is the part not explained by any factor alone. Empty shares: "
        f"the arrival year does not vary. {one}</p>",
        table_html(header, budget_rows(pooled, False), caption="Uncertainty budget, all scenarios weighted equally",
                   numeric=set(range(1, len(header))), row_classes=_group_starts(list(pooled["benchmark"])),
                   table_id="budget-table"),
    ]
    body += [figure_html(data, f"Uncertainty budget bars at threshold {thr:g}",
                         f"Shapley shares of the arrival-year variance at threshold {thr:g}, per scenario and all "
                         "scenarios weighted equally; the standard deviation in years (or why there is none) beside "
                         "each bar.")
             for thr, data in figs]
    body += [
        "<details><summary>Per scenario (scenario held fixed)</summary>",
        table_html(["scenario", *header], budget_rows(per, True), caption="Uncertainty budget per scenario",
                   numeric=set(range(2, len(header) + 1)), row_classes=_group_starts(list(per["scenario"])),
                   table_id="budget-per-scenario"),
        "</details>",
    ]
    return "\n".join(body)


def provenance_section(items: list[tuple[str, str]], full: dict) -> str:
    rows = "".join(f'<tr><th scope="row">{esc(k)}</th><td>{esc(v)}</td></tr>' for k, v in items)
    return "\n".join([
        "<p>What this report was computed from. The same inputs and seeds reproduce it byte for byte (it carries "
        "no timestamp).</p>",
        f'<div class="table-wrap"><table id="provenance-table"><caption>Inputs and versions</caption>'
        f'<thead><tr><th scope="col">item</th><th scope="col">value</th></tr></thead><tbody>{rows}</tbody>'
        "</table></div>",
        "<details><summary>Full provenance (JSON)</summary>",
        f"<pre>{esc(json.dumps(full, indent=2, sort_keys=True, default=str))}</pre>",
        "</details>",
    ])


# --------------------------------------------------------------------------------------------- orchestration

def build_report(fit_path, scenarios_path, *, variant_paths=(), thresholds_path=None, seed=1, param_draws=None,
                 budget_posterior_draws=300, budget_param_draws=300, allow_unconverged=False,
                 start=None, weights_path=None) -> tuple[str, list[str]]:
    """(HTML text, run files that failed their diagnostics). Reads and checks every input and computes
    everything; writes nothing. With ``weights_path`` the forecast and the budget mix the fit and its variants
    by those stacking weights."""
    from rlforecast.exchange import exchange_table, rl_variation
    from rlforecast.fit import diagnostic_rows, git_commit, provenance, run_inputs
    from rlforecast.model.design import measured_x
    from rlforecast.compare import load_variants
    from rlforecast.scenarios.budget import ALL, budget_figure, uncertainty_budget
    from rlforecast.scenarios.forecast import compute_forecast

    for opt, n in (("--budget-posterior-draws", budget_posterior_draws), ("--budget-param-draws", budget_param_draws)):
        if n < 2:
            raise InputError.at(opt, f"needs at least 2 draws to measure a spread, got {n}")
    fc = compute_forecast([fit_path, *variant_paths] if weights_path else fit_path, scenarios_path,
                          thresholds_path=thresholds_path, seed=seed, param_draws=param_draws,
                          allow_unconverged=allow_unconverged, command="report", start=start, weights_path=weights_path)
    run, fit_prov = fc.run, provenance(fc.run)
    fit_name = str(fit_prov.get("model_id") or Path(fit_path).stem)
    variants = load_variants(variant_paths, allow_unconverged, fit_path, {fit_name})
    unconverged = ([str(fit_path)] if not fit_prov["diagnostics"]["passed"] else []) + [
        p for p, _, prov in variants.values() if not prov["diagnostics"]["passed"]]

    df, spec, design = run_inputs(run)
    xt = exchange_table(run)
    rl_varies = rl_variation(df, design)
    measured = measured_x(df).notna()

    coverage = run["ppc_coverage"].to_dataset().to_dataframe() if "ppc_coverage" in run.children else None
    essay = float(xt["essay_ratio"].iloc[0])
    suffix = fc.suffix
    forest = png(forest_plot(xt, essay, f"Exchange rate slope_rl / slope_inf{suffix}"))

    header, rows = fc.policy_table()
    plotted, flat = cdf_benchmarks(fc.counts.arrivals, fc.requested)
    cdfs = [(b, png(fc.cdf_figure(b))) for b in plotted]

    runs = {fit_name: run} | {name: r for name, (_, r, _) in variants.items()}
    weights = ({v["name"]: v["weight"] for v in fc.provenance["mixture"]["variants"]}
               if "mixture" in fc.provenance else None)
    budget = uncertainty_budget(runs, fc.scenarios, fc.levels, seed=seed, posterior_draws=budget_posterior_draws,
                                param_draws=budget_param_draws, weights=weights)
    middle = sorted({lv[len(lv) // 2] for lv in fc.levels.values()})
    budget_figs = [(thr, png(budget_figure(budget, thr))) for thr in middle]

    prov, commit = fc.provenance, git_commit()
    items = [
        ("fit", f"{fit_path} (sha256 {prov['fit']['sha256']})"),
        ("model id / spec hash", f"{fit_prov.get('model_id')} / {fit_prov.get('spec_hash')}"),
        ("data sha256", str(fit_prov.get("data_sha256"))),
        ("fit made by", f"rlforecast {fit_prov.get('package_version')}, git {fit_prov.get('git_commit')}, "
                        f"seed {fit_prov.get('seed')}, sampler {json.dumps(fit_prov.get('sampler'), sort_keys=True)}"),
        *[(f"variant {name}", f"{p} (sha256 {sha256_file(p)}; model {vp.get('model_id')}, spec "
                              f"{vp.get('spec_hash')}, data {vp.get('data_sha256')})")
          for name, (p, _, vp) in variants.items()],
        *([("stacking weights", f"{prov['mixture']['weights_file']['path']} (sha256 "
                                f"{prov['mixture']['weights_file']['sha256']}): "
                                + ", ".join(f"{v['name']} {v['weight']:.4f} ({v['n_draws']} draws)"
                                            for v in prov["mixture"]["variants"]))] if "mixture" in prov else []),
        ("report made by", f"rlforecast {__version__}, git {commit}"),
        ("seeds", f"report {seed} (scenario parameters and budget); fit {fit_prov.get('seed')}"),
        ("draws", f"forecast: {prov['n_draws']} ({prov['n_posterior_draws']} posterior); budget: "
                  f"{budget_posterior_draws} posterior x {budget_param_draws} scenario-parameter per variant"),
        ("time grid", f"{prov['start']} to the end of {prov['horizon']}, monthly"),
        *[(f"scenario {s['name']}", f"{s['path']} (sha256 {s['sha256']})") for s in prov["scenarios"]],
        ("thresholds", f"{prov['thresholds']['path']} (sha256 {prov['thresholds']['sha256']})"),
    ]
    full = {"report": {"package_version": __version__, "git_commit": commit, "seed": seed,
                       "budget_posterior_draws": budget_posterior_draws, "budget_param_draws": budget_param_draws,
                       "variants": {name: {"path": p, "sha256": sha256_file(p), **vp}
                                    for name, (p, _, vp) in variants.items()}},
            "forecast": prov}

    title = f"rlforecast report: {fit_name}" + (f" ({tables.UNCONVERGED})" if unconverged else "")
    sections = [
        section("summary", summary_section(str(fit_path), fit_prov, unconverged, len(fc.scenarios),
                                           len(fc.levels), xt.set_index("benchmark").loc["pooled"].to_dict(),
                                           essay, list(variants), weights, "progress_rate" in fc.state,
                                           fc.provenance["start"][:7])),
        section("data", data_section(df, fit_prov, measured, rl_varies)),
        section("diagnostics", diagnostics_section(diagnostic_rows(fit_prov["diagnostics"], spec["diagnostics"]),
                                                   bool(fit_prov["diagnostics"]["passed"]), coverage)),
        section("exchange", exchange_section(xt, forest, 1000.0)),
        section("scenarios", scenario_section(fc.scenarios, header, rows, cdfs, flat, fc.horizon)),
        section("budget", budget_section(budget, list(runs), ALL, budget_figs, fc.horizon, weights)),
        section("provenance", provenance_section(items, full)),
    ]
    return document(title, banner_html(unconverged), sections), unconverged


def report_command(fit_path, scenarios_path, out_path, *, variant_paths=(), thresholds_path=None, seed=1,
                   param_draws=None, budget_posterior_draws=300, budget_param_draws=300, allow_unconverged=False,
                   start=None, weights_path=None, echo=print) -> None:
    """CLI body of ``rlforecast report``: compute everything, then write one HTML file atomically."""
    text, unconverged = build_report(fit_path, scenarios_path, variant_paths=variant_paths, thresholds_path=thresholds_path,
                        seed=seed, param_draws=param_draws, budget_posterior_draws=budget_posterior_draws,
                        budget_param_draws=budget_param_draws, allow_unconverged=allow_unconverged, start=start,
                        weights_path=weights_path)
    write_text(out_path, text)
    if unconverged:
        echo(f"WARNING: {tables.UNCONVERGED} ({', '.join(unconverged)}): the report is marked; not for decisions.")
    echo(f"wrote {out_path} ({len(text.encode('utf-8')) // 1024} KiB)")
