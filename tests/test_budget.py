"""Uncertainty budget: the ANOVA kernel on grids with known structure, the table on fake arrival grids, and
the command end to end on the shared fitted run."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from click.testing import CliRunner

from rlforecast.cli import main
from rlforecast.scenarios.budget import COLUMNS, FACTORS, budget_table
from rlforecast.scenarios.kernels import shapley_split, variance_terms

from conftest import REPO

M, P, S, J = 0, 1, 2, 3


def _grid(a=0.0, b=0.0, c=0.0, d=0.0, inter=0.0, shape=(3, 40, 4, 50), seed=0):
    """Additive effects of model (a), posterior within model (b, centred per model), scenario (c), params (d),
    plus a posterior x params interaction, on a full grid with one trailing cell."""
    rng = np.random.default_rng(seed)
    nm, npost, ns, nj = shape
    within = rng.standard_normal((nm, npost))
    within -= within.mean(axis=1, keepdims=True)  # variant means differ only through ``a``
    y = (a * rng.standard_normal(nm)[:, None, None, None]
         + b * within[:, :, None, None]
         + c * rng.standard_normal(ns)[None, None, :, None]
         + d * rng.standard_normal(nj)[None, None, None, :]
         + inter * rng.standard_normal((nm, npost, 1, 1)) * rng.standard_normal((1, 1, 1, nj)))
    return y[..., None]


def test_terms_add_up_to_the_total_variance_exactly():
    y = np.random.default_rng(1).standard_normal((3, 7, 2, 5, 4))  # arbitrary, with every interaction
    terms = variance_terms(y, 4, {1: 0})
    total = y.reshape(-1, 4).var(axis=0)
    np.testing.assert_allclose(sum(terms.values()), total, rtol=1e-12)
    np.testing.assert_allclose(sum(shapley_split(terms).values()), total, rtol=1e-12)
    assert all(not ({M, P} <= t) for t in terms), "no term may mix the posterior index across variants"
    assert all((v >= -1e-12).all() for v in terms.values())


def test_additive_effects_are_attributed_to_their_factor():
    for name, kwargs in (("model", {"a": 1}), ("posterior", {"b": 1}), ("scenario_choice", {"c": 1}),
                         ("scenario_params", {"d": 1})):
        terms = variance_terms(_grid(**kwargs), 4, {1: 0})
        total = sum(terms.values())
        i = FACTORS.index(name)
        assert terms[frozenset({i})][0] / total[0] == pytest.approx(1.0, abs=1e-12), name


def test_nested_posterior_term_is_the_within_variant_variance():
    y = _grid(a=1, b=2, d=1)
    terms = variance_terms(y, 4, {1: 0})
    within = y.mean(axis=(2, 3)).var(axis=1).mean(axis=0)  # E_m Var_i E[y | m, i]
    np.testing.assert_allclose(terms[frozenset({P})], within, rtol=1e-12)
    np.testing.assert_allclose(terms[frozenset({M})], y.mean(axis=(1, 2, 3)).var(axis=0), rtol=1e-12)


def test_weighted_variants_follow_the_mixture_distribution():
    """Stacking weights on the model axis: the terms add up to the variance under the weighted mixture, the
    model term is the weighted variance of the variant means, and a weight of 0 drops a variant."""
    y = np.random.default_rng(2).standard_normal((3, 6, 2, 5, 1)) + np.array([0.0, 4.0, -2.0])[:, None, None, None, None]
    w = np.array([0.25, 0.75, 0.0])
    terms = variance_terms(y, 4, {1: 0}, {0: w})
    pooled = np.repeat(y[:2].reshape(2, -1), [1, 3], axis=0).ravel()  # the mixture as equally weighted draws
    np.testing.assert_allclose(sum(terms.values())[0], pooled.var(), rtol=1e-12)
    means = y.mean(axis=(1, 2, 3))[:, 0]
    np.testing.assert_allclose(terms[frozenset({M})][0], np.sum(w * (means - np.sum(w * means)) ** 2), rtol=1e-12)
    dropped = variance_terms(y[:2], 4, {1: 0}, {0: w[:2]})
    for t in terms:
        np.testing.assert_allclose(terms[t], dropped[t], rtol=1e-12, atol=1e-15)


def test_a_pure_interaction_is_split_evenly_by_shapley():
    y = _grid(inter=1)
    terms = variance_terms(y, 4, {1: 0})
    total = sum(terms.values())[0]
    assert terms[frozenset({P, J})][0] / total > 0.9  # main effects are only sampling noise of the grid
    sh = shapley_split(terms)
    assert sh[P][0] == pytest.approx(sh[J][0], rel=0.1)
    assert sh[M][0] / total < 0.02


def test_additive_shares_match_the_generating_variances():
    """With independent normal effects of sd 1 and 2, shares approach 1/5 and 4/5 as the grid grows."""
    y = _grid(b=1, d=2, shape=(1, 400, 1, 400), seed=3)
    terms = variance_terms(y, 4, {1: 0})
    total = sum(terms.values())[0]
    assert terms[frozenset({P})][0] / total == pytest.approx(0.2, abs=0.05)
    assert terms[frozenset({J})][0] / total == pytest.approx(0.8, abs=0.05)


def _months(values, n_months=24):
    """A fake arrival grid (model, posterior, scenario, param_draw, benchmark=1, threshold=1)."""
    v = np.asarray(values)[..., None, None].astype(np.int16)
    return xr.DataArray(np.minimum(v, n_months), dims=("model", "posterior", "scenario", "param_draw", "benchmark",
                                                      "threshold"),
                        coords={"model": [f"m{i}" for i in range(v.shape[0])],
                                "scenario": [f"s{i}" for i in range(v.shape[2])],
                                "benchmark": ["bench"], "threshold": [0.8]})


def test_table_known_answer():
    # arrivals differ only by scenario: per-scenario rows have no spread; the pooled row is all scenario choice
    months = _months(np.broadcast_to(np.array([0, 12])[None, None, :, None], (2, 3, 2, 4)))
    requested = xr.DataArray([[True]], dims=("benchmark", "threshold"),
                             coords={"benchmark": ["bench"], "threshold": [0.8]})
    table = budget_table(months, requested, start_month=2026 * 12, n_months=24)
    assert list(table["scenario"]) == ["s0", "s1", "all scenarios"]
    per = table.set_index("scenario")
    assert per.loc["s0", "sd_year"] == 0 and np.isnan(per.loc["s0", "shapley_posterior"])
    assert per.loc["all scenarios", "mean_year"] == pytest.approx(2026.5)
    assert per.loc["all scenarios", "sd_year"] == pytest.approx(0.5)
    assert per.loc["all scenarios", "shapley_scenario_choice"] == pytest.approx(1.0)
    # censored draws count at the horizon and are reported
    months = _months(np.array([0, 30, 30, 6]).reshape(1, 4, 1, 1))
    row = budget_table(months, requested, 2026 * 12, 24).iloc[0]
    assert row["censored_share"] == 0.5
    assert row["mean_year"] == pytest.approx(2026 + (0 + 24 + 24 + 6) / 4 / 12)
    assert row["shapley_posterior"] == pytest.approx(1.0)


@pytest.fixture(scope="module")
def budget_out(fitted_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("budget")
    twin = out / "twin.nc"  # the same fit under another name: a "variant" that cannot differ
    shutil.copyfile(fitted_run, twin)
    args = ["budget", "--fit", str(fitted_run), "--fit", str(twin), "--scenarios", str(REPO / "data/scenarios"),
            "--posterior-draws", "60", "--param-draws", "50", "--seed", "4", "--allow-unconverged"]
    res = CliRunner().invoke(main, args + ["--out", str(out / "a")])
    assert res.exit_code == 0, res.output
    res2 = CliRunner().invoke(main, args + ["--out", str(out / "b")])
    assert res2.exit_code == 0, res2.output
    return out, res.output


def test_budget_command_writes_consistent_tables(budget_out):
    out, output = budget_out
    table = pd.read_csv(out / "a/budget.csv")
    assert tuple(table.columns) == COLUMNS
    varies = table.dropna(subset=["shapley_posterior"])
    assert len(varies) > 0
    shap = varies[[f"shapley_{f}" for f in FACTORS]].sum(axis=1)
    np.testing.assert_allclose(shap, 1.0, atol=1e-5)
    main_plus = varies[[f"share_{f}" for f in FACTORS] + ["share_interactions"]].sum(axis=1)
    np.testing.assert_allclose(main_plus, 1.0, atol=1e-5)
    # the same run twice: the model variant explains nothing
    np.testing.assert_allclose(varies["shapley_model"], 0.0, atol=1e-5)
    per_scenario = varies[varies["scenario"] != "all scenarios"]
    np.testing.assert_allclose(per_scenario["shapley_scenario_choice"], 0.0, atol=1e-5)
    assert "UNCONVERGED" in (out / "a/budget.md").read_text()
    prov = json.loads((out / "a/provenance.json").read_text())
    assert prov["converged"] is False and len(prov["fits"]) == 2
    assert "UNCONVERGED" in output


def test_budget_is_reproducible(budget_out):
    out, _ = budget_out
    files = sorted(p.name for p in (out / "a").iterdir())
    assert {"budget.csv", "budget.md", "provenance.json"} <= set(files) and any(f.endswith(".png") for f in files)
    for name in files:
        assert (out / "a" / name).read_bytes() == (out / "b" / name).read_bytes(), name


@pytest.mark.parametrize("extra, needle", [(["--posterior-draws", "1"], "--posterior-draws"),
                                           (["--param-draws", "0"], "--param-draws")])
def test_budget_bad_options(fitted_run, tmp_path, extra, needle):
    res = CliRunner().invoke(main, ["budget", "--fit", str(fitted_run), "--scenarios", str(REPO / "data/scenarios"),
                                    "--out", str(tmp_path / "o"), "--allow-unconverged", *extra])
    assert res.exit_code == 2 and needle in res.output and "Traceback" not in res.output
    assert not (tmp_path / "o").exists()


def test_budget_refuses_the_same_run_twice(fitted_run, tmp_path):
    res = CliRunner().invoke(main, ["budget", "--fit", str(fitted_run), "--fit", str(fitted_run), "--scenarios",
                                    str(REPO / "data/scenarios"), "--out", str(tmp_path / "o"), "--allow-unconverged"])
    assert res.exit_code == 2 and "given twice" in res.output and str(fitted_run) in res.output
    assert not (tmp_path / "o").exists()
