"""Grouped K-fold cross-validation by exact refits (`rlforecast compare --cv K`).

Folds hold out whole model families (the way a new release arrives) or whole benchmark x family cells. Each fold
is refitted through the fit cache with the run's own spec and sampler settings, and the held-out rows are
predicted as `predict` would (unseen families and cells draw their effects from the fitted population).
``arviz_stats.loo_kfold`` combines the folds and ``arviz_stats.compare`` gives elpd differences and stacking
weights; calibration is the randomised PIT of the held-out counts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from rlforecast.errors import InputError

SCHEMES = {"family": ["family"], "cell": ["benchmark", "family"]}
SCHEDULER_TIMEOUT_S = 10


def fold_ids(df: pd.DataFrame, scheme: str, k: int, seed: int) -> np.ndarray:
    """Fold number (1..k) per row; every group of ``scheme`` lies in one fold, folds balanced by rows.

    Groups are taken in an order shuffled by ``seed``, each into the fold with the fewest rows so far (fold sizes
    then differ by at most the largest group)."""
    groups = df[SCHEMES[scheme]].astype(str).agg(" x ".join, axis=1)
    sizes = groups.value_counts().sort_index()
    if len(sizes) < k:
        raise InputError.at("--cv", f"{k} folds need at least {k} {scheme} groups; the data have {len(sizes)}")
    order = sizes.iloc[np.random.default_rng(seed).permutation(len(sizes))]
    rows = np.zeros(k, dtype=np.int64)
    fold_of = {}
    for name, size in order.items():
        f = int(np.argmin(rows))
        fold_of[name] = f + 1
        rows[f] += size
    return groups.map(fold_of).to_numpy()


def _refits_wrapper():
    from arviz_stats.loo import SamplingWrapper

    class Refits(SamplingWrapper):
        """Refits of one run's spec on the training rows of each fold; held-out log densities and PITs."""

        def __init__(self, run, name: str, scheme: str, settings: dict, seed: int, echo):
            from rlforecast.fit import run_inputs

            super().__init__(model=None, idata_orig=run)
            self.df, self.spec, _ = run_inputs(run)
            self.spec_text = run.attrs["spec_toml"]
            self.name, self.scheme, self.settings, self.echo = name, scheme, settings, echo
            self.rng = np.random.default_rng(seed)
            self.pit = np.full(len(self.df), np.nan)
            self.folds: list[dict] = []

        def sel_observations(self, idx):
            test = np.zeros(len(self.df), dtype=bool)
            test[idx] = True
            return self.df[~test], (np.asarray(idx), self.df[test])

        def sample(self, modified_observed_data):
            from rlforecast.data.build import to_csv_text
            from rlforecast.fit import fit_cached

            train = modified_observed_data
            return fit_cached(train, to_csv_text(train).encode(), self.spec, self.spec_text, self.settings,
                              use_cache=True, label=f"fold {len(self.folds) + 1} of {self.name}", echo=self.echo)

        def get_inference_data(self, fitted_model):
            return fitted_model

        def log_likelihood__i(self, excluded_obs, idata__i):
            from rlforecast.fit import posterior_arrays, provenance, run_inputs
            from rlforecast.model.design import build_design
            from rlforecast.model.kernels import observed_pit, pointwise_loglik, row_parameters

            idx, test = excluded_obs
            _, spec, ref = run_inputs(idata__i)
            design = build_design(test, ref=ref)
            post = posterior_arrays(idata__i)
            ll = pointwise_loglik(post, design, spec)
            params = row_parameters(post, design, spec, self.rng)
            self.pit[idx] = observed_pit(params, design, self.rng)
            diag = provenance(idata__i)["diagnostics"]
            self.folds.append({"model": self.name, "fold": len(self.folds) + 1, "n_test": len(idx),
                               "groups": len(test.groupby(SCHEMES[self.scheme])), "elpd": float(_lpd(ll).sum()),
                               "fit_passed": bool(diag["passed"]), "rhat_max": diag.get("rhat_max"),
                               "ess_bulk_min": diag.get("ess_bulk_min"), "divergences": diag.get("divergences")})
            chains = idata__i["posterior"].sizes["chain"]
            return xr.DataArray(ll.reshape(chains, -1, ll.shape[-1]), dims=("chain", "draw", "obs"),
                                coords={"obs": design.obs_ids})

    return Refits


def _lpd(ll: np.ndarray) -> np.ndarray:
    """log mean over draws of exp(ll), per observation."""
    from scipy.special import logsumexp

    return logsumexp(ll, axis=0) - np.log(ll.shape[0])


def _fit_fold(train: pd.DataFrame, spec: dict, spec_text: str, settings: dict, label: str, cache: str) -> str:
    """One fold's refit, on a dask worker: into the fit cache at ``cache`` (shared with the caller)."""
    import os

    from rlforecast.data.build import to_csv_text
    from rlforecast.fit import fit_cached, provenance

    os.environ["RLFORECAST_CACHE"] = cache
    run = fit_cached(train, to_csv_text(train).encode(), spec, spec_text, settings, use_cache=True, label=label,
                     echo=lambda _: None)
    return f"{label}: {'passed' if provenance(run)['diagnostics']['passed'] else 'FAILED its diagnostics'}"


def prefit_folds(jobs: list[tuple], scheduler: str, echo=print) -> None:
    """Refit every fold (``jobs``: ``_fit_fold``'s arguments but the cache) on the dask.distributed scheduler at
    ``scheduler``, in parallel. The workers write the fit cache, which they must share with this process (same
    machine or a shared file system); the folds are then scored from it in order, as without a scheduler."""
    from distributed import Client, as_completed

    from rlforecast.fit import cache_dir

    cache = str(cache_dir().resolve())
    try:
        client = Client(scheduler, timeout=SCHEDULER_TIMEOUT_S)
    except (OSError, TimeoutError, ValueError) as err:
        raise InputError.at("--scheduler", f"cannot reach a dask scheduler at '{scheduler}' ({type(err).__name__}: "
                            f"{err})") from None
    with client:
        futures = [client.submit(_fit_fold, *job, cache, pure=False) for job in jobs]
        for future in as_completed(futures):
            echo(future.result())


def cross_validate(paths: list[str], k: int, scheme: str, seed: int, scheduler: str | None = None,
                   echo=print) -> dict[str, pd.DataFrame]:
    """Grouped K-fold CV of fitted runs (same observations): tables ``models`` (elpd, se, differences, stacking
    weights, PSIS-LOO beside), ``folds`` (elpd per fold, the refit's diagnostics), ``coverage`` (held-out PIT
    coverage per model and benchmark), ``pit`` (each row's held-out and in-sample randomised PIT). With
    ``scheduler`` (a dask.distributed address) the refits run there first, in parallel (``prefit_folds``)."""
    import warnings as pywarnings

    import arviz_stats as azs

    from rlforecast.compare import load_runs
    from rlforecast.fit import in_sample_pit, pit_coverage, provenance

    runs, _ = load_runs(paths)
    Refits = _refits_wrapper()
    results, folds, cover, loo_rows, pits = {}, [], [], [], []
    assignment = None
    wrappers = {}
    for name, run in runs.items():
        sampler = provenance(run)["sampler"]
        settings = {key: sampler[key] for key in ("sampler", "draws", "tune", "chains", "seed")}
        wrappers[name] = Refits(run, name, scheme, settings, seed, echo)
        ids = fold_ids(wrappers[name].df, scheme, k, seed)
        if assignment is not None and not np.array_equal(ids, assignment):
            raise InputError.at(name, "the runs use different rows; cross-validate variants that keep the same rows")
        assignment = ids
    if scheduler is not None:
        prefit_folds([(w.df[assignment != f], w.spec, w.spec_text, w.settings, f"fold {f} of {name}")
                      for name, w in wrappers.items() for f in range(1, k + 1)], scheduler, echo)
    for name, run in runs.items():
        prov, wrapper, ids = provenance(run), wrappers[name], assignment
        with pywarnings.catch_warnings():
            pywarnings.filterwarnings("ignore", message="Estimated shape parameter of Pareto", category=UserWarning)
            results[name] = azs.loo_kfold(run, wrapper, pointwise=True, var_name="correct", folds=ids)
            loo = azs.loo(run, pointwise=True, var_name="correct")
        loo_rows.append({"model": name, "elpd_psis_loo": float(loo.elpd), "se_psis_loo": float(loo.se),
                         "pareto_k_over_0_7": int((np.asarray(loo.pareto_k) > 0.7).sum()),
                         "spec_hash": prov["spec_hash"], "data_sha256": prov["data_sha256"]})
        folds.extend(wrapper.folds)
        cover.append(pit_coverage(wrapper.pit, wrapper.df["benchmark"]).assign(model=name))
        in_sample = in_sample_pit(run, np.random.default_rng(seed))
        pits.append(pd.DataFrame({"model": name, "obs_id": wrapper.df["obs_id"].to_numpy(),
                                  "benchmark": wrapper.df["benchmark"].to_numpy(), "fold": ids,
                                  "pit_heldout": wrapper.pit, "pit_in_sample": in_sample}))
    table = azs.compare(results, method="stacking", round_to="none") if len(results) > 1 else None
    models = pd.DataFrame([{"model": name, "elpd_cv": float(r.elpd), "se_cv": float(r.se)}
                           for name, r in results.items()]).merge(pd.DataFrame(loo_rows), on="model")
    if table is not None:
        extra = table[["elpd_diff", "dse", "weight"]].rename(columns={"elpd_diff": "elpd_cv_diff", "dse": "se_cv_diff",
                                                                       "weight": "stacking_weight"})
        models = models.merge(extra, left_on="model", right_index=True)
    else:
        models = models.assign(elpd_cv_diff=0.0, se_cv_diff=0.0, stacking_weight=1.0)
    models = models.sort_values("elpd_cv", ascending=False, kind="stable").assign(k=k, scheme=scheme)
    cols = ["model", "scheme", "k", "elpd_cv", "se_cv", "elpd_cv_diff", "se_cv_diff", "stacking_weight",
            "elpd_psis_loo", "se_psis_loo", "pareto_k_over_0_7", "spec_hash", "data_sha256"]
    coverage_table = pd.concat(cover, ignore_index=True)[["model", "benchmark", "n_obs", "cover50", "cover90"]]
    return {"models": models[cols].reset_index(drop=True), "folds": pd.DataFrame(folds), "coverage": coverage_table,
            "pit": pd.concat(pits, ignore_index=True)}
