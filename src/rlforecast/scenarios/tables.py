"""Arrival tables from the exact monthly histograms of ``propagate.arrival_counts``, and their renderings
(CSV text, Markdown, LaTeX, XLSX bytes). Pure functions: no file writes here.

Years are fractional: month ``m`` of the grid is ``(start_month + m) / 12`` (2027.4167 = June 2027).
Censored mass ("not by the horizon") stays in every distribution: a quantile falling in it is left empty.
"""

from __future__ import annotations

import csv
import io
import math

import numpy as np
import xarray as xr

QUANTILES = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)
POLICY_YEARS = (2027, 2030, 2035)
QUANTILE_COLUMNS = ("scenario", "benchmark", "threshold", "quantile", "year")
CDF_COLUMNS = ("scenario", "benchmark", "threshold", "year", "p_reached")
DIFF_COLUMNS = ("scenario", "reference", "benchmark", "threshold", "p_both", "median_diff_years",
                "q10_diff_years", "q90_diff_years", "p_earlier", "p_same", "p_later", "p_neither")
DRIVER_COLUMNS = ("scenario", "benchmark", "threshold", "drivers", "median_year", "q10_year", "q90_year",
                  "p_by_2030", "p_not_by_horizon")
DRIVER_NAMES = {"rl": "RL compute", "inference": "inference compute", "other": "other progress"}
UNCONVERGED = "UNCONVERGED FIT"


def histogram_quantile(counts: np.ndarray, q: float) -> int:
    """Inverted-CDF quantile of a histogram (the bin of the ceil(n q)-th smallest draw)."""
    rank = max(math.ceil(round(counts.sum() * q, 9)), 1)
    return int(np.searchsorted(np.cumsum(counts), rank))


def cells(counts: xr.Dataset | xr.DataArray, requested: xr.DataArray):
    """(scenario, benchmark, threshold) in output order, requested thresholds only."""
    for sc in counts.scenario.values:
        for bench in counts.benchmark.values:
            for thr in counts.threshold.values:
                if requested.sel(benchmark=bench, threshold=thr):
                    yield str(sc), str(bench), float(thr)


def _num(x: float) -> str:
    return f"{x:.6g}"


def _year(abs_month: int) -> str:
    return f"{abs_month / 12:.4f}"


def p_by_end_of(hist: np.ndarray, year: int, start_month: int) -> float:
    """Share of draws arrived by the end of calendar ``year`` (last bin of ``hist`` = never)."""
    last = min(year * 12 + 11 - start_month, hist.size - 2)
    return float(hist[: last + 1].sum() / hist.sum()) if last >= 0 else 0.0


def quantile_rows(counts, requested, start_month):
    rows = []
    for sc, bench, thr in cells(counts, requested):
        hist = counts.arrivals.sel(scenario=sc, benchmark=bench, threshold=thr).values
        for q in QUANTILES:
            m = histogram_quantile(hist, q)
            rows.append((sc, bench, _num(thr), _num(q), _year(start_month + m) if m < hist.size - 1 else ""))
    return rows


def cdf_rows(counts, requested, start_month, horizon):
    rows = []
    for sc, bench, thr in cells(counts, requested):
        hist = counts.arrivals.sel(scenario=sc, benchmark=bench, threshold=thr).values
        for year in range(start_month // 12, horizon + 1):
            rows.append((sc, bench, _num(thr), str(year), _num(p_by_end_of(hist, year, start_month))))
    return rows


def diff_rows(counts, requested):
    """Per-draw arrival differences of each scenario against the reference, summarised."""
    rows, ref, n = [], counts.attrs["reference"], counts.attrs["n_samples"]
    for sc, bench, thr in cells(counts, requested):
        if sc == ref:
            continue
        cell = counts.sel(scenario=sc, benchmark=bench, threshold=thr)
        lag, lags = cell.lag_counts.values, cell.lag.values
        both = int(lag.sum())
        summary = [f"{lags[histogram_quantile(lag, q)] / 12:.4f}" if both else "" for q in (0.5, 0.1, 0.9)]
        earlier = lag[lags < 0].sum() + int(cell.only_scenario)
        later = lag[lags > 0].sum() + int(cell.only_reference)
        rows.append((sc, ref, bench, _num(thr), _num(both / n), *summary, _num(earlier / n),
                     _num(lag[lags == 0].sum() / n), _num(later / n), _num(int(cell.neither) / n)))
    return rows


def csv_text(columns, rows) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return buf.getvalue()


def _month_label(abs_month: int) -> str:
    return f"{abs_month // 12}-{abs_month % 12 + 1:02d}"


def _pct(p: float) -> str:
    if 0 < p < 0.005:
        return "<1%"
    if 0.995 < p < 1:
        return ">99%"
    return f"{100 * p:.0f}%"


def driver_rows(hists: xr.DataArray, requested, start_month, horizon):
    """Arrival summaries per scenario x benchmark x threshold under every driver counterfactual
    (``propagate.driver_counts``): median and 80% interval years (empty: not by the horizon), P(by 2030)
    (empty when the horizon ends before 2030)."""
    rows = []
    for sc, bench, thr in cells(hists, requested):
        for d in hists.drivers.values:
            hist = hists.sel(drivers=d, scenario=sc, benchmark=bench, threshold=thr).values
            years = [histogram_quantile(hist, q) for q in (0.5, 0.1, 0.9)]
            years = [_year(start_month + m) if m < hist.size - 1 else "" for m in years]
            p_2030 = _num(p_by_end_of(hist, 2030, start_month)) if horizon >= 2030 else ""
            rows.append((sc, bench, _num(thr), str(d), *years, p_2030, _num(hist[-1] / hist.sum())))
    return rows


def earlier_by(hists: xr.DataArray, sc, bench, thr, driver: str) -> str:
    """How much earlier ``driver`` makes the median arrival: median without it minus median with every driver,
    in years (">x": without it the median is after the horizon; empty: not reached even with every driver)."""
    cell = hists.sel(scenario=sc, benchmark=bench, threshold=thr)
    never = cell.sizes["month"] - 1
    m_all = histogram_quantile(cell.sel(drivers="all").values, 0.5)
    m_wo = histogram_quantile(cell.sel(drivers=f"without_{driver}").values, 0.5)
    if m_all >= never:
        return ""
    return f">{(never - m_all) / 12:.1f} y" if m_wo >= never else f"{(m_wo - m_all) / 12:.1f} y"


def policy_rows(counts, requested, start_month, horizon, observed=None, sourced=None, drivers=None):
    """One row per scenario x benchmark x threshold: median date, 80% interval, P(by year), P(not by horizon).

    ``observed``: ``{benchmark: (accuracy, model id, release date)}``, the best result in the fit's data; a
    threshold at or below it is met at the forecast date and its row says so instead of dates. ``sourced``:
    ``{benchmark: {level: SourcedLevel}}`` names the levels with a published meaning. ``drivers``: the
    histograms of ``propagate.driver_counts``, adding one column per driver, how much earlier it makes the
    median arrival (:func:`earlier_by`). Within each scenario, benchmarks with a threshold still open come
    first."""
    observed, sourced = observed or {}, sourced or {}
    named = [] if drivers is None else [d for d in DRIVER_NAMES if f"without_{d}" in drivers.drivers.values]
    header = ["scenario", "benchmark", "threshold", "meaning", "median date", "80% interval",
              *[f"P(by end {y})" for y in POLICY_YEARS], f"P(not by {horizon})",
              *[f"earlier by {DRIVER_NAMES[d]}" for d in named]]

    def met(bench, thr):
        return bench in observed and thr <= observed[bench][0]

    open_benches = {b for _, b, thr in cells(counts, requested) if not met(b, thr)}
    order = {sc: i for i, sc in enumerate(counts.scenario.values)}
    ordered = sorted(cells(counts, requested), key=lambda c: (order[c[0]], c[1] not in open_benches))
    rows = []
    for sc, bench, thr in ordered:
        meaning = sourced.get(bench, {}).get(thr)
        meaning = meaning.label if meaning else ""
        if met(bench, thr):
            acc, model, date = observed[bench]
            rows.append([sc, bench, _num(thr), meaning, "met at the forecast date",
                         f"observed {_num(acc)} ({model}{', ' + date if date else ''})",
                         *["met"] * len(POLICY_YEARS), "", *[""] * len(named)])
            continue
        hist = counts.arrivals.sel(scenario=sc, benchmark=bench, threshold=thr).values
        never = hist.size - 1

        def date(q):
            m = histogram_quantile(hist, q)
            return _month_label(start_month + m) if m < never else f"after {horizon}"

        by_year = [_pct(p_by_end_of(hist, y, start_month)) if y <= horizon else "n/a" for y in POLICY_YEARS]
        rows.append([sc, bench, _num(thr), meaning, date(0.5), f"{date(0.1)} to {date(0.9)}", *by_year,
                     _pct(hist[never] / hist.sum()), *[earlier_by(drivers, sc, bench, thr, d) for d in named]])
    return header, rows


def markdown(title, header, rows, footer_lines) -> str:
    lines = [f"# {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines + [""] + [f"{line}  " for line in footer_lines]) + "\n"


def _tex_escape(text: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#"),
                 ("$", r"\$"), ("<", r"$<$"), (">", r"$>$")):
        text = text.replace(a, b)
    return text


def latex(title, header, rows, footer_lines) -> str:
    out = [f"% {title}", r"\begin{tabular}{" + "l" * 3 + "r" * (len(header) - 3) + "}", r"\toprule",
           " & ".join(_tex_escape(h) for h in header) + r" \\", r"\midrule"]
    out += [" & ".join(_tex_escape(c) for c in row) + r" \\" for row in rows]
    out += [r"\bottomrule", r"\end{tabular}", r"\par\smallskip\footnotesize"]
    out += [_tex_escape(line) + r"\par" for line in footer_lines]
    return "\n".join(out) + "\n"


def xlsx_bytes(title, header, rows, provenance: dict) -> bytes:
    """Workbook with the policy table (sheet ``policy``) and the provenance (sheet ``provenance``)."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "policy"
    ws.append([title])
    ws.append(header)
    for row in rows:
        ws.append(row)
    meta = wb.create_sheet("provenance")
    for key, value in _flatten(provenance):
        meta.append([key, value])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _flatten(d, prefix=""):
    for key, value in d.items():
        if isinstance(value, dict):
            yield from _flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value if isinstance(value, (int, float, str)) else str(value)
