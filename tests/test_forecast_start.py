"""A forecast starts at the forecast date (the month of the fit's latest release) unless the scenario file or
``--start`` says otherwise, and each frontier is carried from its anchor's release month to the start."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from rlforecast.cli import main

REPO = Path(__file__).resolve().parents[1]


def _forecast(run, scenarios, out, *extra):
    return CliRunner().invoke(main, ["forecast", "--fit", str(run), "--scenarios", str(scenarios), "--out", str(out),
                                     "--param-draws", "100", "--allow-unconverged", *extra])


def test_the_start_defaults_to_the_forecast_date_and_follows_start(fitted_run, tmp_path):
    scen = tmp_path / "scen"
    scen.mkdir()
    shutil.copy(REPO / "data/scenarios/rl-to-parity.toml", scen)
    res = _forecast(fitted_run, scen, tmp_path / "a")
    assert res.exit_code == 0, res.output
    prov = json.loads((tmp_path / "a/provenance.json").read_text())
    # the simulated rows are all released on 2025-06-01 (model.simulate.synthetic_design)
    assert prov["start"] == "2025-06-01" and prov["start_from"].startswith("forecast date")
    assert set(prov["anchor_lag_years"].values()) == {0.0}
    rows = (tmp_path / "a/arrival_cdf.csv").read_text().splitlines()
    assert rows[1].split(",")[3] == "2025"

    res = _forecast(fitted_run, scen, tmp_path / "b", "--start", "2027-01-01")
    assert res.exit_code == 0, res.output
    prov = json.loads((tmp_path / "b/provenance.json").read_text())
    assert prov["start"] == "2027-01-01" and prov["start_from"] == "--start"
    assert set(prov["anchor_lag_years"].values()) == {19 / 12}  # June 2025 -> January 2027
    a = (tmp_path / "a/arrival_quantiles.csv").read_text()
    b = (tmp_path / "b/arrival_quantiles.csv").read_text()
    assert a != b

    res = _forecast(fitted_run, scen, tmp_path / "c", "--start", "2027-01-15")
    assert res.exit_code == 2 and "--start: must be the first day of a month" in res.output
    assert not (tmp_path / "c").exists()
