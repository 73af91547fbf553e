"""End to end ``forecast_command`` on a hand-computable point-mass posterior (fit interface faked).

eta_anchor = 0, slope_inf = 1 per decade, floor 0, ceiling 1; inference grows 10x per year and RL stalls, so
eta(t) = t (years) and accuracy = logistic(t): 0.5 at the start (2026-01), logistic(1) = 0.73106 after twelve
months (2027-01), logistic(3) = 0.9526 after 36 months (2029-01). Threshold 0.7311 just misses logistic(1)
and arrives one month later (2027-02, year 2027.0833).
"""

import csv

import numpy as np
import pytest
import xarray as xr
from conftest_scenarios import REPO, fake_state, install_fake_fit, write_scenario

from rlforecast.errors import ConvergenceError, InputError
from rlforecast.scenarios import figures, tables
from rlforecast.scenarios.forecast import forecast_command

RENDER = figures.render

STALL_RL_FAST_INF = "horizon = 2030\n[rl]\ngrowth_per_year = 1.0\n[inference]\ntokens_growth_per_year = 10\n"
RL_ONLY = "horizon = 2030\n[rl]\ngrowth_per_year = 10\n[inference]\ntokens_growth_per_year = 1\n"
TEXT_OUTPUTS = ("arrival_quantiles.csv", "arrival_cdf.csv", "scenario_diff.csv", "policy_table.md",
                "policy_table.tex", "provenance.json")


def read_csv(path):
    with open(path, newline="") as fh:
        reader = csv.reader(fh)
        return next(reader), list(reader)


@pytest.fixture
def setup(tmp_path, monkeypatch):
    """Point-mass posterior (3 identical draws); benchmark b has ceiling 0.9 so 0.95 is never reached."""
    state = fake_state(np.zeros((3, 2)), 0.5, 1.0, [[1.0, 0.9]] * 3, 0.0, benchmarks=["a", "b"])
    install_fake_fit(monkeypatch, state)
    monkeypatch.setattr(figures, "render", lambda fig: {"png": b"png", "svg": b"svg"})  # fast; see real_figures
    fit = tmp_path / "run.nc"
    fit.write_bytes(b"fake fit")
    folder = tmp_path / "scenarios"
    folder.mkdir()
    write_scenario(folder, "inference-only", STALL_RL_FAST_INF)
    write_scenario(folder, "rl-only", RL_ONLY)
    thresholds = tmp_path / "thresholds.toml"
    thresholds.write_text("[default]\nlevels = [0.5, 0.731, 0.7311, 0.95]\n")
    return {"fit": fit, "scenarios": folder, "thresholds": thresholds, "tmp": tmp_path, "monkeypatch": monkeypatch}


def run(setup, out="out", **kwargs):
    lines = []
    kwargs.setdefault("thresholds_path", setup["thresholds"])
    forecast_command(setup["fit"], setup["scenarios"], setup["tmp"] / out, echo=lines.append, **kwargs)
    return setup["tmp"] / out, lines


def test_known_arrival_years_and_exact_contract_columns(setup):
    out, lines = run(setup)
    header, rows = read_csv(out / "arrival_quantiles.csv")
    assert header == ["scenario", "benchmark", "threshold", "quantile", "year"]
    years = {(r[0], r[1], r[2], r[3]): r[4] for r in rows}
    assert {r[3] for r in rows} == {"0.05", "0.1", "0.25", "0.5", "0.75", "0.9", "0.95"}
    for q in ("0.05", "0.5", "0.95"):
        assert years[("inference-only", "a", "0.5", q)] == "2026.0000"
        assert years[("inference-only", "a", "0.731", q)] == "2027.0000"
        assert years[("inference-only", "a", "0.7311", q)] == "2027.0833"
        assert years[("inference-only", "a", "0.95", q)] == "2029.0000"
        assert years[("inference-only", "b", "0.95", q)] == ""  # at or above the ceiling: censored, no fake date
        # RL: slope 0.5 per decade at 10x/yr -> eta = t / 2, logistic(1) after 24 months
        assert years[("rl-only", "a", "0.731", q)] == "2028.0000"
    assert len(rows) == 2 * 2 * 4 * 7

    header, rows = read_csv(out / "arrival_cdf.csv")
    assert header == ["scenario", "benchmark", "threshold", "year", "p_reached"]
    cdf = {(r[0], r[1], r[2], r[3]): float(r[4]) for r in rows}
    assert [cdf[("inference-only", "a", "0.731", str(y))] for y in range(2026, 2031)] == [0, 1, 1, 1, 1]
    assert [cdf[("inference-only", "a", "0.95", str(y))] for y in range(2026, 2031)] == [0, 0, 0, 1, 1]
    assert all(cdf[("inference-only", "b", "0.95", str(y))] == 0 for y in range(2026, 2031))
    assert any("inference-only" in line and "0.7311" in line and "2027-02" in line for line in lines)  # summary: middle level


def test_scenario_differences_are_per_draw(setup):
    out, _ = run(setup)
    header, rows = read_csv(out / "scenario_diff.csv")
    row = {(r[0], r[2], r[3]): dict(zip(header, r)) for r in rows}
    d = row[("rl-only", "a", "0.731")]  # reference = first scenario (no rl-to-parity here)
    assert d["reference"] == "inference-only"
    assert d["median_diff_years"] == "1.0000" and d["p_later"] == "1" and d["p_earlier"] == "0"
    assert row[("rl-only", "b", "0.95")]["p_neither"] == "1" and row[("rl-only", "b", "0.95")]["median_diff_years"] == ""


def test_uncertain_posterior_quantiles_and_censored_mass(setup):
    # Four draws: eta_anchor 0, -1, -2 and -inf-ish (never reaches 0.731 by 2030).
    state = fake_state(np.array([[0.0], [-1.0], [-2.0], [-50.0]]), 0.5, 1.0, 1.0, 0.0, benchmarks=["a"])
    install_fake_fit(setup["monkeypatch"], state)
    setup["thresholds"].write_text("[default]\nlevels = [0.731]\n")
    out, _ = run(setup)
    _, rows = read_csv(out / "arrival_quantiles.csv")
    years = {r[3]: r[4] for r in rows if r[0] == "inference-only"}
    assert years == {"0.05": "2027.0000", "0.1": "2027.0000", "0.25": "2027.0000", "0.5": "2028.0000",
                     "0.75": "2029.0000", "0.9": "", "0.95": ""}
    _, rows = read_csv(out / "arrival_cdf.csv")
    assert [r[4] for r in rows if r[0] == "inference-only"] == ["0", "0.25", "0.5", "0.75", "0.75"]
    md = (out / "policy_table.md").read_text()
    assert "| inference-only | a | 0.731 |  | 2028-01 | 2027-01 to after 2030 |" in md and "25% |" in md


def test_dask_local_cluster_gives_identical_tables(setup):
    distributed = pytest.importorskip("distributed")
    local, _ = run(setup, "local")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        remote, _ = run(setup, "cluster", scheduler=cluster.scheduler_address)
    for name in TEXT_OUTPUTS:
        assert (local / name).read_bytes() == (remote / name).read_bytes(), name


def real_figures(setup):
    setup["monkeypatch"].setattr(figures, "render", RENDER)


def test_same_seed_same_bytes(setup):
    real_figures(setup)
    setup["monkeypatch"].setattr("rlforecast.scenarios.propagate.CHUNK_SAMPLES", 3)  # several chunks
    write_scenario(setup["scenarios"], "uncertain",
                   'horizon = 2030\n[rl]\ngrowth_per_year = {dist = "interval80", low = 2, high = 20}\n'
                   '[inference]\ntokens_growth_per_year = {dist = "lognormal", median = 3, sigma_log10 = 0.3}\n')
    first, _ = run(setup, "one", seed=5, param_draws=20)
    second, _ = run(setup, "two", seed=5, param_draws=20)
    setup["monkeypatch"].setattr(figures, "render", lambda fig: {})
    other, _ = run(setup, "three", seed=6, param_draws=20)
    names = TEXT_OUTPUTS + ("fan_a.svg", "cdf_a.svg", "fan_a.png", "cdf_a.png")
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    assert (first / "arrival_quantiles.csv").read_bytes() != (other / "arrival_quantiles.csv").read_bytes()
    expected = {"policy_table.xlsx", "fan_b.png", "cdf_b.svg"} | set(names)
    assert expected <= {p.name for p in first.iterdir()}


def test_unconverged_fit_is_refused_then_marked(setup):
    state = fake_state(np.zeros((2, 1)), 1.0, 1.0, 1.0, 0.0, benchmarks=["a"])
    install_fake_fit(setup["monkeypatch"], state, passed=False)
    real_figures(setup)
    with pytest.raises(ConvergenceError, match="run.nc.*diagnostics"):
        run(setup, thresholds_path=None)
    assert not (setup["tmp"] / "out").exists()
    setup["thresholds"].write_text("[default]\nlevels = [0.5]\n")
    out, lines = run(setup, allow_unconverged=True)
    for name in ("policy_table.md", "policy_table.tex"):
        assert "UNCONVERGED FIT" in (out / name).read_text()
    assert b"UNCONVERGED FIT" in (out / "fan_a.svg").read_bytes()
    assert any("UNCONVERGED FIT" in line for line in lines)
    assert '"converged": false' in (out / "provenance.json").read_text()


def test_bad_input_writes_nothing(setup):
    setup["thresholds"].write_text("[default]\nlevels = [0.5]\n[benchmarks]\nzzz = [0.5]\n")
    with pytest.raises(InputError, match=r"thresholds.toml, key 'benchmarks.zzz'"):
        run(setup)
    write_scenario(setup["scenarios"], "bad-anchor", STALL_RL_FAST_INF + '[anchor]\nnope = "m"\n')
    setup["thresholds"].write_text("[default]\nlevels = [0.5]\n")
    with pytest.raises(InputError, match=r"bad-anchor.toml, key 'anchor.nope'"):
        run(setup)
    with pytest.raises(InputError, match="cannot read fit file"):
        forecast_command(setup["tmp"] / "missing.nc", setup["scenarios"] / "rl-only.toml", setup["tmp"] / "out")
    assert not (setup["tmp"] / "out").exists()


def test_anchor_override_moves_only_that_scenario(setup):
    write_scenario(setup["scenarios"], "inference-only", STALL_RL_FAST_INF + '[anchor]\na = "other-model"\n')
    out, _ = run(setup)
    _, rows = read_csv(out / "arrival_quantiles.csv")
    years = {(r[0], r[1], r[2]): r[4] for r in rows if r[3] == "0.5"}
    assert years[("inference-only", "a", "0.731")] == "2026.0000"  # fake override: eta_anchor + 1
    assert years[("inference-only", "b", "0.731")] != "2026.0000"
    assert years[("rl-only", "a", "0.731")] == "2028.0000"


def test_shipped_presets_run(setup):
    out = setup["tmp"] / "presets"
    forecast_command(setup["fit"], REPO / "data" / "scenarios", out, seed=1, param_draws=200, echo=lambda _: None)
    _, rows = read_csv(out / "scenario_diff.csv")
    assert {r[1] for r in rows} == {"rl-to-parity"}  # the essay's story is the reference
    header, rows = read_csv(out / "arrival_quantiles.csv")
    assert {r[0] for r in rows} >= {"rl-to-parity", "rl-stalls", "inference-led", "inference-cost-capped",
                                    "frontier-push"}


def test_policy_rows_say_met_at_the_forecast_date_and_name_sourced_levels():
    from rlforecast.scenarios.spec import SourcedLevel

    # one scenario, benchmarks a (saturated) and b (open), thresholds 0.5 and 0.8; 4 draws, months 0..2 + never
    arrivals = np.zeros((1, 2, 2, 4), dtype=int)
    arrivals[0, :, :, 0] = 4  # the model puts every draw at month 0 ...
    arrivals[0, 1, 1] = [0, 2, 1, 1]  # ... except b at 0.8: months 1, 1, 2, never
    counts = xr.Dataset({"arrivals": (("scenario", "benchmark", "threshold", "month"), arrivals)},
                        coords={"scenario": ["s"], "benchmark": ["a", "b"], "threshold": [0.5, 0.8]})
    requested = xr.DataArray(np.ones((2, 2), bool), dims=("benchmark", "threshold"),
                             coords={"benchmark": ["a", "b"], "threshold": [0.5, 0.8]})
    observed = {"a": (0.9, "m1", "2026-05-01"), "b": (0.6, "m2", "")}
    sourced = {"b": {0.8: SourcedLevel(0.8, "experts", "paper")}}
    header, rows = tables.policy_rows(counts, requested, 2026 * 12, 2026, observed=observed, sourced=sourced)
    assert [r[1:3] for r in rows] == [["b", "0.5"], ["b", "0.8"], ["a", "0.5"], ["a", "0.8"]]  # open first
    assert rows[0][4:6] == ["met at the forecast date", "observed 0.6 (m2)"] and rows[0][6:] == ["met"] * 3 + [""]
    assert rows[1][3:6] == ["experts", "2026-02", "2026-02 to after 2026"] and rows[1][-1] == "25%"
    assert rows[3][5] == "observed 0.9 (m1, 2026-05-01)"
    assert header[3] == "meaning"


def test_each_drivers_share_of_an_arrival_is_a_counterfactual_on_the_same_draws(setup):
    """a: slopes 0.5 (RL) and 1 (inference) per decade; both 10x per year: eta = 1.5 t reaches logit(0.731) =
    0.9997 after 8 months; without RL (eta = t) after 12, without inference (eta = t / 2) after 24."""
    write_scenario(setup["scenarios"], "both", "horizon = 2030\n[rl]\ngrowth_per_year = 10\n[inference]\n"
                                               "tokens_growth_per_year = 10\n")
    out, _ = run(setup)
    header, rows = read_csv(out / "drivers.csv")
    assert header == list(tables.DRIVER_COLUMNS)
    median = {(r[0], r[1], r[2], r[3]): r[4] for r in rows}
    assert {d for (_, _, _, d) in median} == {"all", "without_rl", "without_inference", "rl_only", "inference_only"}
    cell = {d: median[("both", "a", "0.731", d)] for d in ("all", "without_rl", "without_inference", "rl_only",
                                                            "inference_only")}
    assert cell == {"all": "2026.6667", "without_rl": "2027.0000", "without_inference": "2028.0000",
                    "rl_only": "2028.0000", "inference_only": "2027.0000"}
    assert median[("both", "b", "0.95", "all")] == ""  # above the ceiling: never, whatever the drivers
    md = (out / "policy_table.md").read_text()
    assert "earlier by RL compute | earlier by inference compute |" in md
    assert "| both | a | 0.731 |  | 2026-09 | 2026-09 to 2026-09 | 100% | 100% | n/a | 0% | 0.3 y | 1.3 y |" in md
    # without its only driver rl-only never arrives by 2030 (">" the 3 years left); a driver it lacks: 0
    assert "| rl-only | a | 0.731 |  | 2028-01 | 2028-01 to 2028-01 | 0% | 100% | n/a | 0% | >3.0 y | 0.0 y |" in md
