"""Grouped cross-validation: fold assignment, the randomised PIT behind every coverage figure, CLI errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from scipy import stats

from rlforecast.cli import main
from rlforecast.crossval import fold_ids
from rlforecast.errors import InputError
from rlforecast.model.kernels import randomised_pit


def _rows(sizes: dict[str, int]) -> pd.DataFrame:
    fam = [f for f, n in sizes.items() for _ in range(n)]
    return pd.DataFrame({"family": fam, "benchmark": [f"b{i % 3}" for i in range(len(fam))]})


def test_folds_keep_each_group_whole_and_balance_rows():
    rng = np.random.default_rng(0)
    df = _rows({f"f{i}": int(n) for i, n in enumerate(rng.integers(1, 40, 23))})
    for scheme, cols in (("family", ["family"]), ("cell", ["benchmark", "family"])):
        ids = fold_ids(df, scheme, 5, seed=3)
        assert set(ids) == {1, 2, 3, 4, 5}
        assert (df.assign(fold=ids).groupby(cols)["fold"].nunique() == 1).all()  # a group never straddles folds
        counts = np.bincount(ids)[1:]
        assert counts.max() - counts.min() <= df.groupby(cols).size().max()  # greedy balance bound
        assert np.array_equal(ids, fold_ids(df, scheme, 5, seed=3))
    assert not np.array_equal(fold_ids(df, "family", 5, seed=3), fold_ids(df, "family", 5, seed=4))


def test_too_few_groups_is_a_clear_error():
    with pytest.raises(InputError, match="3 folds need at least 3 family groups; the data have 2"):
        fold_ids(_rows({"a": 4, "b": 5}), "family", 3, seed=1)


def test_randomised_pit_is_uniform_for_calibrated_counts_where_quantile_checks_over_cover():
    """Counts out of 20 items from the forecast distribution itself: the PIT is uniform, its central 50% holds
    half of them; the check on quantiles of k/n with the boundary counted inside holds far more (ties)."""
    rng = np.random.default_rng(7)
    p = rng.uniform(0.2, 0.8, 4000)
    k = rng.binomial(20, p)
    draws = rng.binomial(20, p, size=(2000, p.size))
    pit = randomised_pit(draws, k, rng)
    assert stats.kstest(pit, "uniform").pvalue > 0.01
    assert abs(np.mean(np.abs(pit - 0.5) <= 0.25) - 0.5) < 0.03
    q25, q75 = np.quantile(draws, [0.25, 0.75], axis=0)
    assert np.mean((k >= q25) & (k <= q75)) > 0.6


def test_randomised_pit_detects_intervals_that_are_too_wide():
    rng = np.random.default_rng(8)
    k = rng.binomial(100, 0.5, 3000)
    wide = rng.binomial(100, rng.beta(5, 5, size=(1000, 3000)))  # over-dispersed forecast of binomial outcomes
    pit = randomised_pit(wide, k, rng)
    assert np.mean(np.abs(pit - 0.5) <= 0.25) > 0.7


def test_compare_cv_refuses_more_folds_than_families(fitted_run):
    res = CliRunner().invoke(main, ["compare", str(fitted_run), "--cv", "500"])
    assert res.exit_code == 2 and "500 folds need at least 500 family groups" in res.output
    assert "Traceback" not in res.output


def test_compare_scheduler_runs_the_cv_refits_only(fitted_run):
    res = CliRunner().invoke(main, ["compare", str(fitted_run), "--scheduler", "tcp://127.0.0.1:1"])
    assert res.exit_code == 2 and "--scheduler: runs the --cv refits; give --cv K with it" in res.output
    assert "Traceback" not in res.output


def test_pit_figure_has_one_panel_per_model_with_both_histograms():
    import pandas as pd

    from rlforecast.compare import PIT_BINS, pit_figure

    rng = np.random.default_rng(0)
    pit = pd.DataFrame({"model": ["a"] * 300 + ["b"] * 300, "pit_heldout": rng.uniform(size=600),
                        "pit_in_sample": rng.beta(3, 3, size=600)})
    fig = pit_figure(pit, "family", 5)
    axes = fig.get_axes()
    assert [ax.get_title() for ax in axes] == ["a (300 rows)", "b (300 rows)"]
    heights = [p.get_height() for p in axes[0].patches[:PIT_BINS]]  # held-out bars: density, mean 1
    assert np.isclose(np.mean(heights), 1.0)
