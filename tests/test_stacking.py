"""Stacking weights carried into the dates: reading weights, allocating and mixing variants' draws, and the
``forecast --fit A --fit B --weights FILE`` command."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import REPO
from conftest_scenarios import fake_state

from rlforecast.cli import main
from rlforecast.errors import InputError
from rlforecast.scenarios.stacking import allocate, mix_states, read_weights


def _weights(tmp_path, body: str):
    path = tmp_path / "cv_models.csv"
    path.write_text(body)
    return path


def _named(names):
    """Variants known by name only (a weights file without spec hashes is matched by name)."""
    return {n: {} for n in names}


def test_weights_are_read_for_the_given_variants(tmp_path):
    path = _weights(tmp_path, "model,scheme,stacking_weight\nbaseline,family,0.25\nprogress,family,0.75\n"
                              "no-pooling,family,0\n")
    assert read_weights(path, _named(["progress", "baseline"])) == {"progress": 0.75, "baseline": 0.25}


@pytest.mark.parametrize("body, names, needle", [
    ("model,weight\nbaseline,1\n", ["baseline", "progress"], "missing column(s) stacking_weight"),
    ("model,stacking_weight\nbaseline,-0.1\nprogress,1.1\n", ["baseline", "progress"], "row 2, column 'stacking_weight'"),
    ("model,stacking_weight\nbaseline,x\nprogress,1\n", ["baseline", "progress"], "got 'x'"),
    ("model,stacking_weight\nbaseline,0.5\nbaseline,0.5\n", ["baseline", "progress"], "appears twice"),
    ("model,stacking_weight\nbaseline,1\n", ["baseline", "progress"], "no weight for progress"),
    ("model,stacking_weight\nbaseline,0.3\nprogress,0.3\nno-pooling,0.4\n", ["baseline", "progress"],
     "no-pooling carry stacking weight"),
    ("model,stacking_weight\nbaseline,0.6\nprogress,0.6\n", ["baseline", "progress"], "add up to 1.2"),
])
def test_bad_weights_name_the_file_and_what_is_wrong(tmp_path, body, names, needle):
    path = _weights(tmp_path, body)
    with pytest.raises(InputError) as err:
        read_weights(path, _named(names))
    assert str(path) in str(err.value) and needle in str(err.value)


def test_weights_the_optimiser_left_near_zero_may_be_left_out(tmp_path):
    path = _weights(tmp_path, "model,stacking_weight\nbaseline,0.9999999998\nprogress,1.353e-10\nno-pooling,6e-11\n")
    assert read_weights(path, _named(["baseline", "no-pooling"])) == pytest.approx({"baseline": 1.0, "no-pooling": 6e-11})
    with pytest.raises(InputError, match="--weights.*several fits"):
        read_weights(path, _named(["baseline"]))


def test_fits_are_matched_by_spec_hash_and_must_share_the_weights_data(tmp_path):
    path = _weights(tmp_path, "model,stacking_weight,spec_hash,data_sha256\n"
                              "baseline (a),0.2,aaa,ddd\nbaseline (b),0.8,bbb,ddd\n")
    # compare --cv named the runs in its own order; given in the other order, each fit still gets its own weight
    got = read_weights(path, {"baseline (a)": {"spec_hash": "bbb", "data_sha256": "ddd"},
                              "baseline (b)": {"spec_hash": "aaa", "data_sha256": "ddd"}})
    assert got == pytest.approx({"baseline (a)": 0.8, "baseline (b)": 0.2})
    with pytest.raises(InputError, match=r"row 3, column 'data_sha256'.*other observations"):
        read_weights(path, {"x": {"spec_hash": "aaa", "data_sha256": "ddd"}, "y": {"spec_hash": "bbb", "data_sha256": "eee"}})
    with pytest.raises(InputError, match=r"column 'spec_hash'.*no weight for y"):
        read_weights(path, {"x": {"spec_hash": "aaa", "data_sha256": "ddd"}, "y": {"spec_hash": "ccc", "data_sha256": "ddd"}})
    same = _weights(tmp_path, "model,stacking_weight,spec_hash\nbaseline,0.3,aaa\nbaseline (seed 2),0.7,aaa\n")
    assert read_weights(same, {"baseline (seed 2)": {"spec_hash": "aaa"}, "baseline": {"spec_hash": "aaa"}}) == \
        pytest.approx({"baseline (seed 2)": 0.7, "baseline": 0.3})  # one spec twice: the name decides
    with pytest.raises(InputError, match=r"row 2, column 'model'.*rows 2, 3 .* have its spec and none has its name"):
        read_weights(same, {"baseline (seed 3)": {"spec_hash": "aaa"}, "baseline": {"spec_hash": "aaa"}})
    one = _weights(tmp_path, "model,stacking_weight,spec_hash\nbaseline (a),0.2,aaa\nbaseline (b),0.8,bbb\n")
    with pytest.raises(InputError, match=r"row 2, column 'model'.*fits x, y match the same row \('baseline \(a\)'\)"):
        read_weights(one, {"x": {"spec_hash": "aaa", "data_sha256": "ddd"}, "y": {"spec_hash": "aaa", "data_sha256": "ddd"}})


def test_allocation_is_proportional_and_exact():
    assert allocate({"a": 0.25, "b": 0.75}, 100) == {"a": 25, "b": 75}
    counts = allocate({"a": 1 / 3, "b": 1 / 3, "c": 1 / 3}, 100)
    assert sum(counts.values()) == 100 and sorted(counts.values()) == [33, 33, 34]
    assert allocate({"a": 1.0, "b": 0.0}, 7) == {"a": 7, "b": 0}


def test_mixture_takes_each_variants_draws_in_proportion():
    low = fake_state(np.linspace(-3, -2, 40)[:, None], 0.5, 1.0, 0.9, 0.0, benchmarks=["b0"])
    high = fake_state(np.linspace(2, 3, 60)[:, None], 0.5, 1.0, 0.9, 0.0, benchmarks=["b0"])
    mixed = mix_states({"low": low, "high": high}, {"low": 0.2, "high": 0.8}, 50)
    eta = mixed.eta_anchor.values[:, 0]
    assert mixed.sizes["sample"] == 50 and list(mixed.sample.values) == list(range(50))
    assert (mixed.variant.values == "low").sum() == 10 and (eta < 0).sum() == 10
    # evenly thinned: the draws taken span each variant's sample
    assert eta[mixed.variant.values == "high"].min() == 2.0 and eta[mixed.variant.values == "high"].max() > 2.9


def test_mixture_refuses_variants_with_different_frontiers():
    a = fake_state(np.zeros((4, 1)), 0.5, 1.0, 0.9, 0.0, benchmarks=["b0"])
    b = a.assign_coords(anchor_model=("benchmark", ["another-model"]))
    with pytest.raises(InputError, match="different frontiers"):
        mix_states({"a": a, "b": b}, {"a": 0.5, "b": 0.5}, 10)


def test_forecast_mixes_variants_by_their_weights(fitted_run, tmp_path):
    """A run and its twin: weights (1, 0) give the single fit's tables byte for byte; (0.5, 0.5) keep them
    within Monte Carlo error (the same posterior), and provenance and footer name the variants."""
    twin = tmp_path / "twin.nc"
    shutil.copyfile(fitted_run, twin)
    base = ["--scenarios", str(REPO / "data/scenarios/rl-to-parity.toml"), "--seed", "3", "--param-draws", "400",
            "--allow-unconverged"]
    runner = CliRunner()
    single = runner.invoke(main, ["forecast", "--fit", str(fitted_run), "--out", str(tmp_path / "single"), *base])
    assert single.exit_code == 0, single.output
    for name, w in (("one", "1,0"), ("half", "0.5,0.5")):
        weights = _weights(tmp_path, f"model,stacking_weight\nbaseline,{w.split(',')[0]}\nbaseline (twin),{w.split(',')[1]}\n")
        res = runner.invoke(main, ["forecast", "--fit", str(fitted_run), "--fit", str(twin), "--weights", str(weights),
                                   "--out", str(tmp_path / name), *base])
        assert res.exit_code == 0, res.output
        assert "stacked mixture: baseline" in res.output
    same = (tmp_path / "single/arrival_quantiles.csv").read_bytes()
    assert (tmp_path / "one/arrival_quantiles.csv").read_bytes() == same
    import json

    import pandas as pd

    prov = json.loads((tmp_path / "half/provenance.json").read_text())
    assert [(v["name"], v["n_draws"]) for v in prov["mixture"]["variants"]] == [("baseline", 200), ("baseline (twin)", 200)]
    assert "stacked mixture of baseline (weight 0.500" in (tmp_path / "half/policy_table.md").read_text()
    a = pd.read_csv(tmp_path / "single/arrival_cdf.csv")
    b = pd.read_csv(tmp_path / "half/arrival_cdf.csv")
    # the twin mixture thins the same posterior differently: P(reached) agrees within binomial MC error
    diff = (a["p_reached"] - b["p_reached"]).abs()
    assert diff.max() < 4 * np.sqrt(0.25 / 400) * np.sqrt(2)


def test_several_fits_need_weights(fitted_run, tmp_path):
    twin = tmp_path / "twin.nc"
    shutil.copyfile(fitted_run, twin)
    res = CliRunner().invoke(main, ["forecast", "--fit", str(fitted_run), "--fit", str(twin), "--scenarios",
                                    str(REPO / "data/scenarios"), "--out", str(tmp_path / "out"), "--allow-unconverged"])
    assert res.exit_code == 2 and "--weights" in res.output and "cv_models.csv" in res.output
    assert not (tmp_path / "out").exists()


def test_budget_weights_a_variant_out_when_its_weight_is_zero(fitted_run, tmp_path):
    """The model share uses the stacking weights: weights (1, 0) on a run and its twin give the single fit's
    budget (no model share); the weights are recorded."""
    import json

    import pandas as pd

    twin = tmp_path / "twin.nc"
    shutil.copyfile(fitted_run, twin)
    weights = _weights(tmp_path, "model,stacking_weight\nbaseline,1\nbaseline (twin),0\n")
    base = ["budget", "--scenarios", str(REPO / "data/scenarios/rl-to-parity.toml"), "--posterior-draws", "30", "--param-draws", "20",
            "--seed", "4", "--allow-unconverged"]
    runner = CliRunner()
    one = runner.invoke(main, [*base, "--fit", str(fitted_run), "--out", str(tmp_path / "one")])
    both = runner.invoke(main, [*base, "--fit", str(fitted_run), "--fit", str(twin), "--weights", str(weights),
                                "--out", str(tmp_path / "both")])
    assert one.exit_code == 0 and both.exit_code == 0, one.output + both.output
    a, b = (pd.read_csv(tmp_path / d / "budget.csv") for d in ("one", "both"))
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-9, atol=1e-9)
    fits = json.loads((tmp_path / "both/provenance.json").read_text())["fits"]
    assert [f["weight"] for f in fits] == [1.0, 0.0]
    assert "(stacking weight 0.000," in (tmp_path / "both/budget.md").read_text()
    assert "weight" not in (tmp_path / "one/budget.md").read_text()


def test_report_forecasts_from_the_stacked_mixture(fitted_run, tmp_path):
    twin = tmp_path / "twin.nc"
    shutil.copyfile(fitted_run, twin)
    weights = _weights(tmp_path, "model,stacking_weight\nbaseline,0.4\nbaseline (twin),0.6\n")
    out = tmp_path / "report.html"
    res = CliRunner().invoke(main, ["report", "--fit", str(fitted_run), "--variant", str(twin), "--weights", str(weights),
                                    "--scenarios", str(REPO / "data/scenarios/rl-to-parity.toml"), "--out", str(out),
                                    "--param-draws", "200", "--budget-posterior-draws", "20",
                                    "--budget-param-draws", "20", "--allow-unconverged"])
    assert res.exit_code == 0, res.output
    text = out.read_text()
    assert "stacked mixture of the variants' posteriors (stacking weights baseline 0.400, baseline (twin) 0.600)" in text
    assert "baseline 0.4000 (80 draws), baseline (twin) 0.6000 (120 draws)" in text


def test_explorer_offers_the_stacked_mixture_first(fitted_run, tmp_path):
    from rlforecast.explore import explorer_payload

    twin = tmp_path / "twin.nc"
    shutil.copyfile(fitted_run, twin)
    weights = _weights(tmp_path, "model,stacking_weight\nbaseline,0.5\nbaseline (twin),0.5\n")
    payload = explorer_payload([str(fitted_run), str(twin)], str(REPO / "data/scenarios"), draws=40,
                               allow_unconverged=True, weights_path=str(weights))
    names = [v["name"] for v in payload["variants"]]
    assert names == ["stacked mixture (baseline 0.50, baseline (twin) 0.50)", "baseline", "baseline (twin)"]
    mixture, single = payload["variants"][0], payload["variants"][1]
    assert mixture["benchmarks"] == single["benchmarks"] and len(mixture["states"]) == len(single["states"])
