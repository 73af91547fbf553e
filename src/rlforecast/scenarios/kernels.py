"""Pure numpy array layer of the scenario propagation: compute paths, threshold crossings, accuracy.

No xarray, no I/O. Conventions:

- time is in years since the scenario start on a monthly grid ``t = arange(n_months) / 12``;
- compute is in log10 units relative to the anchor setting (0 at the start), growth rates are log10 per year;
- an arrival is a month index on that grid; the sentinel ``n_months`` means "not reached by the horizon".
"""

from __future__ import annotations

import itertools

import numpy as np

_BLOCK = 1 << 13  # cells per search block: keeps the working set in cache


def rl_path(t, growth, training_growth, cap_headroom, training_headroom):
    """Delta log10 RL-training compute at times ``t`` (years).

    RL grows at ``growth`` until it meets its cap, ``cap_headroom + training_growth * t`` (the cap is a fixed
    multiple of pre-training compute, which itself stops at ``cap_headroom + training_headroom`` when a
    training-run ceiling binds). A cap already exceeded today holds RL flat until training catches up.
    Pass ``inf`` headrooms for "no cap". Parameters broadcast against ``t``; the path is non-decreasing.
    """
    cap = np.minimum(cap_headroom + training_growth * t, cap_headroom + training_headroom)
    return np.minimum(growth * t, np.maximum(cap, 0.0))


def inference_path(t, token_growth, budget_headroom, budget_growth, max_multiple):
    """Delta log10 inference compute (tokens per task) at times ``t`` (years).

    Tokens grow at ``token_growth`` but never beyond what the budget buys, ``budget_headroom + budget_growth
    * t`` (budget growth plus falling cost per token), nor beyond the per-task cap ``max_multiple``. A budget
    already exceeded today holds tokens flat. Pass ``inf`` for "no cap"; the path is non-decreasing.
    """
    budget = np.maximum(budget_headroom + budget_growth * t, 0.0)
    return np.minimum(np.minimum(token_growth * t, budget), max_multiple)


def threshold_eta(threshold, floor, ceiling):
    """Linear-predictor value at which accuracy reaches ``threshold``: -inf at or below the floor, +inf at or
    above the ceiling (never reached)."""
    threshold, floor, ceiling = np.broadcast_arrays(*(np.asarray(x, dtype=float) for x in (threshold, floor, ceiling)))
    share = (threshold - floor) / (ceiling - floor)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.log(share) - np.log1p(-share)
    return np.where(threshold >= ceiling, np.inf, np.where(threshold <= floor, -np.inf, z))


def accuracy(eta, floor, ceiling):
    """Predicted accuracy: floor + (ceiling - floor) * logistic(eta)."""
    return floor + (ceiling - floor) / (1.0 + np.exp(-eta))


def eta_at(eta_anchor, slope_rl, slope_inf, d_rl, d_inf):
    """Linear predictor after moving ``d_rl`` / ``d_inf`` decades away from the anchor."""
    return eta_anchor + slope_rl * d_rl + slope_inf * d_inf


def first_crossing(eta_anchor, slope_rl, slope_inf, d_rl, d_inf, z, slope_time=None):
    """First month at which eta reaches ``z``, for every draw, benchmark and threshold at once.

    Shapes: ``eta_anchor``, ``slope_rl``, ``slope_inf`` (and ``slope_time``) ``(..., benchmark)``; ``d_rl``,
    ``d_inf`` ``(..., time)``; ``z`` ``(..., benchmark, threshold)``; leading dims broadcast. Returns int64
    ``(..., benchmark, threshold)`` month indices, ``n_months`` when never reached. A month ``m`` counts as
    reached when ``slope_rl * d_rl + slope_inf * d_inf (+ slope_time * m / 12) >= z - eta_anchor``: the
    optional time term is progress other than compute, in logits per year.

    Slopes are positive and paths non-decreasing, so eta is monotone in time. Work goes in cache-sized blocks
    of rows (one row = one path = all benchmarks x thresholds of one draw): the first and last months settle
    every cell reached at the start or never reached (e.g. thresholds at or above the ceiling), and a
    branchless binary search (log2(n_months) vectorised steps) finds the others. A row with a negative time
    slope is not monotone and is scanned month by month. Inputs are never broadcast to full size;
    C-contiguous ``(..., time)`` paths are read in place.
    """
    n_bench, n_thr = z.shape[-2:]
    n_time = d_rl.shape[-1]
    slopes = [slope_rl, slope_inf] + ([] if slope_time is None else [slope_time])
    shape = np.broadcast_shapes(eta_anchor.shape[:-1], *(x.shape[:-1] for x in slopes),
                                d_rl.shape[:-1], d_inf.shape[:-1], z.shape[:-2])
    batch = shape or (1,)
    n_rows = int(np.prod(batch, dtype=np.int64))
    inputs = [_rows(x, batch, core, n_rows) for x, core in
              ((d_rl, (n_time,)), (d_inf, (n_time,)), (eta_anchor, (n_bench,)), (z, (n_bench, n_thr)),
               *((x, (n_bench,)) for x in slopes))]
    months = np.empty((n_rows, n_bench, n_thr), dtype=np.int64)
    per_block = max(1, _BLOCK // (n_bench * n_thr))
    for start in range(0, n_rows, per_block):
        stop = min(start + per_block, n_rows)
        index = None if all(flat for _, flat in inputs) else np.unravel_index(np.arange(start, stop), batch)
        rl, inf, e0, zz, a, b, *c = (x[start:stop] if flat else x[index] for x, flat in inputs)
        months[start:stop] = _block(rl, inf, a, b, c[0] if c else None, zz - e0[..., None], n_time)
    return months.reshape(shape + (n_bench, n_thr))


def _rows(x, batch, core, n_rows):
    """``x`` broadcast to ``batch + core``, and whether it is a C-contiguous ``(n_rows, *core)`` array (sliced
    by rows) rather than a broadcast view (gathered by batch index, block by block)."""
    view = np.broadcast_to(np.asarray(x, dtype=float), batch + core)
    if view.flags.c_contiguous:
        return view.reshape((n_rows,) + core), True
    return view, False


def _gain(rl, inf, a, b, c, month):
    """``a * rl + b * inf (+ c * month / 12)``: the arithmetic, in this order, of every crossing test."""
    gain = rl * a + inf * b
    return gain if c is None else gain + c * (month / 12.0)


def _block(rl, inf, a, b, c, need, n_time):
    """First crossing months for a block of rows: ``rl``, ``inf`` ``(rows, time)``, ``a``, ``b``, ``c``
    (time slope or None) ``(rows, benchmark)``, ``need`` ``(rows, benchmark, threshold)``."""
    n_thr = need.shape[-1]
    cc = None if c is None else c[..., None]
    below_first = _gain(rl[:, :1, None], inf[:, :1, None], a[..., None], b[..., None], cc, 0) < need
    below_last = _gain(rl[:, -1:, None], inf[:, -1:, None], a[..., None], b[..., None], cc, n_time - 1) < need
    months = np.where(below_first, np.where(below_last, n_time, -1), 0).ravel()
    todo = np.flatnonzero(months < 0)
    if todo.size:
        slope = todo // n_thr
        rows = (slope // a.shape[-1]) * n_time
        months[todo] = _search(rl.ravel(), inf.ravel(), a.ravel().take(slope), b.ravel().take(slope),
                               None if c is None else c.ravel().take(slope), need.ravel().take(todo), rows, n_time)
    months = months.reshape(need.shape)
    if c is not None and (c < 0).any():  # not monotone: scan those rows month by month
        down = np.flatnonzero((c < 0).any(axis=-1))
        t = np.arange(n_time)
        eta = _gain(rl[down, None, :], inf[down, None, :], a[down, :, None], b[down, :, None], c[down, :, None], t)
        reached = eta[:, :, None, :] >= need[down, :, :, None]
        months[down] = np.where(reached.any(axis=-1), reached.argmax(axis=-1), n_time)
    return months


def _search(rl, inf, a, b, c, need, rows, n_time):
    """First month with ``a * rl + b * inf (+ c * month / 12) >= need`` in each row of the flat paths
    (``n_time``: never)."""
    months = np.zeros_like(rows)  # every month before ``months`` is below the need
    month, probe = np.empty_like(rows), np.empty_like(rows)
    gain, gain_inf, below = np.empty_like(a), np.empty_like(a), np.empty(a.shape, bool)
    step = 1 << (n_time.bit_length() - 1)
    while step:
        # probe month ``months + step - 1``; probes past the horizon read the last month. Indices are always
        # in range: mode="clip" only spares numpy the bounds-check buffering of ``out`` (mode="raise")
        np.minimum(months + (step - 1), n_time - 1, out=month)
        np.add(month, rows, out=probe)
        np.multiply(rl.take(probe, out=gain, mode="clip"), a, out=gain)
        np.multiply(inf.take(probe, out=gain_inf, mode="clip"), b, out=gain_inf)
        np.add(gain, gain_inf, out=gain)
        if c is not None:
            np.add(gain, c * (month / 12.0), out=gain)
        np.less(gain, need, out=below)
        np.add(months, np.multiply(below, step, out=probe), out=months)
        step //= 2
    return np.minimum(months, n_time)


def first_crossing_loop(eta_anchor, slope_rl, slope_inf, d_rl, d_inf, z, slope_time=None):
    """Straightforward reference for :func:`first_crossing` (test oracle and benchmark baseline)."""
    n_bench, n_thr = z.shape[-2:]
    n_time = d_rl.shape[-1]
    c_in = np.zeros(n_bench) if slope_time is None else slope_time
    batch = np.broadcast_shapes(eta_anchor.shape[:-1], slope_rl.shape[:-1], slope_inf.shape[:-1],
                                np.shape(c_in)[:-1], d_rl.shape[:-1], d_inf.shape[:-1], z.shape[:-2])
    e0 = np.broadcast_to(eta_anchor, batch + (n_bench,))
    a = np.broadcast_to(slope_rl, batch + (n_bench,))
    b = np.broadcast_to(slope_inf, batch + (n_bench,))
    c = np.broadcast_to(c_in, batch + (n_bench,))
    rl = np.broadcast_to(d_rl, batch + (n_time,))
    inf = np.broadcast_to(d_inf, batch + (n_time,))
    zz = np.broadcast_to(z, batch + (n_bench, n_thr))
    out = np.full(batch + (n_bench, n_thr), n_time, dtype=np.int64)
    for idx in np.ndindex(*batch):
        for j in range(n_bench):
            for k in range(n_thr):
                need = zz[idx][j, k] - e0[idx][j]
                for m in range(n_time):
                    gain = a[idx][j] * rl[idx][m] + b[idx][j] * inf[idx][m]
                    if slope_time is not None:
                        gain = gain + c[idx][j] * (m / 12.0)
                    if gain >= need:
                        out[idx][j, k] = m
                        break
    return out


def count_months(months, n_months):
    """Histogram of arrival months over the leading (draw) axis: ``(..., n_months + 1)`` counts, the last bin
    being "never"."""
    cells = months.reshape(months.shape[0], -1)
    flat = np.arange(cells.shape[1]) * (n_months + 1) + cells
    counts = np.bincount(flat.ravel(), minlength=cells.shape[1] * (n_months + 1))
    return counts.reshape(months.shape[1:] + (n_months + 1,))


def count_differences(months, reference, n_months):
    """Joint outcomes of each scenario vs the reference scenario, per draw.

    ``months``: ``(scenario, draw, ...)``. Returns counts ``(scenario, ..., 2 * n_months + 2)``: bins
    ``0 .. 2 * n_months - 2`` hold the lag ``scenario - reference`` in months (offset by ``n_months - 1``)
    where both arrive, then "only the scenario arrives", "only the reference arrives", "neither arrives".
    """
    ref = months[reference][None]
    arrived, ref_arrived = months < n_months, ref < n_months
    lag_bin = months - ref + (n_months - 1)
    outcome = np.where(arrived & ref_arrived, lag_bin,
                       np.where(arrived, 2 * n_months - 1, np.where(ref_arrived, 2 * n_months, 2 * n_months + 1)))
    return count_months(np.moveaxis(outcome, 1, 0), 2 * n_months + 1)


def variance_terms(y, n_factors: int, nested: dict[int, int] | None = None, weights: dict[int, np.ndarray] | None = None):
    """Functional-ANOVA (Hoeffding) decomposition of a balanced grid of outcomes.

    ``y``: ``(f_0, ..., f_{n-1}, ...)``: the first ``n_factors`` axes are factors crossed in a full grid
    (every cell equally weighted, or by the product of ``weights``: probabilities per level of a factor axis,
    e.g. stacking weights of model variants), the trailing axes are independent cells (e.g. benchmark x threshold).
    Returns ``{term: variance}`` for every non-empty set of factor axes (a frozenset of ints), each of shape
    ``y.shape[n_factors:]``; the terms add up to the total (population) variance exactly.

    ``nested`` maps a factor to the factor it is nested in (``{1: 0}``: posterior draw ``i`` of model ``0``
    is not the same draw as ``i`` of model ``1``); every term containing the inner factor absorbs its
    counterpart with the outer factor, so the result has no terms mixing the two through the arbitrary index.

    Closed indices ``V_v = Var(E[y | factors v])`` come from the marginal means; the term variances are their
    Moebius inversion ``sum_{w subset of v} (-1)^{|v|-|w|} V_w``.
    """
    y = np.asarray(y, dtype=float)
    factors = range(n_factors)
    subsets = [frozenset(c) for k in range(n_factors + 1) for c in itertools.combinations(factors, k)]
    weights = weights or {}
    probs = {f: (np.asarray(w, dtype=float) / np.sum(w)).reshape([-1 if i == f else 1 for i in range(y.ndim)])
             for f, w in weights.items()}  # probabilities per weighted factor axis, broadcasting against y

    def average(x, axes):  # plain means on unweighted axes (exact for equal values)
        plain = tuple(f for f in axes if f not in probs)
        x = x.mean(axis=plain, keepdims=True) if plain else x
        for f in axes:
            if f in probs:
                x = (x * probs[f]).sum(axis=f, keepdims=True)
        return x

    mean = average(y, factors)
    closed = {}
    for v in subsets:
        marginal = average(y, [f for f in factors if f not in v])
        closed[v] = average((marginal - mean) ** 2, factors).reshape(y.shape[n_factors:])
    terms = {}
    for v in subsets[1:]:
        terms[v] = sum((-1) ** (len(v) - len(w)) * closed[w] for w in subsets if w <= v)
    for inner, outer in (nested or {}).items():
        for v in [v for v in terms if inner in v and outer not in v]:
            terms[v] = terms[v] + terms.pop(v | {outer})
    return terms


def shapley_split(terms: dict) -> dict:
    """Shapley effects of independent factors from their ANOVA terms: each term's variance is shared equally
    by the factors it involves (Owen 2014). Returns ``{factor: variance}``, summing to the total."""
    out = {}
    for term, var in terms.items():
        for f in term:
            out[f] = out.get(f, 0.0) + var / len(term)
    return out
