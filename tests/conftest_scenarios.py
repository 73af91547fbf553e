"""Fakes for the scenario-layer tests: tiny frontier states and stand-ins for the fit interface.

The fit side (``rlforecast.fit.load_run`` / ``provenance``, ``rlforecast.scenarios.state.frontier_state``) is
replaced by fake modules in ``sys.modules``, so these tests neither need nor import PyMC.
"""

from __future__ import annotations

import datetime as dt
import sys
import types
from pathlib import Path

import numpy as np
import xarray as xr

from rlforecast.errors import InputError
from rlforecast.scenarios.state import anchor_lags

FAKE_FORECAST_DATE = dt.date(2026, 1, 1)  # the fake fit's latest release: anchors there, forecasts start there

REPO = Path(__file__).resolve().parents[1]


def fake_state(eta_anchor, slope_rl, slope_inf, ceiling, floor, benchmarks=None) -> xr.Dataset:
    """A frontier_state-like Dataset; array arguments are (sample, benchmark), ``floor`` is (benchmark,)."""
    eta_anchor = np.atleast_2d(np.asarray(eta_anchor, dtype=float))
    n_s, n_b = eta_anchor.shape
    benchmarks = benchmarks or [f"bench{j}" for j in range(n_b)]

    def grid(x):
        return ("sample", "benchmark"), np.broadcast_to(np.asarray(x, dtype=float), (n_s, n_b)).copy()

    return xr.Dataset(
        {"eta_anchor": grid(eta_anchor), "slope_rl": grid(slope_rl), "slope_inf": grid(slope_inf),
         "ceiling": grid(ceiling),
         "floor": ("benchmark", np.broadcast_to(np.asarray(floor, dtype=float), (n_b,)).copy())},
        coords={"sample": np.arange(n_s), "benchmark": benchmarks,
                "anchor_model": ("benchmark", ["frontier-model"] * n_b),
                "anchor_date": ("benchmark", [FAKE_FORECAST_DATE.isoformat()] * n_b)},
    )


def fake_provenance(passed=True) -> dict:
    return {"data_sha256": "d" * 64, "spec_hash": "s" * 16, "model_id": "fake", "git_commit": "c" * 40, "seed": 7,
            "sampler": "fake", "package_version": "0.1.0",
            "diagnostics": {"rhat_max": 1.0 if passed else 1.2, "ess_bulk_min": 400.0, "ess_tail_min": 400.0,
                            "divergences": 0, "passed": passed}}


def install_fake_fit(monkeypatch, state: xr.Dataset, passed=True, anchor_shift=1.0):
    """Route the fit interface to ``state``; an anchor override adds ``anchor_shift`` to that benchmark's
    eta_anchor (stands in for choosing another model as the anchor). Returns the list of anchors requested."""
    calls = []

    def load_run(path, allow_unconverged=False):
        if not Path(path).is_file():
            raise InputError.at(path, "cannot read fit file")
        return {"state": state, "passed": passed}

    def provenance(run):
        return fake_provenance(run["passed"])

    def frontier_state(run, anchors=None):
        calls.append(anchors)
        st = run["state"].copy(deep=True)
        for bench, model in (anchors or {}).items():
            st["eta_anchor"].loc[{"benchmark": bench}] += anchor_shift
            st = st.assign_coords(anchor_model=st.anchor_model.where(st.benchmark != bench, model))
        return st

    fit = types.ModuleType("rlforecast.fit")
    fit.load_run, fit.provenance = load_run, provenance
    state_mod = types.ModuleType("rlforecast.scenarios.state")
    state_mod.frontier_state = frontier_state
    state_mod.forecast_date = lambda run: FAKE_FORECAST_DATE
    state_mod.anchor_lags = anchor_lags
    state_mod.best_observed = lambda run: {}  # no observed rows: no threshold is met at the forecast date
    monkeypatch.setitem(sys.modules, "rlforecast.fit", fit)
    monkeypatch.setitem(sys.modules, "rlforecast.scenarios.state", state_mod)
    return calls


def write_scenario(folder: Path, name: str, body: str) -> Path:
    path = Path(folder) / f"{name}.toml"
    path.write_text(body)
    return path
