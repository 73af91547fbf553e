"""Design + spec -> ``pm.Model``: the hierarchical scaling model, with named coords and dims throughout.

    p = floor + (ceiling - floor) * logistic(eta)
    eta = alpha[benchmark, family] + slope_rl[benchmark] * x_rl + slope_inf[benchmark] * x_inf
          (+ progress_rate[benchmark] * generation year of the family, with a [progress] section)
    log([slope_rl, slope_inf])[benchmark] ~ MvNormal(log_slope_mu, diag(sd) LKJ(eta) diag(sd))
    correct ~ BetaBinomial(n_items, p * kappa, (1 - p) * kappa)

Slopes are positive (more compute never lowers expected accuracy) and pooled on the log scale, so the
exchange rate slope_rl / slope_inf is a ratio of positive quantities with a well-behaved posterior.

Sampling parametrisation (exactly the same posterior as the equations above, a better geometry):

* intercepts are sampled as levels at the typical inference compute of their benchmark or cell, net of the
  ceiling's pull on them (``design.centring``), so they do not trade off against the slopes and ceilings;
  a shift by a function of other parameters has Jacobian 1;
* cells whose data pin their level are centred, the rest non-centred;
* design arrays are named ``pm.Data``; ``fit.compile_nutpie`` freezes all but the counts into constants;
* the log density drops terms that do not depend on parameters (the binomial coefficient) and bound
  checks that cannot fail; the full pointwise log-likelihood is computed from the draws in numpy
  (``kernels.pointwise_loglik``).
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from pymc.distributions.dist_math import betaln

from rlforecast.errors import InputError
from rlforecast.model.design import Centring, Design, centring

AXES = ["rl", "inf"]


def coords_of(design: Design, cen: Centring) -> dict[str, list]:
    cells = np.asarray(design.cells, dtype=object)
    return {
        "benchmark": design.benchmarks,
        "family": design.families,
        "cell": design.cells,
        "cell_rich": list(cells[cen.rich]),
        "cell_poor": list(cells[~cen.rich]),
        "obs": design.obs_ids,
        "axis": AXES,
        "rl_latent": design.rl_latents,
        "inf_anchor": design.anchors,
        "inf_anchor_latent": design.anchors[design.n_derived:],
        "effort_label": design.effort_labels,
        "inf_rel_latent": design.inf_rel_latents,
        "rl_step": design.rl_steps,
    }


def _beta_binomial_kernel(value, n, a, b):
    """Beta-Binomial log-pmf without the binomial coefficient (a constant of the data)."""
    return betaln(value + a, n - value + b) - betaln(a, b)


def _beta_binomial_random(n, a, b, rng=None, size=None):
    return rng.binomial(n, rng.beta(a, b, size=size), size=size)


def _binomial_kernel(value, n, p):
    return value * pt.log(p) + (n - value) * pt.log1p(-p)


def _binomial_random(n, p, rng=None, size=None):
    return rng.binomial(n, p, size=size)


def build_model(design: Design, spec: dict, centred_inference_slopes: bool = True) -> pm.Model:
    """The PyMC model for ``design`` under ``spec`` (see models/*.toml for the knobs).

    ``centred_inference_slopes`` chooses between two parametrisations of the same posterior."""
    pri = spec["priors"]
    opts = spec["model"]
    d = design
    el = pri["budget_elasticity"]
    cen = centring(d, el["alpha"] / (el["alpha"] + el["beta"]))
    rich, poor = np.flatnonzero(cen.rich), np.flatnonzero(~cen.rich)
    with pm.Model(coords=coords_of(d, cen), check_bounds=False) as model:
        obs_b = pm.Data("obs_benchmark", d.obs_benchmark, dims="obs")
        obs_cell = pm.Data("obs_cell", d.obs_cell, dims="obs")
        floor = pm.Data("floor", d.floor, dims="obs")
        floor_b = pm.Data("floor_benchmark", d.floor_by_benchmark, dims="benchmark")
        n_items = pm.Data("n_items", d.n, dims="obs")

        # --- slopes (log scale), pooled across benchmarks
        mu = pm.Normal("log_slope_mu", pri["log_slope_mu"]["mu"], pri["log_slope_mu"]["sigma"], dims="axis")
        if opts["pooling"] == "partial":
            # Bivariate normal over benchmarks with an LKJ(eta) correlation, written as inference slope then
            # RL slope given it (non-centred: RL data are thin). Inference slopes: centred by default (effort
            # sweeps identify them); with few benchmarks, as in early backtest subsets, their spread can reach
            # near zero, where the centred form funnels and the non-centred one samples well.
            sd = pm.HalfNormal("log_slope_sd", pri["log_slope_sd"]["sigma"], dims="axis")
            rho = pm.Deterministic("slope_corr", 2 * pm.Beta("slope_corr_01", pri["slope_corr_eta"], pri["slope_corr_eta"]) - 1)
            z_rl = pm.Normal("log_slope_rl_z", 0.0, 1.0, dims="benchmark")
            if centred_inference_slopes:
                log_inf = pm.Normal("log_slope_inf", mu[1], sd[1], dims="benchmark")
                z_inf = (log_inf - mu[1]) / sd[1]
            else:
                z_inf = pm.Normal("log_slope_inf_z", 0.0, 1.0, dims="benchmark")
                log_inf = mu[1] + sd[1] * z_inf
            log_rl = mu[0] + sd[0] * (rho * z_inf + pt.sqrt(1 - rho**2) * z_rl)
            log_slope = pm.Deterministic("log_slope", pt.stack([log_rl, log_inf], axis=1), dims=("benchmark", "axis"))
            pooled_log_ratio = mu[0] - mu[1]
        else:
            z = pm.Normal("log_slope_z", 0.0, 1.0, dims=("benchmark", "axis"))
            log_slope = pm.Deterministic(
                "log_slope", pri["log_slope_mu"]["mu"] + pri["log_slope_mu"]["sigma"] * z, dims=("benchmark", "axis"))
            pooled_log_ratio = pt.mean(log_slope[:, 0] - log_slope[:, 1])
        slope_rl = pm.Deterministic("slope_rl", pt.exp(log_slope[:, 0]), dims="benchmark")
        slope_inf = pm.Deterministic("slope_inf", pt.exp(log_slope[:, 1]), dims="benchmark")
        pm.Deterministic("exchange_rate", slope_rl / slope_inf, dims="benchmark")
        pm.Deterministic("exchange_rate_pooled", pt.exp(pooled_log_ratio))

        # --- ceilings: floor + (1 - floor) * logistic(.), one shared weakly informative prior. (A learned
        # population scale had a funnel: 16 benchmarks barely identify it, and sampling diverged near zero.)
        c_logit = pm.Normal("ceiling_logit", pri["ceiling_logit"]["mu"], pri["ceiling_logit"]["sigma"], dims="benchmark")
        ceiling = pm.Deterministic("ceiling", floor_b + (1 - floor_b) * pm.math.sigmoid(c_logit), dims="benchmark")
        log_room = -pt.softplus(-c_logit)  # log((ceiling - floor) / (1 - floor))

        # --- intercepts: benchmark + family + benchmark x family. Each is sampled as a level: the intercept
        # plus slope_inf * (typical inference compute) plus w * log_room (see design.centring); these shifts
        # depend on other parameters only (Jacobian 1), so the priors below are the model's priors on the
        # intercepts. (Not centred on the RL axis: its slopes are prior-dominated, and shifting every level
        # by them made the tails of slope_rl diverge.)
        # --- progress across model generations (specs with [progress]): eta += rate[benchmark] * year of the
        # row's family, partially pooled; non-centred (16 benchmarks, most with few generations)
        rate = None
        if "progress" in spec:
            prog = spec["progress"]
            r_mu = pm.Normal("progress_rate_mu", prog["rate_mu"]["mu"], prog["rate_mu"]["sigma"])
            r_sd = pm.HalfNormal("progress_rate_sd", prog["rate_sd"]["sigma"])
            rate = pm.Deterministic("progress_rate", r_mu + r_sd * pm.Normal("progress_rate_z", 0.0, 1.0, dims="benchmark"),
                                    dims="benchmark")

        x_inf_b = pm.Data("x_inf_benchmark", cen.x_inf_benchmark, dims="benchmark")
        shift_b = slope_inf * x_inf_b + pm.Data("w_benchmark", cen.w_benchmark, dims="benchmark") * log_room
        if rate is not None:
            shift_b = shift_b + rate * pm.Data("year_benchmark", cen.year_benchmark, dims="benchmark")
        bi = pri["benchmark_intercept"]
        level_b = pm.Normal("benchmark_level", bi["mu"] + shift_b, bi["sigma"], dims="benchmark")
        mu_b = pm.Deterministic("benchmark_intercept", level_b - shift_b, dims="benchmark")
        fam_sd = pm.HalfNormal("family_sd", pri["family_sd"]["sigma"])
        cell_sd = pm.HalfNormal("cell_sd", pri["cell_sd"]["sigma"])
        # Zero-sum family effects: removes the ridge between benchmark intercepts and the family mean.
        u = pm.ZeroSumNormal("family_z", sigma=1.0, dims="family")
        cell_b = pm.Data("cell_benchmark", d.cell_benchmark, dims="cell")
        cell_f = pm.Data("cell_family", d.cell_family, dims="cell")
        cell_mean = mu_b[cell_b] + fam_sd * u[cell_f]
        # alpha_c ~ N(cell_mean, cell_sd): data-rich cells sampled centred, as their level; the others
        # non-centred, as a standard-normal deviation.
        rich_ix = pm.Data("rich_cells", rich, dims="cell_rich")
        poor_ix = pm.Data("poor_cells", poor, dims="cell_poor")
        x_inf_c = pm.Data("x_inf_cell", cen.x_inf_cell, dims="cell")
        w_c = pm.Data("w_cell", cen.w_cell, dims="cell")
        shift_c = slope_inf[cell_b] * x_inf_c + w_c * log_room[cell_b]
        if rate is not None:
            shift_c = shift_c + rate[cell_b] * pm.Data("year_cell", cen.year_cell, dims="cell")
        parts, order = [], []
        if len(rich):
            level_c = pm.Normal("cell_level", cell_mean[rich_ix] + shift_c[rich_ix], cell_sd, dims="cell_rich")
            parts.append(level_c - shift_c[rich_ix])
            order.append(rich_ix)
        if len(poor):
            v = pm.Normal("cell_z", 0.0, 1.0, dims="cell_poor")
            parts.append(cell_mean[poor_ix] + cell_sd * v)
            order.append(poor_ix)
        alpha = pm.Deterministic(
            "alpha", pt.zeros(len(d.cells))[pt.concatenate(order)].set(pt.concatenate(parts)), dims="cell")

        # --- compute axes
        x_rl = pm.Data("rl_fixed", d.rl_fixed, dims="obs")
        if d.rl_latents:
            rl_z = pm.Normal("rl_latent_z", 0.0, 1.0, dims="rl_latent")
            rl_mu = pm.Data("rl_latent_mu", d.rl_latent_mu, dims="rl_latent")
            rl_sd = pm.Data("rl_latent_sd", d.rl_latent_sd, dims="rl_latent")
            rl_lat = pm.Deterministic("rl_rel", rl_mu + rl_sd * rl_z, dims="rl_latent")
            x_rl = x_rl + _take(rl_lat, pm.Data("rl_latent_index", d.rl_latent, dims="obs"))
        if d.rl_steps:
            x_rl = x_rl + _rl_series_steps(d, spec, mu[0] if opts["pooling"] == "partial" else 0.0)
        x_inf = pm.Data("inf_fixed", d.inf_fixed, dims="obs") + _inference_latents(d, pri)

        eta = alpha[obs_cell] + slope_rl[obs_b] * x_rl + slope_inf[obs_b] * x_inf
        if rate is not None:
            eta = eta + rate[obs_b] * pm.Data("obs_year", d.obs_year, dims="obs")
        if opts["interaction"] == "rl_extends_inference":
            gamma = pm.Normal("interaction", pri["interaction"]["mu"], pri["interaction"]["sigma"])
            eta = eta + gamma * x_rl * x_inf
        p = floor + (ceiling[obs_b] - floor) * pm.math.sigmoid(eta)
        p = pt.clip(p, 1e-9, 1 - 1e-9)

        # Counts as model data, so one compiled model can be refitted on new counts (simulation studies).
        counts = pm.Data("correct_count", d.k, dims="obs")
        if opts["likelihood"] == "beta_binomial":
            # Over-dispersion beyond item noise (harness, prompt and grading differences), per benchmark;
            # non-centred: where counts look binomial the data bound the concentration from below only, and
            # the centred form diverged on the early backtest subsets.
            k_mu = pm.Normal("log_concentration_mu", pri["log_concentration_mu"]["mu"], pri["log_concentration_mu"]["sigma"])
            k_sd = pm.HalfNormal("log_concentration_sd", pri["log_concentration_sd"]["sigma"])
            k_z = pm.Normal("log_concentration_z", 0.0, 1.0, dims="benchmark")
            log_kappa = pm.Deterministic("log_concentration", k_mu + k_sd * k_z, dims="benchmark")
            kappa = pt.exp(log_kappa)[obs_b]
            pm.CustomDist("correct", n_items, p * kappa, (1 - p) * kappa, logp=_beta_binomial_kernel,
                          random=_beta_binomial_random, dtype="int64", observed=counts, dims="obs")
        else:
            pm.CustomDist("correct", n_items, p, logp=_binomial_kernel, random=_binomial_random, dtype="int64",
                          observed=counts, dims="obs")
    return model


def _rl_series_steps(d: Design, spec: dict, log_slope_mu_rl):
    """x_rl of RL-series rows: latent positive steps (log-normal, decades) summed up to each row's stage.

    The data pin each step times the RL slopes, so a step is sampled as its log plus the pooled log RL slope
    (``log_slope_mu_rl``) and shifted back: the same log-normal prior (Jacobian 1), without the ridge between
    the steps and the pooled slope."""
    if "rl_stages" not in spec:
        raise InputError.at("model spec", "the data hold RL-training series (rl_stage) but the spec has no "
                                          "[rl_stages] section; expected step and zero_gap priors (see models/baseline.toml)",
                            key="rl_stages")
    pri = spec["rl_stages"]
    zero = d.rl_step_zero
    log_median = np.where(zero, np.log(pri["zero_gap"]["median"]), np.log(pri["step"]["median"]))
    log_sd = np.where(zero, pri["zero_gap"]["log_sd"], pri["step"]["log_sd"])
    loc = pm.Data("rl_step_log_median", log_median, dims="rl_step") + log_slope_mu_rl
    scaled = pm.Normal("rl_step_scaled", loc, pm.Data("rl_step_log_sd", log_sd, dims="rl_step"), dims="rl_step")
    step = pm.Deterministic("rl_step_decades", pt.exp(scaled - log_slope_mu_rl), dims="rl_step")
    return pt.dot(pm.Data("rl_step_matrix", d.rl_step_matrix, dims=("obs", "rl_step")), step)


def _take(vec, idx):
    """vec[idx] with 0 where idx == -1: index -1 lands on an appended zero (much cheaper than a switch)."""
    return pt.concatenate([vec, pt.zeros(1)])[idx]


def _inference_latents(d: Design, pri: dict):
    """Latent part of x_inf and the calibration likelihood that ties effort labels to measurements.

    A group's anchor (its medium-effort log compute) is the mean of its measured rows net of their label
    offsets when it has measurements; the scatter of those rows around it is the calibration likelihood
    (ARC cost ratios and Epoch token counts at several effort levels inform the offsets). Groups without
    measurements get a latent anchor with a stated prior.
    """
    total = pt.zeros(len(d.obs_ids))
    offset = elasticity = None
    if d.effort_labels:
        offset = pm.Normal("effort_offset", pri["effort_offset"]["mu"], pri["effort_offset"]["sigma"],
                           dims="effort_label")
        total = total + _take(offset, pm.Data("inf_label", d.inf_label, dims="obs"))
    if np.any(d.inf_budget != 0) or np.any(d.cal_budget != 0):
        elasticity = pm.Beta("budget_elasticity", pri["budget_elasticity"]["alpha"], pri["budget_elasticity"]["beta"])
        total = total + elasticity * pm.Data("inf_budget", d.inf_budget, dims="obs")
    parts = []
    if d.n_derived:
        cal_anchor = d.cal_anchor
        resid = pm.Data("cal_value", d.cal_value)
        if offset is not None:
            resid = resid - _take(offset, pm.Data("cal_label", d.cal_label))
        if elasticity is not None:
            resid = resid - elasticity * pm.Data("cal_budget", d.cal_budget)
        m = np.bincount(cal_anchor, minlength=d.n_derived).astype(float)
        anchor_ix = pm.Data("cal_anchor", cal_anchor)
        derived = pt.zeros(d.n_derived)[anchor_ix].inc(resid) / pm.Data("cal_group_size", m)
        parts.append(derived)
        multi = np.flatnonzero(m[cal_anchor] >= 2)  # a lone measurement only pins its own anchor
        if len(multi):
            cal_sd = pm.HalfNormal("calibration_sd", pri["calibration_sd"]["sigma"])
            scale = pm.Data("cal_scale", np.sqrt((m[cal_anchor] - 1) / m[cal_anchor])[multi])
            rows = pm.Data("cal_multi", multi)
            dev = (resid - derived[anchor_ix])[rows]
            pm.Potential("calibration", pm.logp(pm.Normal.dist(0.0, cal_sd * scale), dev).sum())
    if len(d.anchors) > d.n_derived:
        az = pm.Normal("anchor_z", 0.0, 1.0, dims="inf_anchor_latent")
        parts.append(pm.Data("anchor_mu", d.anchor_mu, dims="inf_anchor_latent") + pri["effort_anchor_sd"] * az)
    if parts:
        anchor = pm.Deterministic("anchor", pt.concatenate(parts), dims="inf_anchor")
        total = total + _take(anchor, pm.Data("inf_anchor_index", d.inf_anchor, dims="obs"))
    if d.inf_rel_latents:
        rz = pm.Normal("inf_rel_z", 0.0, 1.0, dims="inf_rel_latent")
        rel_mu = pm.Data("inf_rel_mu", d.inf_rel_mu, dims="inf_rel_latent")
        rel_sd = pm.Data("inf_rel_sd", d.inf_rel_sd, dims="inf_rel_latent")
        rel = pm.Deterministic("inf_rel", rel_mu + rel_sd * rz, dims="inf_rel_latent")
        total = total + _take(rel, pm.Data("inf_rel_index", d.inf_rel_latent, dims="obs"))
    return total
