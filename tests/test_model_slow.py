"""Slow lane (`make test-slow`): parameter recovery on the real design, several seeds."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import REPO

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_recovery_on_real_design(seed):
    """Data simulated at known slopes with the shipped design (benchmarks, item counts, compute ranges,
    latent efforts) are fitted; the true slopes and exchange rates fall inside their 90% intervals."""
    from rlforecast.data.build import to_csv_text
    from rlforecast.data.schema import read_observations
    from rlforecast.fit import fit_observations
    from rlforecast.model.design import build_design, select_rows
    from rlforecast.model.simulate import draw_truth, simulate_observations
    from rlforecast.model.spec import load_spec

    spec, text = load_spec(REPO / "models/baseline.toml")
    used, _ = select_rows(read_observations(REPO / "data/observations.csv"), False)
    d = build_design(used)
    rng = np.random.default_rng(seed)
    nb = len(d.benchmarks)
    log_inf = rng.normal(np.log(1.0), 0.4, nb)
    log_rl = np.log(0.5) + 0.3 * rng.standard_normal(nb)
    truth = draw_truth(d, rng, slope_rl=np.exp(log_rl), slope_inf=np.exp(log_inf))
    sim = simulate_observations(used, truth, seed=seed)
    run = fit_observations(sim, spec, text, to_csv_text(sim).encode(), seed=seed, progressbar=False)
    post = run["posterior"]
    inside = []
    for name, value in [("slope_rl", np.exp(log_rl)), ("slope_inf", np.exp(log_inf)),
                        ("exchange_rate", np.exp(log_rl - log_inf))]:
        q = post[name].quantile([0.05, 0.95], dim=("chain", "draw")).values
        inside += list((q[0] <= value) & (value <= q[1]))
    assert np.mean(inside) >= 0.8, np.mean(inside)


def test_sbc_ranks_are_uniform(tmp_path):
    """Simulation-based calibration on a small design: no key parameter's ranks reject uniformity at 1%
    (Bonferroni over the parameters)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("sbc", REPO / "scripts/sbc.py")
    sbc = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sbc)
    table, meta = sbc.run_sbc(sims=60, seed=3, draws=200, tune=300)
    tests = sbc.uniformity(table)
    assert (tests["p_value"] > 0.01 / len(tests)).all(), tests


def test_shipped_fit_agrees_with_the_long_reference_fit():
    """The shipped fit (today's parametrisation, sampler settings and stopping rule) has the posterior of the
    long reference fit of the previous parametrisation (tests/data/README.md): medians of slopes, exchange
    rates and ceilings within 2 combined Monte Carlo standard errors for at least 90% of the 67 quantities
    (95% expected when nothing changed) and none beyond 3.5 (a Bonferroni bound at 5%)."""
    import importlib.util

    import pandas as pd

    from rlforecast.data.schema import read_observations
    from rlforecast.fit import fit_observations
    from rlforecast.model.spec import load_spec

    spec, text = load_spec(REPO / "models/baseline.toml")
    df = read_observations(REPO / "data/observations.csv")
    # the reference was fitted before the RL-training series and the Aider sweeps were added: the same rows
    df = df[~df["source"].isin(["rl_series.csv", "Aider-AI__aider/aider/website/_data/polyglot_leaderboard.yml"])]
    assert len(df) == 1123
    run = fit_observations(df, spec, text, df.to_csv(index=False).encode(), seed=20251022, progressbar=False)
    mod_spec = importlib.util.spec_from_file_location("agreement", REPO / "scripts/agreement.py")
    agreement = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(agreement)
    table = agreement.compare(pd.read_csv(REPO / "tests/data/reference_summary.csv"), agreement.summarize(run))
    z = table["z"].abs()
    assert len(table) == 67
    assert (z < 2).mean() >= 0.9 and z.max() < 3.5, table.loc[z > 2].to_string()


def test_grouped_cv_refits_each_fold_and_scores_held_out_families(fitted_run, tmp_path):
    """Two folds of whole families of the simulated data: every row is scored once, held out; new families are
    harder to predict than PSIS-LOO's in-sample rows; held-out intervals cover about as stated."""
    import pandas as pd
    from click.testing import CliRunner

    from rlforecast.cli import main

    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster:  # the folds in parallel
        res = CliRunner().invoke(main, ["compare", str(fitted_run), "--cv", "2", "--cv-out", str(tmp_path / "cv"),
                                        "--scheduler", cluster.scheduler_address])
    assert res.exit_code == 0, res.output
    assert "fold 1 of baseline: " in res.output and "fold 2 of baseline: " in res.output
    again = CliRunner().invoke(main, ["compare", str(fitted_run), "--cv", "2", "--cv-out", str(tmp_path / "cv2")])
    assert again.exit_code == 0 and again.output.count("reusing cached fit") == 2, again.output  # the workers' fits
    assert (tmp_path / "cv" / "cv_models.csv").read_bytes() == (tmp_path / "cv2" / "cv_models.csv").read_bytes()
    bad = CliRunner().invoke(main, ["compare", str(fitted_run), "--cv", "2", "--scheduler", "tcp://127.0.0.1:1"])
    assert bad.exit_code == 2 and "--scheduler: cannot reach a dask scheduler" in bad.output
    models = pd.read_csv(tmp_path / "cv" / "cv_models.csv")
    folds = pd.read_csv(tmp_path / "cv" / "cv_folds.csv")
    cover = pd.read_csv(tmp_path / "cv" / "cv_coverage.csv").set_index("benchmark")
    assert len(folds) == 2 and folds["n_test"].sum() == cover.loc["all", "n_obs"]
    assert np.isclose(folds["elpd"].sum(), models.loc[0, "elpd_cv"], rtol=1e-6)
    assert models.loc[0, "elpd_cv"] < models.loc[0, "elpd_psis_loo"]
    assert 0.7 <= cover.loc["all", "cover90"] <= 1.0
    pit = pd.read_csv(tmp_path / "cv" / "cv_pit.csv")
    assert len(pit) == cover.loc["all", "n_obs"] and pit[["pit_heldout", "pit_in_sample"]].stack().between(0, 1).all()
    assert set(pit["fold"]) == {1, 2} and (tmp_path / "cv" / "cv_pit.png").read_bytes()[:4] == b"\x89PNG"
    from rlforecast.fit import load_run, provenance

    prov = provenance(load_run(fitted_run, allow_unconverged=True))
    assert (models.loc[0, "spec_hash"], models.loc[0, "data_sha256"]) == (prov["spec_hash"], prov["data_sha256"])
