"""`rlforecast compare`: PSIS-LOO across fitted model variants, with Pareto-k warnings."""

from __future__ import annotations

import warnings as pywarnings

import numpy as np
import pandas as pd

from rlforecast.errors import InputError
from rlforecast.io import write_text


def compare_runs(paths: list[str]) -> tuple[pd.DataFrame, list[str]]:
    """LOO table (best first) and warnings for observations with Pareto k > 0.7."""
    import arviz_stats as azs
    import xarray as xr

    from rlforecast.fit import load_run, log_likelihood, provenance

    runs, warnings, data_hashes = {}, [], set()
    for path in paths:
        run = load_run(path, allow_unconverged=True)
        prov = provenance(run)
        data_hashes.add(prov["data_sha256"])
        run["log_likelihood"] = xr.DataTree(log_likelihood(run))
        name = f"{prov['model_id']}" if prov["model_id"] not in runs else f"{prov['model_id']}:{path}"
        runs[name] = run
        if not prov["diagnostics"]["passed"]:
            warnings.append(f"{path}: fit FAILED its diagnostics; its LOO is not trustworthy")
    if len(data_hashes) > 1:
        raise InputError.at(paths[-1], "runs were fitted on different observations; LOO is only comparable on the "
                            "same data (and with the same rows used)", key="data_sha256")
    n_obs = {name: run["log_likelihood"]["correct"].shape[-1] for name, run in runs.items()}
    if len(set(n_obs.values())) > 1:
        raise InputError.at(paths[-1], f"runs use different rows ({n_obs}); compare variants that keep the same rows",
                            key="log_likelihood")
    with pywarnings.catch_warnings():  # arviz warns once per run and call; the count per run is reported below
        pywarnings.filterwarnings("ignore", message="Estimated shape parameter of Pareto", category=UserWarning)
        for name, run in runs.items():
            loo = azs.loo(run, pointwise=True, var_name="correct")
            k = np.asarray(loo.pareto_k)
            bad = int((k > 0.7).sum())
            if bad:
                warnings.append(f"{name}: {bad} of {k.size} observations have Pareto k > 0.7 (PSIS-LOO unreliable "
                                "there)")
        table = azs.compare(runs, var_name="correct")
    return table, warnings


def compare_command(paths, out_path=None, *, echo=print) -> None:
    table, warnings = compare_runs(paths)
    echo(table.to_string(float_format=lambda x: f"{x:.2f}"))
    for w in warnings:
        echo("WARNING: " + w)
    if out_path:
        write_text(out_path, table.to_csv(lineterminator="\n", float_format="%.6g"))
        echo(f"wrote {out_path}")
