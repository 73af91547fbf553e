"""Fan charts of projected accuracy and CDFs of arrival dates, rendered to deterministic PNG / SVG bytes.

Figures are built with ``matplotlib.figure.Figure`` (Agg canvas, no pyplot global state); dates, software
tags and SVG ids are fixed so the same inputs give the same bytes.
"""

from __future__ import annotations

import io

import matplotlib
import numpy as np
import xarray as xr
from matplotlib.figure import Figure

FAN_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def render(fig: Figure, formats: tuple[str, ...] = ("png", "svg")) -> dict[str, bytes]:
    """PNG and/or SVG bytes of a figure, reproducibly."""
    out = {}
    with matplotlib.rc_context({"svg.hashsalt": "rlforecast", "svg.fonttype": "none"}):
        for fmt, meta in (("png", {"Software": None}), ("svg", {"Date": None, "Creator": None})):
            if fmt not in formats:
                continue
            buf = io.BytesIO()
            fig.savefig(buf, format=fmt, metadata=meta, dpi=120)
            out[fmt] = buf.getvalue()
    return out


def fan_chart(acc_q: xr.DataArray, years: np.ndarray, thresholds, title: str) -> Figure:
    """One panel per scenario: median and 50% / 90% bands of accuracy over time, thresholds as lines.

    ``acc_q``: dims (scenario, quantile, time) with quantiles ``FAN_QUANTILES``.
    """
    scenarios = list(acc_q.scenario.values)
    fig = Figure(figsize=(3.2 * len(scenarios), 3.4))
    fig.subplots_adjust(left=0.3 / len(scenarios), right=0.98, bottom=0.14, top=0.84, wspace=0.08)
    axes = fig.subplots(1, len(scenarios), sharey=True, squeeze=False)[0]
    for ax, sc in zip(axes, scenarios):
        q = acc_q.sel(scenario=sc)
        ax.fill_between(years, q.sel(quantile=0.05), q.sel(quantile=0.95), color="C0", alpha=0.2, lw=0, label="90%")
        ax.fill_between(years, q.sel(quantile=0.25), q.sel(quantile=0.75), color="C0", alpha=0.4, lw=0, label="50%")
        ax.plot(years, q.sel(quantile=0.5), color="C0", lw=1.5, label="median")
        for thr in thresholds:
            ax.axhline(thr, color="0.3", lw=0.8, ls="--")
        ax.set_title(str(sc), fontsize=9)
        ax.set_xlabel("year")
        ax.set_ylim(0, 1)
    axes[0].set_ylabel("predicted accuracy")
    axes[0].legend(loc="lower right", fontsize=7)
    fig.suptitle(title, fontsize=10)
    return fig


def cdf_plot(arrivals: xr.DataArray, start_month: int, horizon: int, thresholds, title: str) -> Figure:
    """One panel per threshold: P(arrived by date) per scenario; the censored mass is given in the legend.

    ``arrivals``: histogram counts with dims (scenario, threshold, month), last month bin = never.
    """
    fig = Figure(figsize=(3.4 * len(thresholds), 3.4))
    fig.subplots_adjust(left=0.3 / len(thresholds), right=0.98, bottom=0.14, top=0.84, wspace=0.08)
    axes = fig.subplots(1, len(thresholds), sharey=True, squeeze=False)[0]
    n_months = arrivals.sizes["month"] - 1
    years = (start_month + np.arange(n_months)) / 12
    for ax, thr in zip(axes, thresholds):
        for i, sc in enumerate(arrivals.scenario.values):
            hist = arrivals.sel(scenario=sc, threshold=thr).values
            cdf = np.cumsum(hist[:-1]) / hist.sum()
            never = 100 * hist[-1] / hist.sum()
            ax.step(years, cdf, where="post", color=f"C{i}", lw=1.3, label=f"{sc} ({never:.0f}% not by {horizon})")
        ax.set_title(f"threshold {thr:g}", fontsize=9)
        ax.set_xlabel("year")
        ax.set_ylim(0, 1.03)  # a threshold reached at the start shows as a line just below the frame
        ax.legend(loc="lower right", fontsize=6)
    axes[0].set_ylabel("P(reached by date)")
    fig.suptitle(title, fontsize=10)
    return fig
