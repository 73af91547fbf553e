"""Design + spec -> ``pm.Model``: the hierarchical scaling model, with named coords and dims throughout.

    p = floor + (ceiling - floor) * logistic(eta)
    eta = alpha[benchmark, family] + slope_rl[benchmark] * x_rl + slope_inf[benchmark] * x_inf
    log([slope_rl, slope_inf])[benchmark] ~ MvNormal(log_slope_mu, diag(sd) LKJ(eta) diag(sd))
    correct ~ BetaBinomial(n_items, p * kappa, (1 - p) * kappa)

Slopes are positive (more compute never lowers expected accuracy) and pooled on the log scale, so the
exchange rate slope_rl / slope_inf is a ratio of positive quantities with a well-behaved posterior.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from rlforecast.model.design import Design

AXES = ["rl", "inf"]


def coords_of(design: Design) -> dict[str, list]:
    return {
        "benchmark": design.benchmarks,
        "family": design.families,
        "cell": design.cells,
        "obs": design.obs_ids,
        "axis": AXES,
        "rl_latent": design.rl_latents,
        "inf_anchor": design.anchors,
        "effort_label": design.effort_labels,
        "inf_rel_latent": design.inf_rel_latents,
    }


def build_model(design: Design, spec: dict) -> pm.Model:
    """The PyMC model for ``design`` under ``spec`` (see models/*.toml for the knobs)."""
    pri = spec["priors"]
    opts = spec["model"]
    d = design
    floor_b = d.floor_by_benchmark
    with pm.Model(coords=coords_of(d)) as model:
        # --- slopes (log scale), pooled across benchmarks
        mu = pm.Normal("log_slope_mu", pri["log_slope_mu"]["mu"], pri["log_slope_mu"]["sigma"], dims="axis")
        if opts["pooling"] == "partial":
            # Bivariate normal over benchmarks with an LKJ(eta) correlation, written as inference slope
            # (centred: well identified by effort sweeps) then RL slope given it (non-centred: RL data are thin).
            sd = pm.HalfNormal("log_slope_sd", pri["log_slope_sd"]["sigma"], dims="axis")
            rho = pm.Deterministic("slope_corr", 2 * pm.Beta("slope_corr_01", pri["slope_corr_eta"], pri["slope_corr_eta"]) - 1)
            log_inf = pm.Normal("log_slope_inf", mu[1], sd[1], dims="benchmark")
            z_rl = pm.Normal("log_slope_rl_z", 0.0, 1.0, dims="benchmark")
            z_inf = (log_inf - mu[1]) / sd[1]
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

        # --- intercepts: benchmark + family + benchmark x family (non-centred)
        mu_b = pm.Normal("benchmark_intercept", pri["benchmark_intercept"]["mu"],
                         pri["benchmark_intercept"]["sigma"], dims="benchmark")
        fam_sd = pm.HalfNormal("family_sd", pri["family_sd"]["sigma"])
        cell_sd = pm.HalfNormal("cell_sd", pri["cell_sd"]["sigma"])
        # Zero-sum family effects: removes the ridge between benchmark intercepts and the family mean.
        u = pm.ZeroSumNormal("family_z", sigma=1.0, dims="family")
        v = pm.Normal("cell_z", 0.0, 1.0, dims="cell")
        alpha = pm.Deterministic(
            "alpha", mu_b[d.cell_benchmark] + fam_sd * u[d.cell_family] + cell_sd * v, dims="cell")

        # --- ceilings: floor + (1 - floor) * logistic(.), one shared weakly informative prior. (A learned
        # population scale had a funnel: 16 benchmarks barely identify it, and sampling diverged near zero.)
        c_logit = pm.Normal("ceiling_logit", pri["ceiling_logit"]["mu"], pri["ceiling_logit"]["sigma"], dims="benchmark")
        ceiling = pm.Deterministic("ceiling", floor_b + (1 - floor_b) * pm.math.sigmoid(c_logit), dims="benchmark")

        # --- compute axes
        x_rl = d.rl_fixed
        if d.rl_latents:
            rl_z = pm.Normal("rl_latent_z", 0.0, 1.0, dims="rl_latent")
            rl_lat = pm.Deterministic("rl_rel", d.rl_latent_mu + d.rl_latent_sd * rl_z, dims="rl_latent")
            x_rl = x_rl + _take(rl_lat, d.rl_latent)
        x_inf = d.inf_fixed + _inference_latents(d, pri)

        b = d.obs_benchmark
        eta = alpha[d.obs_cell] + slope_rl[b] * x_rl + slope_inf[b] * x_inf
        if opts["interaction"] == "rl_extends_inference":
            gamma = pm.Normal("interaction", pri["interaction"]["mu"], pri["interaction"]["sigma"])
            eta = eta + gamma * x_rl * x_inf
        p = d.floor + (ceiling[b] - d.floor) * pm.math.sigmoid(eta)
        p = pt.clip(p, 1e-9, 1 - 1e-9)

        # Counts as model data, so one compiled model can be refitted on new counts (simulation studies).
        counts = pm.Data("correct_count", d.k, dims="obs")
        if opts["likelihood"] == "beta_binomial":
            # Over-dispersion beyond item noise (harness, prompt and grading differences), per benchmark.
            k_mu = pm.Normal("log_concentration_mu", pri["log_concentration_mu"]["mu"], pri["log_concentration_mu"]["sigma"])
            k_sd = pm.HalfNormal("log_concentration_sd", pri["log_concentration_sd"]["sigma"])
            k_z = pm.Normal("log_concentration_z", 0.0, 1.0, dims="benchmark")
            log_kappa = pm.Deterministic("log_concentration", k_mu + k_sd * k_z, dims="benchmark")
            kappa = pt.exp(log_kappa)[b]
            pm.BetaBinomial("correct", alpha=p * kappa, beta=(1 - p) * kappa, n=d.n, observed=counts, dims="obs")
        else:
            pm.Binomial("correct", n=d.n, p=p, observed=counts, dims="obs")
    return model


def _take(vec, idx: np.ndarray):
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
        total = total + _take(offset, d.inf_label)
    if np.any(d.inf_budget != 0) or np.any(d.cal_budget != 0):
        elasticity = pm.Beta("budget_elasticity", pri["budget_elasticity"]["alpha"], pri["budget_elasticity"]["beta"])
        total = total + elasticity * d.inf_budget
    parts = []
    if d.n_derived:
        resid = pt.as_tensor(d.cal_value)
        if offset is not None:
            resid = resid - _take(offset, d.cal_label)
        if elasticity is not None:
            resid = resid - elasticity * d.cal_budget
        members = np.zeros((d.n_derived, len(d.cal_value)))
        members[d.cal_anchor, np.arange(len(d.cal_value))] = 1.0
        m = members.sum(axis=1)
        derived = pt.dot(members / m[:, None], resid)
        parts.append(derived)
        multi = m[d.cal_anchor] >= 2  # a lone measurement only pins its own anchor
        if multi.any():
            cal_sd = pm.HalfNormal("calibration_sd", pri["calibration_sd"]["sigma"])
            scale = np.sqrt((m[d.cal_anchor] - 1) / m[d.cal_anchor])[multi]
            dev = (resid - derived[d.cal_anchor])[np.flatnonzero(multi)]
            pm.Potential("calibration", pm.logp(pm.Normal.dist(0.0, cal_sd * scale), dev).sum())
    if len(d.anchors) > d.n_derived:
        az = pm.Normal("anchor_z", 0.0, 1.0, shape=len(d.anchors) - d.n_derived)
        parts.append(d.anchor_mu + pri["effort_anchor_sd"] * az)
    if parts:
        anchor = pm.Deterministic("anchor", pt.concatenate(parts), dims="inf_anchor")
        total = total + _take(anchor, d.inf_anchor)
    if d.inf_rel_latents:
        rz = pm.Normal("inf_rel_z", 0.0, 1.0, dims="inf_rel_latent")
        rel = pm.Deterministic("inf_rel", d.inf_rel_mu + d.inf_rel_sd * rz, dims="inf_rel_latent")
        total = total + _take(rel, d.inf_rel_latent)
    return total
