"""Sampling mechanics: stop when the diagnostic gate holds, keep only complete draws, one compile for many
count vectors."""

from __future__ import annotations

import numpy as np
import pymc as pm
import xarray as xr

from rlforecast.fit import _complete_draws, compile_nutpie, diagnose, sample

GATE = {"rhat_max": 1.01, "ess_min": 400, "divergences_max": 0}


def _normal_model(k=3):
    with pm.Model(coords={"k": range(k)}) as model:
        pm.Normal("x", 0.0, 1.0, dims="k")
    return model


def _slow_model():
    y = np.random.default_rng(2).normal(size=100_000)  # makes each gradient cost ~0.5 ms, as in a real model
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, 1.0, shape=2)
        pm.Normal("y", mu[0] + mu[1], 1.0, observed=y)
    return model


def _gated(monkeypatch, poll_s):
    import rlforecast.fit as fit

    monkeypatch.setattr(fit, "GATE_POLL_S", poll_s)
    return sample(_slow_model(), sampler="nutpie", draws=20_000, tune=200, chains=4, target_accept=0.8, seed=1,
                  thresholds=GATE, progressbar=False)


def test_sampling_stops_once_the_gate_holds_and_the_kept_draws_pass_it(monkeypatch):
    from rlforecast.fit import check_schedule

    idata, info = _gated(monkeypatch, 0.05)
    assert info["stopped_early"] and info["draws"] < 20_000 and info["draws"] in check_schedule(200, 20_000)
    assert diagnose(idata, GATE)["passed"]
    assert info["grad_evals"] > 4 * (200 + info["draws"])  # warmup counted, at least one step per draw
    assert "warmup_posterior" not in idata.children


def test_the_same_seed_keeps_the_same_draws_however_the_checks_are_timed(monkeypatch):
    a, info_a = _gated(monkeypatch, 0.05)
    b, info_b = _gated(monkeypatch, 0.7)
    assert info_a["draws"] == info_b["draws"]
    np.testing.assert_array_equal(a["posterior"]["mu"].values, b["posterior"]["mu"].values)


def test_without_a_gate_the_draws_are_exactly_the_requested_ones():
    idata, info = sample(_normal_model(), sampler="nutpie", draws=150, tune=100, chains=2, target_accept=0.8,
                         seed=1, progressbar=False)
    assert not info["stopped_early"] and idata["posterior"].sizes["draw"] == 150 == info["draws"]


def test_incomplete_trailing_draws_are_dropped_for_every_chain():
    x = np.random.default_rng(0).normal(size=(3, 10, 2))
    x[1, 7:] = np.nan  # chain 1 has written 7 draws so far
    energy = np.ones((3, 10))
    tree = xr.DataTree.from_dict({
        "posterior": xr.Dataset({"x": (("chain", "draw", "k"), x)}),
        "sample_stats": xr.Dataset({"energy": (("chain", "draw"), energy)}),
    })
    out = _complete_draws(tree)
    assert out["posterior"].sizes["draw"] == 7 and out["sample_stats"].sizes["draw"] == 7
    assert np.isfinite(out["posterior"]["x"].values).all()


def test_one_compiled_model_refits_new_counts():
    """SBC and resampling refit the same design on other counts without recompiling: the counts stay data."""
    with pm.Model() as model:
        p = pm.Beta("p", 1.0, 1.0)
        k = pm.Data("correct_count", np.array([3, 4]))
        pm.Binomial("correct", n=10, p=p, observed=k)
    compiled = compile_nutpie(model)
    import nutpie

    means = []
    for counts in ([1, 2], [8, 9]):
        post = nutpie.sample(compiled.with_data(correct_count=np.array(counts)), draws=300, tune=200, chains=2,
                             seed=3, progress_bar=False)
        means.append(float(post["posterior"]["p"].mean()))
    # Beta(1,1) prior, 20 trials: posterior means (3+1)/22 and (17+1)/22
    np.testing.assert_allclose(means, [4 / 22, 18 / 22], atol=0.03)
