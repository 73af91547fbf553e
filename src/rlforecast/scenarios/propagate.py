"""xarray layer over the kernels (named dims: sample, scenario, benchmark, threshold, time) and the Dask
scale-out that reduces arrivals to exact monthly histograms chunk by chunk (bounded memory).

``state`` is a ``frontier_state``-like Dataset: ``eta_anchor``, ``slope_rl``, ``slope_inf``, ``ceiling`` (and,
for fits with a progress term, ``progress_rate``: logits per year across model generations) over ``sample`` x
``benchmark`` (optionally ``scenario``), ``floor`` over ``benchmark``. A scenario's ``trend_share`` of the
progress rate is the time slope of "other progress" (``kernels.first_crossing``'s ``slope_time``).
"""

from __future__ import annotations

import dask
import numpy as np
import xarray as xr

from rlforecast.scenarios import kernels
from rlforecast.scenarios.spec import DRIVER_PARAMS, PATH_PARAMS, Scenario, common_uniforms, draw_values, path_params

CHUNK_SAMPLES = 1000
PATH_BLOCK = 1024  # (scenario, sample) rows per block in compute_paths


def draw_params(scenarios: list[Scenario], n: int, seed: int) -> xr.Dataset:
    """Driver coefficients per scenario and draw, from common random numbers (same seed, same draws)."""
    keys = sorted({key for sc in scenarios for key in sc.values})
    uniforms = common_uniforms(keys, n, seed)
    per_scenario = [path_params(draw_values(sc, uniforms), n) for sc in scenarios]
    return xr.Dataset(
        {name: (("scenario", "sample"), np.stack([p[name] for p in per_scenario])) for name in DRIVER_PARAMS},
        coords={"scenario": [sc.name for sc in scenarios], "sample": np.arange(n)},
    )


def compute_paths(params: xr.Dataset, n_months: int) -> xr.Dataset:
    """``d_rl`` and ``d_inf`` (log10 compute relative to the anchor) on the monthly grid ``time`` (years since
    start), C-contiguous over (..., time): the layout the kernels read without copying; ``trend_share`` is
    passed through (other progress needs no path: it is linear in time).

    Evaluated in blocks of ``PATH_BLOCK`` rows so the path kernels' temporaries stay in cache (the paths of a
    chunk are the largest arrays of the propagation; one pass per operation over them is memory-bound)."""
    t = np.arange(n_months) / 12.0
    arrays = xr.broadcast(*(params[name] for name in PATH_PARAMS))
    dims = arrays[0].dims
    shape = arrays[0].shape
    rows = [np.asarray(a.transpose(*dims).values, dtype=float).reshape(-1, 1) for a in arrays]
    d_rl, d_inf = np.empty((rows[0].shape[0], n_months)), np.empty((rows[0].shape[0], n_months))
    for start in range(0, rows[0].shape[0], PATH_BLOCK):
        block = slice(start, start + PATH_BLOCK)
        rl_growth, training_growth, cap_headroom, training_headroom, token_growth, budget_headroom, \
            budget_growth, max_multiple = (r[block] for r in rows)
        d_rl[block] = kernels.rl_path(t, rl_growth, training_growth, cap_headroom, training_headroom)
        d_inf[block] = kernels.inference_path(t, token_growth, budget_headroom, budget_growth, max_multiple)
    out_dims = dims + ("time",)
    return xr.Dataset({"d_rl": (out_dims, d_rl.reshape(shape + (n_months,))),
                       "d_inf": (out_dims, d_inf.reshape(shape + (n_months,))),
                       **({"trend_share": params.trend_share} if "trend_share" in params else {})},
                      coords={**{k: v for k, v in arrays[0].coords.items()}, "time": t})


def time_slope(state: xr.Dataset, params: xr.Dataset) -> xr.DataArray | None:
    """Logits per year of other progress: the scenario's share of the fitted progress rate (None when the fit
    has no progress term or the parameters no share: no other progress)."""
    if "progress_rate" not in state or "trend_share" not in params:
        return None
    return params.trend_share * state.progress_rate


def carried(state: xr.Dataset, params: xr.Dataset, lags: xr.DataArray) -> xr.Dataset:
    """The frontier carried from each anchor's date to the start: ``lags`` (benchmark,) years of the
    scenario's RL and token growth (uncapped: caps are stated for the start and bind only after it) and of its
    other progress move ``eta_anchor``, per scenario and draw. Paths then run from the start for every
    benchmark alike."""
    eta = kernels.eta_at(state.eta_anchor, state.slope_rl, state.slope_inf, params.rl_growth * lags,
                         params.token_growth * lags)
    slope = time_slope(state, params)
    if slope is not None:
        eta = eta + slope * lags
    return state.assign(eta_anchor=eta.transpose("scenario", "sample", "benchmark"))


def threshold_eta(state: xr.Dataset, thresholds: xr.DataArray) -> xr.DataArray:
    """Linear-predictor value each threshold needs, per draw and benchmark (+inf at or above the ceiling)."""
    return xr.apply_ufunc(kernels.threshold_eta, thresholds.threshold, state.floor, state.ceiling)


def _first_crossing_paths_first(d_rl, d_inf, eta_anchor, slope_rl, slope_inf, z, slope_time=None):
    return kernels.first_crossing(eta_anchor, slope_rl, slope_inf, d_rl, d_inf, z, slope_time)


def arrival_months(state: xr.Dataset, paths: xr.Dataset, thresholds: xr.DataArray) -> xr.DataArray:
    """First grid month reaching each threshold: int dims (scenario, sample, benchmark, threshold);
    the value ``time`` size means "not by the horizon"."""
    slope = time_slope(state, paths)
    core = [["time"]] * 2 + [["benchmark"]] * 3 + [["benchmark", "threshold"]] + [["benchmark"]] * (slope is not None)
    # paths first, so the loop dims follow the paths' order and the kernel reads them without a copy
    months = xr.apply_ufunc(_first_crossing_paths_first, paths.d_rl, paths.d_inf, state.eta_anchor,
                            state.slope_rl, state.slope_inf, threshold_eta(state, thresholds),
                            *([] if slope is None else [slope]),
                            input_core_dims=core, output_core_dims=[["benchmark", "threshold"]])
    return months.transpose("scenario", "sample", "benchmark", "threshold")


def accuracy_paths(state: xr.Dataset, paths: xr.Dataset) -> xr.DataArray:
    """Predicted accuracy over time: dims (scenario, sample, benchmark, time)."""
    eta = kernels.eta_at(state.eta_anchor, state.slope_rl, state.slope_inf, paths.d_rl, paths.d_inf)
    slope = time_slope(state, paths)
    if slope is not None:
        eta = eta + slope * paths.time
    return kernels.accuracy(eta, state.floor, state.ceiling).transpose("scenario", "sample", "benchmark", "time")


def _chunk_counts(state, params, thresholds, n_months, reference):
    months = arrival_months(state, compute_paths(params, n_months), thresholds).values
    counts = kernels.count_months(np.moveaxis(months, 1, 0), n_months)
    return (counts,) if reference is None else (counts, kernels.count_differences(months, reference, n_months))


def _add(parts):
    return tuple(sum(arrays) for arrays in zip(*parts))


def arrival_counts(state: xr.Dataset, params: xr.Dataset, thresholds: xr.DataArray, n_months: int, *,
                   reference: int = 0, chunk_samples: int | None = None, scheduler: str | None = None,
                   differences: bool = True) -> xr.Dataset:
    """Exact histograms of arrival months, propagated in sample chunks through Dask.

    Returns ``arrivals`` (scenario, benchmark, threshold, month; month ``n_months`` = never) and, against
    scenario number ``reference``: ``lag_counts`` (scenario, benchmark, threshold, lag in months) where both
    arrive, and ``only_scenario``, ``only_reference``, ``neither`` counts. ``chunk_samples`` draws per task
    (default ``CHUNK_SAMPLES``); ``scheduler``: address of a
    dask.distributed scheduler; default: threads in this process. Integer counts make the result identical
    whatever the chunking or scheduler. ``differences=False``: the arrival histograms only.
    """
    n, chunk_samples = state.sizes["sample"], chunk_samples or CHUNK_SAMPLES
    parts = [dask.delayed(_chunk_counts)(state.isel(sample=slice(i, i + chunk_samples)),
                                         params.isel(sample=slice(i, i + chunk_samples)),
                                         thresholds, n_months, reference if differences else None)
             for i in range(0, n, chunk_samples)]
    total = dask.delayed(_add)(parts)
    if scheduler is None:
        arrivals, *outcomes = total.compute(scheduler="threads")
    else:
        from distributed import Client

        with Client(scheduler) as client:
            arrivals, *outcomes = client.compute(total).result()
    cells = ("scenario", "benchmark", "threshold")
    coords = {"scenario": params.scenario.values, "benchmark": state.benchmark.values,
              "threshold": thresholds.threshold.values}
    if not differences:
        return xr.Dataset({"arrivals": (cells + ("month",), arrivals)},
                          coords={**coords, "month": np.arange(n_months + 1)}, attrs={"n_samples": n})
    lag, outcomes = n_months - 1, outcomes[0]
    return xr.Dataset(
        {
            "arrivals": (cells + ("month",), arrivals),
            "lag_counts": (cells + ("lag",), outcomes[..., : 2 * lag + 1]),
            "only_scenario": (cells, outcomes[..., 2 * lag + 1]),
            "only_reference": (cells, outcomes[..., 2 * lag + 2]),
            "neither": (cells, outcomes[..., 2 * lag + 3]),
        },
        coords={**coords, "month": np.arange(n_months + 1), "lag": np.arange(-lag, lag + 1)},
        attrs={"n_samples": n, "reference": str(params.scenario.values[reference])},
    )


def counterfactuals(params: xr.Dataset, other: bool) -> dict[str, xr.Dataset]:
    """The scenario parameters with drivers switched off after the start (same draws): ``without_X`` drops one
    driver, ``X_only`` keeps one; ``other``: whether other progress is a driver here. A driver is switched off
    by zero growth (RL compute, tokens per task) or a zero trend share; the carry to the start is history and
    stays as it was."""
    off = {"rl": {"rl_growth": 0.0}, "inference": {"token_growth": 0.0}, "other": {"trend_share": 0.0}}
    drivers = ["rl", "inference"] + (["other"] if other else [])
    out = {}
    for d in drivers:
        out[f"without_{d}"] = params.assign({k: params[k] * v for k, v in off[d].items()})
    for d in drivers:
        zero = {k: params[k] * v for e in drivers if e != d for k, v in off[e].items()}
        out[f"{d}_only"] = params.assign(zero)
    return out


def driver_counts(state: xr.Dataset, params: xr.Dataset, thresholds: xr.DataArray, n_months: int,
                  arrivals: xr.DataArray, scheduler: str | None = None) -> xr.DataArray:
    """Arrival histograms (drivers, scenario, benchmark, threshold, month) of every counterfactual of
    :func:`counterfactuals` on the carried ``state``, with the same draws; ``arrivals``: the histograms with
    every driver (``all``), already computed."""
    other = time_slope(state, params) is not None and bool((params.trend_share > 0).any())
    runs = counterfactuals(params, other)
    hists = [arrivals] + [arrival_counts(state, p, thresholds, n_months, scheduler=scheduler, differences=False).arrivals
                          for p in runs.values()]
    return xr.concat(hists, dim=xr.DataArray(["all", *runs], dims="drivers", name="drivers"))
