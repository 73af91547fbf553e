"""Properties of the propagation kernels and the chunked counts (hypothesis, tiny arrays)."""

import numpy as np
import xarray as xr
from conftest_scenarios import fake_state
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from rlforecast.scenarios import kernels, tables
from rlforecast.scenarios.forecast import requested_thresholds
from rlforecast.scenarios.propagate import arrival_counts, arrival_months, compute_paths

finite = st.floats(-5, 5, allow_nan=False)
positive = st.floats(0.05, 3, allow_nan=False)
log_growth = st.floats(0, 1.5, allow_nan=False)
headroom = st.one_of(st.just(np.inf), st.floats(-2, 4, allow_nan=False))
SETTINGS = settings(max_examples=40, deadline=None)


@st.composite
def crossing_problem(draw):
    n_s, n_b, n_k, n_t = (draw(st.integers(1, n)) for n in (4, 3, 3, 40))
    steps = draw(arrays(float, (n_s, 2, n_t), elements=st.sampled_from([0.0, 0.0, 0.05, 0.1, 1 / 3, 0.5, 1.0])))
    paths = np.cumsum(steps, axis=-1) - steps[..., :1]  # non-decreasing, 0 at the start
    z = draw(arrays(float, (n_s, n_b, n_k), elements=st.one_of(finite, st.sampled_from([np.inf, -np.inf, 0.0]))))
    return (draw(arrays(float, (n_s, n_b), elements=finite)), draw(arrays(float, (n_s, n_b), elements=positive)),
            draw(arrays(float, (n_s, n_b), elements=positive)), paths[:, 0], paths[:, 1], z)


@SETTINGS
@given(crossing_problem())
def test_vectorised_kernel_equals_the_loop(problem):
    np.testing.assert_array_equal(kernels.first_crossing(*problem), kernels.first_crossing_loop(*problem))


@SETTINGS
@given(crossing_problem(), st.data())
def test_a_time_trend_of_either_sign_is_found_as_the_loop_finds_it(problem, data):
    """Other progress adds ``slope_time * years``: positive keeps eta monotone (binary search), negative does
    not (month-by-month scan); both must equal the loop, and a zero trend must change nothing."""
    n_s, n_b = problem[0].shape
    c = data.draw(arrays(float, (n_s, n_b), elements=st.floats(-2, 2, allow_nan=False)))
    np.testing.assert_array_equal(kernels.first_crossing(*problem, slope_time=c),
                                  kernels.first_crossing_loop(*problem, slope_time=c))
    np.testing.assert_array_equal(kernels.first_crossing(*problem, slope_time=np.zeros_like(c)),
                                  kernels.first_crossing(*problem))


@SETTINGS
@given(crossing_problem())
def test_first_month_really_is_the_first(problem):
    e0, a, b, rl, inf, z = problem
    months = kernels.first_crossing(*problem)
    n_t = rl.shape[-1]
    eta = e0[:, :, None] + a[:, :, None] * rl[:, None, :] + b[:, :, None] * inf[:, None, :]  # (s, b, t)
    for (s, j, k), m in np.ndenumerate(months):
        reached = eta[s, j] >= z[s, j, k]
        assert m == (int(np.argmax(reached)) if reached.any() else n_t)


@SETTINGS
@given(log_growth, log_growth, log_growth, headroom, headroom, headroom, st.floats(0, 2), finite, positive, positive,
       st.floats(0.05, 0.99))
def test_faster_growth_never_arrives_later(g_rl, g_inf, extra, cap, budget, max_mult, g_tr, e0, a, b, thr):
    t = np.arange(60) / 12
    z = kernels.threshold_eta(np.array([[thr]]), 0.0, 1.0)

    def arrival(g_rl, g_inf):
        d_rl = kernels.rl_path(t, g_rl, g_tr, cap, np.inf)
        d_inf = kernels.inference_path(t, g_inf, budget, 0.3, abs(max_mult))
        return kernels.first_crossing(np.array([e0]), np.array([a]), np.array([b]), d_rl, d_inf, z)[0, 0]

    base = arrival(g_rl, g_inf)
    assert arrival(g_rl + extra, g_inf) <= base
    assert arrival(g_rl, g_inf + extra) <= base


@SETTINGS
@given(log_growth, headroom, log_growth, headroom)
def test_paths_start_at_zero_and_never_decrease(g, cap, g_tr, training_headroom):
    t = np.arange(120) / 12
    for path in (kernels.rl_path(t, g, g_tr, cap, training_headroom), kernels.inference_path(t, g, cap, g_tr, 2.0)):
        assert path[0] == 0 and np.all(np.diff(path) >= 0)


@SETTINGS
@given(crossing_problem())
def test_a_higher_threshold_never_arrives_earlier(problem):
    e0, a, b, rl, inf, z = problem
    months = kernels.first_crossing(e0, a, b, rl, inf, np.sort(z, axis=-1))
    assert np.all(np.diff(months, axis=-1) >= 0)


@st.composite
def small_forecast(draw):
    n_s = draw(st.integers(1, 12))
    state = fake_state(draw(arrays(float, (n_s, 2), elements=finite)), draw(arrays(float, (n_s, 2), elements=positive)),
                       draw(arrays(float, (n_s, 2), elements=positive)),
                       draw(arrays(float, (n_s, 2), elements=st.floats(0.5, 1.0))), [0.0, 0.25])
    state = state.expand_dims(scenario=["s0", "s1"]).copy()
    params = xr.Dataset(
        {name: (("scenario", "sample"), draw(arrays(float, (2, n_s), elements=elements)))
         for name, elements in (("rl_growth", log_growth), ("training_growth", log_growth),
                                ("cap_headroom", headroom), ("training_headroom", headroom),
                                ("token_growth", log_growth), ("budget_headroom", headroom),
                                ("budget_growth", log_growth), ("max_multiple", st.floats(0, 3)))},
        coords={"scenario": ["s0", "s1"], "sample": np.arange(n_s)})
    levels = {"bench0": tuple(sorted(set(draw(st.lists(st.floats(0.05, 1.0), min_size=1, max_size=3))))),
              "bench1": (0.5, 0.9)}
    return state, params, requested_thresholds(levels), draw(st.integers(1, 5))


@SETTINGS
@given(small_forecast())
def test_counts_keep_censored_mass_and_cdfs_are_monotone(problem):
    state, params, requested, chunk = problem
    n_months = 36
    months = arrival_months(state, compute_paths(params, n_months), requested)
    counts = arrival_counts(state, params, requested, n_months, chunk_samples=chunk)
    n = state.sizes["sample"]
    assert int(counts.arrivals.sum("month").min()) == int(counts.arrivals.sum("month").max()) == n
    never = (months == n_months).mean("sample")
    np.testing.assert_allclose(counts.arrivals.isel(month=-1) / n, never.transpose(*counts.arrivals.dims[:-1]))
    cdf = tables.cdf_rows(counts, requested, start_month=2026 * 12, horizon=2028)
    for i in range(0, len(cdf), 3):
        p = [float(r[-1]) for r in cdf[i:i + 3]]
        assert all(0 <= x <= 1 for x in p) and p == sorted(p)
        cell = never.sel(scenario=cdf[i][0], benchmark=cdf[i][1])
        assert abs(1 - p[-1] - float(cell.sel(threshold=float(cdf[i][2]), method="nearest"))) < 1e-5
    for row in tables.diff_rows(counts, requested):
        assert abs(sum(float(x) for x in row[-4:]) - 1) < 1e-5
        assert (row[5] == "") == (float(row[4]) == 0)


def test_a_frontier_measured_a_year_before_the_start_is_carried_a_year_along_the_scenario():
    """Uncapped growth: the anchor sits ``lag`` years of growth below the start's frontier, so every arrival
    comes exactly 12 months earlier than from an anchor measured at the start (none before the start)."""
    import datetime as dt

    from rlforecast.scenarios.propagate import carried
    from rlforecast.scenarios.state import anchor_lags

    base = fake_state([[-3.0, -1.0]], slope_rl=[[0.5, 0.8]], slope_inf=[[0.25, 0.1]], ceiling=[[0.99, 0.99]],
                      floor=[0.0, 0.0], benchmarks=["a", "b"])
    state = base.assign_coords(anchor_date=("benchmark", ["2025-07-15", "2026-07-01"]))  # a: a year old, b: new
    lags = anchor_lags(state, dt.date(2026, 7, 1))
    np.testing.assert_allclose(lags.values, [1.0, 0.0])
    inf = np.inf
    params = xr.Dataset({k: (("scenario", "sample"), [[v]]) for k, v in dict(
        rl_growth=1.0, training_growth=0.5, cap_headroom=inf, training_headroom=inf, token_growth=0.5,
        budget_headroom=inf, budget_growth=0.0, max_multiple=inf).items()}, coords={"scenario": ["s"], "sample": [0]})
    moved = carried(state.expand_dims(scenario=["s"]), params, lags)
    np.testing.assert_allclose(moved.eta_anchor.sel(scenario="s", sample=0).values, [-3.0 + 0.5 + 0.125, -1.0])
    thresholds = requested_thresholds({"a": (0.5, 0.9), "b": (0.5, 0.9)})
    paths = compute_paths(params, 120)
    before = arrival_months(state, paths, thresholds).sel(scenario="s", sample=0)
    after = arrival_months(moved, paths, thresholds).sel(scenario="s", sample=0)
    assert (before.sel(benchmark="a").values >= 12).all()
    np.testing.assert_array_equal(after.sel(benchmark="a").values, before.sel(benchmark="a").values - 12)
    np.testing.assert_array_equal(after.sel(benchmark="b").values, before.sel(benchmark="b").values)


def test_anchor_lags_follow_each_scenarios_anchor():
    """Scenarios anchoring a benchmark on different models (dates) get their own lags, and the budget's grid
    carries each scenario by its own."""
    import datetime as dt

    from rlforecast.scenarios.state import anchor_lags

    state = xr.Dataset(coords={"scenario": ["a", "b"], "benchmark": ["x", "y"],
                               "anchor_date": (("scenario", "benchmark"), [["2026-03-02", ""], ["2025-09-30", ""]])})
    lags = anchor_lags(state, dt.date(2026, 9, 1))
    assert lags.dims == ("scenario", "benchmark")
    np.testing.assert_allclose(lags.values, [[0.5, 0.0], [1.0, 0.0]])
