"""`rlforecast predict`: posterior predictive quantiles of observed accuracy for arbitrary rows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from rlforecast.io import write_text

QUANTILES = {"pred_q05": 0.05, "pred_q25": 0.25, "pred_q50": 0.5, "pred_q75": 0.75, "pred_q95": 0.95}


def predict_draws(run, rows: pd.DataFrame, seed: int = 1) -> np.ndarray:
    """Posterior predictive draws (sample, row) of observed accuracy for ``rows`` (observations schema).

    Settings, families and benchmarks the fit never saw are predicted from the fitted population
    (new random effects are drawn), so their intervals are wider.
    """
    from rlforecast.fit import posterior_arrays, run_inputs
    from rlforecast.model.design import build_design
    from rlforecast.model.kernels import observed_accuracy_draws, row_parameters

    _, spec, ref = run_inputs(run)
    design = build_design(rows.drop(columns=["accuracy"], errors="ignore"), ref=ref)
    rng = np.random.default_rng(seed)
    params = row_parameters(posterior_arrays(run), design, spec, rng)
    return observed_accuracy_draws(params, design.n, rng)


def predict_rows(run, rows: pd.DataFrame, seed: int = 1) -> pd.DataFrame:
    """``rows`` plus pred_mean and pred_q05..pred_q95 of the observed accuracy."""
    draws = predict_draws(run, rows, seed)
    out = rows.copy()
    out["pred_mean"] = draws.mean(axis=0)
    for name, q in QUANTILES.items():
        out[name] = np.quantile(draws, q, axis=0)
    return out


def predict_command(fit_path, input_path, output_path, *, seed=1, allow_unconverged=False, echo=print) -> None:
    from rlforecast.data.schema import read_observations
    from rlforecast.fit import load_run, unconverged_warning

    run = load_run(fit_path, allow_unconverged=allow_unconverged)
    unconverged_warning(run, echo)
    rows = read_observations(input_path, require_accuracy=False)  # validate first: clean errors, no traceback
    raw = pd.read_csv(input_path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    pred = predict_rows(run, rows, seed=seed)
    out = raw.copy()
    for col in ["pred_mean", *QUANTILES]:
        out[col] = [f"{v:.4f}" for v in pred[col]]
    write_text(output_path, out.to_csv(index=False, lineterminator="\n"))
    echo(f"wrote {output_path} ({len(out)} rows)")
