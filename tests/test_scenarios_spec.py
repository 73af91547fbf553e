"""Scenario and threshold files: shipped presets load, bad files fail naming file and key."""

import datetime as dt
import re

import numpy as np
import pytest
from conftest_scenarios import REPO, write_scenario

from rlforecast.errors import InputError
from rlforecast.scenarios.spec import (common_uniforms, draw_values, load_scenario, load_scenarios,
                                       load_thresholds, parse_start, read_thresholds, transform,
                                       with_start)

PRESETS = ("rl-to-parity", "rl-stalls", "inference-led", "inference-cost-capped", "frontier-push")
MINIMAL = "[rl]\ngrowth_per_year = 10\n[inference]\ntokens_growth_per_year = 3\n"


def test_presets_load_with_the_default_grid():
    """Presets give no start: they begin at the forecast date (here a stand-in for a fit's)."""
    scenarios = load_scenarios(REPO / "data" / "scenarios")
    names = [sc.name for sc in scenarios]
    assert set(PRESETS) <= set(names)
    assert all(sc.start is None and sc.horizon == 2040 for sc in scenarios)
    for sc in with_start(scenarios, dt.date(2026, 7, 1)):
        assert sc.start == dt.date(2026, 7, 1) and sc.n_months == 14 * 12 + 6


def test_a_given_start_is_kept_and_a_horizon_before_the_forecast_date_is_refused(tmp_path):
    given = load_scenario(write_scenario(tmp_path, "given", "start = 2027-03-01\n" + MINIMAL))
    short = load_scenario(write_scenario(tmp_path, "short", "horizon = 2026\n" + MINIMAL))
    assert with_start([given], dt.date(2026, 7, 1))[0].start == dt.date(2027, 3, 1)
    with pytest.raises(InputError) as err:
        with_start([short], dt.date(2027, 2, 1))
    assert "short.toml, key 'horizon': must be >= the start year 2027 (the forecast date, 2027-02-01), got 2026" \
        in err.value.report()
    for text, message in (("2027-03-15", "must be the first day of a month"), ("March", "must be a date YYYY-MM-DD")):
        with pytest.raises(InputError, match=message):
            parse_start(text)


def test_every_preset_number_cites_a_source():
    for path in (REPO / "data" / "scenarios").glob("*.toml"):
        for line in path.read_text().splitlines():
            if re.match(r"^\s*\w+\s*=\s*[-\d{]", line) and not line.lstrip().startswith(("start", "horizon")):
                assert "#" in line and len(line.split("#", 1)[1].strip()) > 5, f"{path.name}: {line}"


def test_minimal_scenario_defaults(tmp_path):
    sc = load_scenario(write_scenario(tmp_path, "mini", MINIMAL))
    assert sc.name == "mini" and sc.start is None and sc.horizon == 2040
    assert sc.values == {"rl.growth_per_year": 10, "inference.tokens_growth_per_year": 3}


@pytest.mark.parametrize("body, key, message", [
    (MINIMAL.replace("growth_per_year = 10", "growth_per_yer = 10"), "rl.growth_per_yer",
     "did you mean 'growth_per_year'"),
    (MINIMAL.replace("= 10", "= -2"), "rl.growth_per_year", "must be >= 1 (x per year), got -2"),
    (MINIMAL.replace("= 10", "= 0.5"), "rl.growth_per_year", "must be >= 1 (x per year), got 0.5"),
    (MINIMAL.replace("= 10", '= {dist = "gamma", low = 1, high = 2}'), "rl.growth_per_year.dist",
     "unknown distribution 'gamma'"),
    ("[rl]\ngrowth_per_year = 10\n", "inference.tokens_growth_per_year", "missing required key"),
    (MINIMAL.replace("= 10", '= "ten"'), "rl.growth_per_year", "must be a number or a distribution table"),
    (MINIMAL.replace("= 10", "= true"), "rl.growth_per_year", "must be a number or a distribution table"),
    (MINIMAL.replace("= 10", '= {dist = "interval80", low = 20, high = 5}'), "rl.growth_per_year",
     "interval low must be < high"),
    (MINIMAL.replace("= 10", '= {dist = "interval80", low = 0.5, high = 5}'), "rl.growth_per_year.low",
     "must be >= 1"),
    (MINIMAL.replace("= 10", '= {dist = "normal", mu = 5}'), "rl.growth_per_year.sigma", "missing required key"),
    (MINIMAL.replace("= 10", '= {dist = "normal", mu = 5, sigma = 1, sd = 2}'), "rl.growth_per_year.sd",
     "unknown key"),
    ("horizn = 2040\n" + MINIMAL, "horizn", "did you mean 'horizon'"),
    ('start = "2026-01-15"\n' + MINIMAL, "start", "first day of a month"),
    ("start = 2026-01-01\nhorizon = 2020\n" + MINIMAL, "horizon", "must be >= the start year"),
    (MINIMAL + "max_tokens_multiple = 0.5\n", "inference.max_tokens_multiple", "must be >= 1"),
    (MINIMAL.replace("growth_per_year = 10", "growth_per_year = 10\nmax_ratio = 1"), "rl.ratio_today",
     "required together"),
    (MINIMAL + "budget_usd_per_task = 17\n", "inference.cost_usd_per_task_today", "required together"),
    (MINIMAL + "[anchor]\ngpqa = 3\n", "anchor.gpqa", "must be a model id string"),
])
def test_invalid_scenarios_name_file_and_key(tmp_path, body, key, message):
    path = write_scenario(tmp_path, "bad", body)
    with pytest.raises(InputError) as err:
        load_scenario(path)
    text = str(err.value)
    assert f"{path}, key '{key}'" in text and message in text, text


def test_the_brief_example_message(tmp_path):
    path = write_scenario(tmp_path, "x", MINIMAL.replace("= 10", "= 0.5"))
    with pytest.raises(InputError, match=re.escape(f"{path}, key 'rl.growth_per_year': must be >= 1 "
                                                   "(x per year), got 0.5")):
        load_scenario(path)


def test_every_problem_reported_and_bad_toml(tmp_path):
    path = write_scenario(tmp_path, "many", "[rl]\ngrowth_per_year = 0\nfoo = 1\n")
    with pytest.raises(InputError) as err:
        load_scenario(path)
    assert len(err.value.problems) == 3  # growth, unknown key, missing inference
    broken = write_scenario(tmp_path, "broken", "[rl\n")
    with pytest.raises(InputError, match="not valid TOML"):
        load_scenario(broken)


def test_folder_rules(tmp_path):
    with pytest.raises(InputError, match="no scenario files"):
        load_scenarios(tmp_path)
    write_scenario(tmp_path, "a", MINIMAL)
    write_scenario(tmp_path, "b", "horizon = 2035\n" + MINIMAL)
    with pytest.raises(InputError, match="share the time grid"):
        load_scenarios(tmp_path)
    write_scenario(tmp_path, "b", 'name = "a"\n' + MINIMAL)
    with pytest.raises(InputError, match="also used by"):
        load_scenarios(tmp_path)


def test_distributions_hit_their_stated_quantiles():
    u = np.array([0.1, 0.5, 0.9])
    np.testing.assert_allclose(transform({"dist": "interval80", "low": 4, "high": 25}, u), [4, 10, 25])
    np.testing.assert_allclose(transform({"dist": "lognormal", "median": 10, "sigma_log10": 1}, u)[1], 10)
    np.testing.assert_allclose(transform({"dist": "uniform", "low": 1, "high": 3}, u), [1.2, 2, 2.8])
    np.testing.assert_allclose(transform({"dist": "loguniform", "low": 0.1, "high": 1}, np.array([0.5])),
                               [10 ** -0.5])
    np.testing.assert_allclose(transform({"dist": "normal", "mu": 2, "sigma": 1}, np.array([0.5])), [2])


def test_draws_clip_to_the_allowed_range(tmp_path):
    sc = load_scenario(write_scenario(
        tmp_path, "wide", MINIMAL.replace("= 10", '= {dist = "interval80", low = 1, high = 100}')))
    draws = draw_values(sc, common_uniforms(sc.values, 2000, seed=1))["rl.growth_per_year"]
    assert draws.min() == 1.0 and 0.05 < (draws == 1.0).mean() < 0.15  # ~10% mass on "stalls"


def test_common_random_numbers_do_not_depend_on_other_keys():
    a = common_uniforms(["rl.growth_per_year"], 50, seed=3)
    b = common_uniforms(["inference.tokens_growth_per_year", "rl.growth_per_year"], 50, seed=3)
    np.testing.assert_array_equal(a["rl.growth_per_year"], b["rl.growth_per_year"])
    assert not np.array_equal(b["rl.growth_per_year"], b["inference.tokens_growth_per_year"])
    assert not np.array_equal(a["rl.growth_per_year"], common_uniforms(["rl.growth_per_year"], 50, 4)["rl.growth_per_year"])


def test_thresholds_default_and_overrides(tmp_path):
    shipped = load_thresholds(REPO / "data" / "thresholds.toml", ["x", "y"])
    assert shipped == {"x": (0.5, 0.8, 0.9), "y": (0.5, 0.8, 0.9)}
    path = tmp_path / "t.toml"
    path.write_text("[default]\nlevels = [0.9, 0.5]\n[benchmarks]\ny = [0.7]\n")
    assert load_thresholds(path, ["x", "y"]) == {"x": (0.5, 0.9), "y": (0.7,)}


def test_sourced_levels_join_the_plain_ones_with_their_source(tmp_path):
    levels, sourced = read_thresholds(REPO / "data" / "thresholds.toml", ["gpqa_diamond", "mmlu", "x"])
    assert levels["gpqa_diamond"] == (0.34, 0.5, 0.65, 0.8, 0.9) and levels["x"] == (0.5, 0.8, 0.9)
    assert sourced["gpqa_diamond"][0.65].label == "domain experts (PhD)"
    assert "arXiv:2311.12022" in sourced["gpqa_diamond"][0.65].source and "x" not in sourced
    every = read_thresholds(REPO / "data" / "thresholds.toml", ["arc_agi_1", "arc_agi_2", "gpqa_diamond", "math",
                                                                 "mmlu"])[1]
    assert sum(len(v) for v in every.values()) == 10 and all(x.source for v in every.values() for x in v.values())
    path = tmp_path / "t.toml"  # a sourced level equal to a plain one is one threshold, with its meaning
    path.write_text('[default]\nlevels = [0.5, 0.9]\n[[sourced.y]]\nlevel = 0.9\nlabel = "expert"\nsource = "paper"\n')
    levels, sourced = read_thresholds(path, ["y"])
    assert levels == {"y": (0.5, 0.9)} and sourced["y"][0.9].label == "expert"


@pytest.mark.parametrize("body, key, message", [
    ("[default]\nlevels = [0.5]\n[[sourced.gpqa_diamond]]\nlevel = 0.65\nlabel = \"experts\"\n",
     "sourced.gpqa_diamond[0].source", "non-empty string"),
    ("[default]\nlevels = [0.5]\n[[sourced.gpqa_diamond]]\nlevel = 65\nlabel = \"x\"\nsource = \"y\"\n",
     "sourced.gpqa_diamond[0].level", "share in (0, 1]"),
    ("[default]\nlevels = [0.5]\n[[sourced.gpqa_diamond]]\nlevel = 0.6\nlabel = \"x\"\nsource = \"y\"\nurl = 1\n",
     "sourced.gpqa_diamond[0].url", "unknown key"),
    ("[default]\nlevels = [0.5]\n[benchmarks]\ngpqa_diamnd = [0.5]\n", "benchmarks.gpqa_diamnd",
     "did you mean 'gpqa_diamond'"),
    ("[default]\nlevels = [0.5, 1.5]\n", "default.levels", "shares in (0, 1]"),
    ("[benchmarks]\ngpqa_diamond = [0.5]\n", "default.levels", "missing [default] levels"),
    ("[defaults]\nlevels = [0.5]\n", "defaults", "did you mean 'default'"),
])
def test_invalid_thresholds_name_file_and_key(tmp_path, body, key, message):
    path = tmp_path / "thr.toml"
    path.write_text(body)
    with pytest.raises(InputError) as err:
        load_thresholds(path, ["gpqa_diamond", "otis_mock_aime"])
    assert f"{path}, key '{key}'" in str(err.value) and message in str(err.value), str(err.value)
