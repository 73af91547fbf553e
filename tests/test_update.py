"""``rlforecast update``: new results appended to a run's data, refitted, and the median shifts reported."""

from __future__ import annotations

import pandas as pd
import pytest
from click.testing import CliRunner

from rlforecast.cli import main
from rlforecast.data.build import to_csv_text

from conftest import REPO

BENCH = "otis_mock_aime"


def _release(df: pd.DataFrame) -> pd.DataFrame:
    """A new model family topping one benchmark: copies of the current best row's settings, near-perfect."""
    rows = df[df["benchmark"] == BENCH]
    best = rows.loc[pd.to_numeric(rows["accuracy"]).idxmax()]
    new = pd.DataFrame([best, best]).reset_index(drop=True)
    new["obs_id"] = ["new-release-a", "new-release-b"]
    new["model_id"] = ["newco-1", "newco-1-high"]
    new["family"] = "newco"
    new["release_date"] = "2026-10-01"
    new["accuracy"] = [0.93, 0.96]
    return new


@pytest.fixture(scope="module")
def updated(fitted_run, simulated, tmp_path_factory):
    df, _ = simulated
    d = tmp_path_factory.mktemp("update")
    new = d / "new.csv"
    new.write_text(to_csv_text(_release(df)))
    args = ["update", "--fit", str(fitted_run), "--new", str(new), "--out-fit", str(d / "run2.nc"),
            "--scenarios", str(REPO / "data/scenarios/rl-to-parity.toml"), "--out", str(d / "shifts.csv"),
            "--draws", "150", "--tune", "150", "--param-draws", "300", "--allow-unconverged"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    return d, res.output


def test_update_moves_the_frontier_of_the_benchmark_with_the_new_release(updated):
    d, output = updated
    shifts = pd.read_csv(d / "shifts.csv", keep_default_na=False)
    mine = shifts[shifts["benchmark"] == BENCH]
    assert (mine["anchor_after"] == "newco-1-high").all() and (mine["anchor_before"] != "newco-1-high").all()
    # a higher starting point can only bring reaching a threshold forward (never later by more than noise)
    p_before, p_after = mine["p_by_2030_before"].astype(float), mine["p_by_2030_after"].astype(float)
    assert (p_after >= p_before - 0.05).all()
    assert (p_after > p_before).any()
    others = shifts[shifts["benchmark"] != BENCH]
    assert (others["anchor_before"] == others["anchor_after"]).all()
    assert "newco-1-high" in output and "+2 rows" in output and "UNCONVERGED" in output
    assert mine["alert"].astype(str).eq("True").any() and "ALERT" in output


def test_update_writes_a_run_with_the_new_rows(updated):
    from rlforecast.fit import load_run

    d, _ = updated
    run = load_run(d / "run2.nc", allow_unconverged=True)
    assert "new-release-b" in run.attrs["observations_csv"]
    assert "new-release-a" in [str(x) for x in run["observed_data"].obs.values]


def test_update_refuses_ids_already_in_the_fit(fitted_run, simulated, tmp_path):
    df, _ = simulated
    again = df.iloc[[3]].copy()
    (tmp_path / "new.csv").write_text(to_csv_text(again))
    res = CliRunner().invoke(main, ["update", "--fit", str(fitted_run), "--new", str(tmp_path / "new.csv"),
                                    "--out-fit", str(tmp_path / "run2.nc"), "--allow-unconverged"])
    assert res.exit_code == 2, res.output
    assert "new.csv" in res.output and "row 2" in res.output and "obs_id" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "run2.nc").exists()


def test_alerts_known_answer():
    """Exact medians and probabilities from hand-made histograms (10 draws per cell on a 3-month grid)."""
    from types import SimpleNamespace

    import numpy as np
    import xarray as xr

    from rlforecast.update import median_shifts

    def forecast(cells):  # per benchmark: draws arriving in months 0, 1, 2 and never
        hist = np.asarray(cells, float)[None, :, None, :]
        coords = {"scenario": ["s"], "benchmark": ["a", "b", "c"], "threshold": [0.8]}
        counts = xr.Dataset({"arrivals": (("scenario", "benchmark", "threshold", "month"), hist)},
                            coords=coords | {"month": np.arange(4)})
        requested = xr.DataArray(np.ones((3, 1), bool), dims=("benchmark", "threshold"),
                                 coords={"benchmark": coords["benchmark"], "threshold": [0.8]})
        state = xr.Dataset(coords={"benchmark": coords["benchmark"], "anchor_model": ("benchmark", ["x", "y", "z"])})
        return SimpleNamespace(counts=counts, requested=requested, start_month=2031 * 12, state=state)

    before = forecast([[6, 0, 0, 4],    # a: median month 0, 40% never
                       [0, 5, 0, 5],    # b: median month 1 (a flat CDF after it)
                       [5, 1, 0, 4]])   # c: median month 0
    after = forecast([[2, 2, 2, 4],     # a: median month 2; P(by old median) 0.6 -> 0.2: alert
                      [0, 4, 0, 6],     # b: median never (crossed the horizon), P moved 10 points: alert at 10
                      [4, 2, 0, 4]])    # c: median moves one month, P(by old median) 0.5 -> 0.4: alert at 10
    table = median_shifts(before, after, alert_points=10).set_index("benchmark")
    assert list(table["shift_months"].fillna(-99)) == [2, -99, 1]
    assert table.loc["a", "p_by_old_median_before"] == pytest.approx(0.6)
    assert table.loc["a", "p_by_old_median_after"] == pytest.approx(0.2)
    assert table.loc["b", "p_by_horizon_before"] == pytest.approx(0.5)
    assert table.loc["b", "p_by_horizon_after"] == pytest.approx(0.4)
    assert list(table["alert"]) == [True, True, True]
    # a higher bar: only the 40-point move of ``a`` stays an alert; grid starts in 2031, so P(2030) is 0
    table = median_shifts(before, after, alert_points=15).set_index("benchmark")
    assert list(table["alert"]) == [True, False, False]
    assert (table["p_by_2030_before"] == 0).all()
