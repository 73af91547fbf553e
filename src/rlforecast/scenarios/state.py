"""Today's frontier per benchmark, as posterior draws: the starting point of every scenario."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import xarray as xr

from rlforecast.errors import InputError


def frontier_rows(df: pd.DataFrame, anchors: dict[str, str] | None = None) -> pd.DataFrame:
    """One observed row per benchmark: the given anchor model id, else the best observed accuracy
    (ties -> latest release). Benchmarks that no frontier model is measured on are left out."""
    from rlforecast.model.design import has_frontier

    anchors = anchors or {}
    picked = []
    for bench, rows in df.groupby("benchmark", sort=True):
        if not has_frontier(bench):
            continue
        if bench in anchors:
            hit = rows[rows["model_id"] == anchors[bench]]
            if hit.empty:
                raise InputError.at("<scenario anchors>", f"model id '{anchors[bench]}' has no observation on "
                                    f"benchmark '{bench}'", key=f"anchor.{bench}")
            picked.append(hit.iloc[0])
            continue
        acc = pd.to_numeric(rows["accuracy"])
        best = rows[acc == acc.max()].sort_values(["release_date", "obs_id"], na_position="first")
        picked.append(best.iloc[-1])
    return pd.DataFrame(picked).reset_index(drop=True)


def frontier_state(run: xr.DataTree, anchors: dict[str, str] | None = None, seed: int = 0) -> xr.Dataset:
    """Posterior draws of eta, slopes, floor and ceiling at each benchmark's anchor setting, and for fits with
    a progress term the progress rate across model generations (logits per year).

    Dims: ``sample`` (chains x draws) and ``benchmark``; coords ``anchor_model`` and ``anchor_date``.
    """
    from rlforecast.fit import posterior_arrays, run_inputs
    from rlforecast.model.design import build_design
    from rlforecast.model.kernels import row_parameters

    df, spec, ref = run_inputs(run)
    rows = frontier_rows(df, anchors)
    design = build_design(rows, ref=ref)
    params = row_parameters(posterior_arrays(run), design, spec, np.random.default_rng(seed))
    dims = ("sample", "benchmark")
    return xr.Dataset(
        {
            "eta_anchor": (dims, params["eta"]),
            "slope_rl": (dims, params["slope_rl"]),
            "slope_inf": (dims, params["slope_inf"]),
            "floor": (("benchmark",), design.floor),
            "ceiling": (dims, params["ceiling"]),
            **({"progress_rate": (dims, params["progress_rate"])} if "progress_rate" in params else {}),
        },
        coords={
            "sample": np.arange(params["eta"].shape[0]),
            "benchmark": list(rows["benchmark"]),
            "anchor_model": ("benchmark", list(rows["model_id"])),
            "anchor_date": ("benchmark", [str(d) if isinstance(d, str) else "" for d in rows["release_date"]]),
        },
    )


def best_observed(run: xr.DataTree) -> dict[str, tuple[float, str, str]]:
    """``{benchmark: (accuracy, model id, release date)}``: the best result in the run's data (a threshold at or
    below it is met at the forecast date)."""
    from rlforecast.fit import run_inputs

    rows = frontier_rows(run_inputs(run)[0])
    return {str(r.benchmark): (float(r.accuracy), str(r.model_id), r.release_date if isinstance(r.release_date, str)
                               else "") for r in rows.itertuples()}


def forecast_date(run: xr.DataTree) -> dt.date:
    """The first day of the month of the latest release among the rows the run was fitted on: where a
    forecast from this fit starts unless told otherwise."""
    from rlforecast.fit import run_inputs

    df, _, _ = run_inputs(run)
    latest = pd.to_datetime(df["release_date"], errors="coerce").max()
    if pd.isna(latest):
        raise InputError.at("<run file>", "no row has a release date, so there is no forecast date: give the "
                            "scenarios a `start` or pass --start", column="release_date")
    return dt.date(latest.year, latest.month, 1)


def anchor_lags(state: xr.Dataset, start: dt.date) -> xr.DataArray:
    """Years from each anchor's release month to ``start`` (0 where the anchor has no date), over the dims of
    ``anchor_date``: (benchmark,), or (scenario, benchmark) when scenarios anchor on different models."""
    start_month = start.year * 12 + start.month - 1

    def lag(text) -> float:
        date = pd.to_datetime(text, errors="coerce") if text else pd.NaT
        return 0.0 if pd.isna(date) else (start_month - (date.year * 12 + date.month - 1)) / 12.0

    dates = state.anchor_date
    return xr.DataArray(np.vectorize(lag, otypes=[float])(dates.values), dims=dates.dims,
                        coords={d: state[d].values for d in dates.dims})
