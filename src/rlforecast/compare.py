"""`rlforecast compare`: PSIS-LOO across fitted model variants, with Pareto-k warnings; with ``--cv K``, grouped
K-fold cross-validation by exact refits and stacking weights (``crossval``)."""

from __future__ import annotations

import warnings as pywarnings
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from rlforecast.errors import InputError
from rlforecast.io import write_text


def load_variants(paths, allow_unconverged: bool, fit_path=None, taken: frozenset[str] = frozenset()) \
        -> dict[str, tuple[str, xr.DataTree, dict]]:
    """{name: (path, run, provenance)} of model-variant run files, checked like every run input; a name is the
    model id, with the file stem added when it repeats (``taken``: names already in use, ``fit_path``: a run
    already loaded). The same file twice is refused: each variant counts once."""
    from rlforecast.errors import ConvergenceError
    from rlforecast.fit import load_run, provenance

    out, seen = {}, {Path(fit_path).resolve()} if fit_path else set()
    for path in paths:
        if Path(path).resolve() in seen:
            raise InputError.at(path, "this run file is given twice; each model variant counts once")
        seen.add(Path(path).resolve())
        run = load_run(path, allow_unconverged=allow_unconverged)
        prov = provenance(run)
        if not prov["diagnostics"]["passed"] and not allow_unconverged:
            raise ConvergenceError(f"{path}: the fit failed its sampler diagnostics ({prov['diagnostics']}); refit, or pass "
                                   "--allow-unconverged to inspect it (every output is then marked).")
        name = str(prov.get("model_id") or Path(path).stem)
        if name in taken or name in out:
            name = f"{name} ({Path(path).stem})"
        if name in taken or name in out:
            raise InputError.at(path, f"model variant name '{name}' is already used by another run file")
        out[name] = (str(path), run, prov)
    return out


def load_runs(paths: list[str]) -> tuple[dict[str, xr.DataTree], list[str]]:
    """Runs by variant name (with their pointwise log-likelihood) and warnings; refused unless all were fitted on
    the same observations and rows."""
    from rlforecast.fit import log_likelihood

    runs, warnings, data_hashes = {}, [], set()
    for name, (path, run, prov) in load_variants(paths, allow_unconverged=True).items():
        data_hashes.add(prov["data_sha256"])
        run["log_likelihood"] = xr.DataTree(log_likelihood(run))
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
    return runs, warnings


def compare_runs(paths: list[str]) -> tuple[pd.DataFrame, list[str]]:
    """LOO table (best first) and warnings for observations with Pareto k > 0.7."""
    import arviz_stats as azs

    runs, warnings = load_runs(paths)
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


PIT_BINS = 10


def pit_figure(pit: pd.DataFrame, scheme: str, k: int):
    """Histograms of the held-out and the in-sample randomised PIT, one panel per model: flat for calibrated
    intervals, a hump for intervals too wide, a U for intervals too narrow."""
    from matplotlib.figure import Figure

    models = list(dict.fromkeys(pit["model"]))
    fig = Figure(figsize=(max(3.6 * len(models), 6.0), 3.4))
    fig.subplots_adjust(left=0.12 / len(models), right=0.98, bottom=0.16, top=0.78, wspace=0.15)
    axes = fig.subplots(1, len(models), sharey=True, squeeze=False)[0]
    edges = np.linspace(0, 1, PIT_BINS + 1)
    for ax, name in zip(axes, models):
        rows = pit[pit["model"] == name]
        for col, label, style in (("pit_heldout", f"held out ({k} {scheme} folds)", {"alpha": 0.6}),
                                  ("pit_in_sample", "in sample", {"histtype": "step", "linewidth": 1.5})):
            ax.hist(rows[col], bins=edges, density=True, label=label, **style)
        ax.axhline(1.0, color="k", linewidth=0.8, linestyle=":")
        ax.set_title(f"{name} ({len(rows)} rows)", fontsize=9)
        ax.set_xlabel("randomised PIT of the observed count")
    axes[0].set_ylabel("density")
    axes[0].legend(fontsize=7, loc="upper left")
    fig.suptitle("Predictive calibration (randomised PIT)\nflat = calibrated, hump = intervals too wide, U = too narrow",
                 fontsize=9)
    return fig


def compare_command(paths, out_path=None, *, cv: int | None = None, scheme: str = "family", seed: int = 1,
                    cv_out=None, scheduler: str | None = None, echo=print) -> None:
    if cv is None:
        table, warnings = compare_runs(paths)
        echo(table.to_string(float_format=lambda x: f"{x:.2f}"))
        for w in warnings:
            echo("WARNING: " + w)
        if out_path:
            write_text(out_path, table.to_csv(lineterminator="\n", float_format="%.6g"))
            echo(f"wrote {out_path}")
        return
    from rlforecast.crossval import cross_validate
    from rlforecast.io import write_set

    tables = cross_validate(list(paths), cv, scheme, seed, scheduler=scheduler, echo=echo)
    echo(f"grouped {cv}-fold cross-validation, whole {scheme} groups held out (exact refits):")
    echo(tables["models"].to_string(index=False, float_format=lambda x: f"{x:.2f}"))
    failed = tables["folds"][~tables["folds"]["fit_passed"]]
    for _, row in failed.iterrows():
        echo(f"WARNING: {row['model']} fold {row['fold']}: the refit FAILED its diagnostics (R-hat {row['rhat_max']:.4f}, "
             f"ESS {row['ess_bulk_min']:.0f}, {row['divergences']} divergences); its elpd is less trustworthy")
    overall = tables["coverage"][tables["coverage"]["benchmark"] == "all"]
    for _, row in overall.iterrows():
        echo(f"{row['model']}: held-out coverage {row['cover50']:.2f} (50%), {row['cover90']:.2f} (90%) "
             f"over {int(row['n_obs'])} rows (randomised PIT)")
    files = {f"cv_{name}.csv": t.to_csv(index=False, lineterminator="\n", float_format="%.6g")
             for name, t in tables.items()}
    from rlforecast.scenarios.figures import render

    files["cv_pit.png"] = render(pit_figure(tables["pit"], scheme, cv), formats=("png",))["png"]
    if out_path:
        write_text(out_path, files["cv_models.csv"])
        echo(f"wrote {out_path}")
    if cv_out:
        write_set(cv_out, files, "compare")
        echo(f"wrote {len(files)} files to {cv_out}")
