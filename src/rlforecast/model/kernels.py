"""Numpy mirror of the model's linear predictor, for prediction, simulation and scenario anchors.

Works on posterior arrays with a leading ``sample`` axis (chains stacked). Rows whose benchmark, family or
cell the fit never saw draw the missing effects from the fitted population, so their intervals widen.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit
from scipy.stats import betabinom, binom

from rlforecast.model.design import Design


def _take(arr: np.ndarray | None, idx: np.ndarray, n_samples: int) -> np.ndarray:
    """arr[:, idx] with 0 where idx == -1 (arr may be None when the model has no such variable)."""
    if arr is None or arr.shape[-1] == 0:
        return np.zeros((n_samples, len(idx)))
    out = arr[:, np.where(idx >= 0, idx, 0)]
    return np.where(idx >= 0, out, 0.0)


def population_slopes(post: dict, spec: dict, n_new: int, rng: np.random.Generator) -> np.ndarray:
    """Log slopes (sample, n_new, axis) for benchmarks the fit never saw."""
    s = post["log_slope_mu"].shape[0]
    z = rng.standard_normal((s, n_new, 2))
    if spec["model"]["pooling"] == "partial":
        sd, rho = post["log_slope_sd"], post["slope_corr"]
        inf = post["log_slope_mu"][:, None, 1] + sd[:, None, 1] * z[..., 1]
        rl = post["log_slope_mu"][:, None, 0] + sd[:, None, 0] * (
            rho[:, None] * z[..., 1] + np.sqrt(1 - rho[:, None] ** 2) * z[..., 0])
        return np.stack([rl, inf], axis=-1)
    prior = spec["priors"]["log_slope_mu"]
    return prior["mu"] + prior["sigma"] * z


def prior_population(spec: dict, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """``n`` draws of the slope population from the spec's priors, laid out like posterior arrays (for
    ``population_slopes``: prior draws of a benchmark's log slopes)."""
    pri = spec["priors"]
    out = {"log_slope_mu": rng.normal(pri["log_slope_mu"]["mu"], pri["log_slope_mu"]["sigma"], (n, 2))}
    if spec["model"]["pooling"] == "partial":
        out["log_slope_sd"] = np.abs(rng.normal(0.0, pri["log_slope_sd"]["sigma"], (n, 2)))
        eta = pri["slope_corr_eta"]
        out["slope_corr"] = 2 * rng.beta(eta, eta, n) - 1
    return out


def row_parameters(post: dict, d: Design, spec: dict, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Per (sample, row): eta, slope_rl, slope_inf, floor, ceiling, x_rl, x_inf."""
    s = post["alpha"].shape[0]
    nrow = len(d.obs_ids)
    b = d.obs_benchmark
    known_b = b >= 0
    new_b = ~known_b
    pri = spec["priors"]

    slope_rl = _take(post["slope_rl"], b, s)
    slope_inf = _take(post["slope_inf"], b, s)
    ceiling = _take(post["ceiling"], b, s)
    mu_b = _take(post["benchmark_intercept"], b, s)
    if new_b.any():  # one draw per new benchmark, shared by its rows
        g = d.new_groups["benchmark"][new_b]
        ls = population_slopes(post, spec, g.max() + 1, rng)[:, g]
        slope_rl[:, new_b] = np.exp(ls[..., 0])
        slope_inf[:, new_b] = np.exp(ls[..., 1])
        w = rng.standard_normal((s, g.max() + 1))[:, g]
        c = expit(pri["ceiling_logit"]["mu"] + pri["ceiling_logit"]["sigma"] * w)
        ceiling[:, new_b] = d.floor[new_b] + (1 - d.floor[new_b]) * c
        bi = pri["benchmark_intercept"]
        mu_b[:, new_b] = bi["mu"] + bi["sigma"] * rng.standard_normal((s, g.max() + 1))[:, g]

    alpha = _take(post["alpha"], d.obs_cell, s)
    new_cell = d.obs_cell < 0
    if new_cell.any():  # one effect per new family and per new cell, shared by their rows
        f = d.obs_family[new_cell]
        gf, gc = d.new_groups["family"][new_cell], d.new_groups["cell"][new_cell]
        new_fam = rng.standard_normal((s, max(gf.max() + 1, 1)))[:, np.maximum(gf, 0)]  # known families: unused
        fam = np.where(f >= 0, _take(post["family_z"], f, s), new_fam)
        alpha[:, new_cell] = (mu_b[:, new_cell] + post["family_sd"][:, None] * fam
                              + post["cell_sd"][:, None] * rng.standard_normal((s, gc.max() + 1))[:, gc])

    x_rl = d.rl_fixed + _take(post.get("rl_rel"), d.rl_latent, s)
    if d.rl_steps and "rl_step_decades" in post:
        x_rl = x_rl + post["rl_step_decades"] @ d.rl_step_matrix.T
    x_inf = (d.inf_fixed + _take(post.get("anchor"), d.inf_anchor, s)
             + _take(post.get("effort_offset"), d.inf_label, s)
             + _take(post.get("inf_rel"), d.inf_rel_latent, s))
    if "budget_elasticity" in post:
        x_inf = x_inf + post["budget_elasticity"][:, None] * d.inf_budget
    eta = alpha + slope_rl * x_rl + slope_inf * x_inf
    if "progress_rate" in post:
        rate = _take(post["progress_rate"], b, s)
        if new_b.any():
            g = d.new_groups["benchmark"][new_b]
            rate[:, new_b] = (post["progress_rate_mu"][:, None] + post["progress_rate_sd"][:, None]
                              * rng.standard_normal((s, g.max() + 1))[:, g])
        eta = eta + rate * d.obs_year
    if "interaction" in post:
        eta = eta + post["interaction"][:, None] * x_rl * x_inf
    floor = np.broadcast_to(d.floor, (s, nrow))
    out = {"eta": eta, "slope_rl": slope_rl, "slope_inf": slope_inf, "floor": floor, "ceiling": ceiling,
           "x_rl": x_rl, "x_inf": x_inf}
    if "progress_rate" in post:
        out["progress_rate"] = rate
    if "log_concentration" in post:
        log_kappa = _take(post["log_concentration"], b, s)
        if new_b.any():
            g = d.new_groups["benchmark"][new_b]
            log_kappa[:, new_b] = (post["log_concentration_mu"][:, None] + post["log_concentration_sd"][:, None]
                                   * rng.standard_normal((s, g.max() + 1))[:, g])
        out["kappa"] = np.exp(log_kappa)
    return out


def accuracy(params: dict[str, np.ndarray]) -> np.ndarray:
    """Expected accuracy floor + (ceiling - floor) * logistic(eta)."""
    return params["floor"] + (params["ceiling"] - params["floor"]) * expit(params["eta"])


def observed_accuracy_draws(params: dict, n_items: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Posterior predictive draws of observed accuracy (item noise and over-dispersion included)."""
    p = np.clip(accuracy(params), 1e-9, 1 - 1e-9)
    if "kappa" in params:
        p = rng.beta(p * params["kappa"], (1 - p) * params["kappa"])
    n = np.broadcast_to(np.asarray(n_items, np.int64), p.shape)
    return rng.binomial(n, p) / n


def randomised_pit(draws: np.ndarray, k: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """PIT of observed counts ``k`` (obs,) under predictive count draws (sample, obs): P(Y < k) + U P(Y = k),
    uniform on (0, 1) for a calibrated forecast of a discrete outcome (Czado, Gneiting and Held 2009). Counting
    the mass at the observed count as inside an interval, as a check on quantiles of k/n does, over-covers."""
    below = (draws < k).mean(axis=0)
    at = (draws == k).mean(axis=0)
    return below + rng.uniform(size=np.shape(k)) * at


def observed_pit(params: dict, d: Design, rng: np.random.Generator) -> np.ndarray:
    """Randomised PIT (obs,) of each observed count under the posterior predictive of ``params``."""
    counts = np.rint(observed_accuracy_draws(params, d.n, rng) * d.n).astype(np.int64)
    return randomised_pit(counts, d.k, rng)


def derived_anchors(d: Design, offset: np.ndarray | None, elasticity: np.ndarray | None) -> np.ndarray:
    """(sample, n_derived) anchors of calibration groups: mean of measured x net of label offsets
    (the numpy mirror of the model's derived anchors)."""
    s = 1 if offset is None else offset.shape[0]
    resid = np.broadcast_to(d.cal_value, (s, len(d.cal_value))).copy()
    if offset is not None:
        resid -= _take(offset, d.cal_label, s)
    if elasticity is not None:
        resid -= elasticity[:, None] * d.cal_budget
    out = np.zeros((s, d.n_derived))
    np.add.at(out.T, d.cal_anchor, resid.T)
    return out / np.bincount(d.cal_anchor, minlength=d.n_derived)


def pointwise_loglik(post: dict, d: Design, spec: dict) -> np.ndarray:
    """(sample, obs) log-likelihood of each observed count, normalising constants included (for LOO)."""
    params = row_parameters(post, d, spec, np.random.default_rng(0))
    p = np.clip(accuracy(params), 1e-9, 1 - 1e-9)
    if "kappa" in params:
        return betabinom.logpmf(d.k, d.n, p * params["kappa"], (1 - p) * params["kappa"])
    return binom.logpmf(d.k, d.n, p)
