"""The observations builder: byte-identical rebuilds, hand-checked rows per source, counts, bad raw input."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pandas as pd
import pytest

from rlforecast.data.build import RUNS, SIMPLE_EVALS, build_observations, build_to_file
from rlforecast.data.schema import read_observations
from rlforecast.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
RAW = ROOT / "data" / "raw"
SHIPPED = ROOT / "data" / "observations.csv"


@pytest.fixture(scope="module")
def obs():
    return read_observations(SHIPPED).set_index("obs_id")


def test_shipped_file_equals_a_fresh_build(tmp_path):
    out = tmp_path / "observations.csv"
    build_to_file(RAW, out)
    assert out.read_bytes() == SHIPPED.read_bytes()


def test_build_is_deterministic(tmp_path):
    build_to_file(RAW, tmp_path / "a.csv")
    build_to_file(RAW, tmp_path / "b.csv")
    data = (tmp_path / "a.csv").read_bytes()
    assert data == (tmp_path / "b.csv").read_bytes()
    assert b"\r" not in data and not data.startswith(b"\xef\xbb\xbf")


def test_epoch_run_with_tokens(obs):
    # benchmarks_runs.csv line 381: MzsTvCEEfEpzn4WvxYdJkX,GPQA diamond,o3-mini-2025-01-31_high,0.770,...
    # epoch_ai_eval_data.csv line 17: o3-mini-2025-01-31_high,GPQA Diamond,8,1584,410883,12231480,12642363
    row = obs.loc["epoch:MzsTvCEEfEpzn4WvxYdJkX"]
    assert row.benchmark == "gpqa_diamond" and row.n_items == 198
    assert row.accuracy == 0.77
    assert row.tokens_per_item == 12231480 / 1584
    assert row.base_model == "o3-mini-2025-01-31" and row.inference_setting == "effort:high"
    assert row.model_id == "o3-mini-2025-01-31_high" and row.reasoning == "yes"
    assert row.release_date == "2025-01-31"  # model_versions.csv line 468


def test_arc_row(obs):
    # codesignist evaluations.json record 88: v1_Semi_Private, o3-2025-04-16-high, score 0.6083, costPerTask 0.5002
    row = obs.loc["arc:v1_Semi_Private:o3-2025-04-16-high"]
    assert (row.benchmark, row.n_items, row.accuracy, row.cost_per_task_usd) == ("arc_agi_1", 100, 0.6083, 0.5002)
    assert row.base_model == "o3-2025-04-16" and row.inference_setting == "effort:high"
    assert math.isnan(row.tokens_per_item)


def test_arc_exact_duplicate_kept_once(obs):
    # evaluations.json records 238 and 239 are identical: v2_Semi_Private, gpt-5-2025-08-07-low, 0.0194, 0.1896
    assert obs.index.str.fullmatch("arc:v2_Semi_Private:gpt-5-2025-08-07-low").sum() == 1
    assert obs.loc["arc:v2_Semi_Private:gpt-5-2025-08-07-low", "cost_per_task_usd"] == 0.1896


def test_simple_evals_row(obs):
    # simple_evals_results.csv line 3: o3,high,GPQA Diamond,83.4
    row = obs.loc["simple-evals:o3:high:gpqa_diamond"]
    assert row.accuracy == 0.834 and row.n_items == 198 and row.exactness == "transcription"
    assert row.base_model == "o3-2025-04-16"
    # line 65: o1,default (not set),MMLU,91.8 -> the o1 API model, no effort parameter
    row = obs.loc["simple-evals:o1:default:mmlu"]
    assert (row.accuracy, row.base_model, row.inference_setting) == (0.918, "o1-2024-12-17", "default")
    assert "medium" in row.notes
    # line 124: gpt-4o-2024-05-13,n/a (non-reasoning),MGSM,89.9 -> 250 questions x 11 languages
    row = obs.loc["simple-evals:gpt-4o-2024-05-13:default:mgsm"]
    assert (row.accuracy, row.n_items, row.reasoning) == (0.899, 2750, "no")


def test_accuracies_are_written_without_float_noise():
    cells = pd.read_csv(SHIPPED, dtype=str, keep_default_na=False)
    percent_based = cells.loc[cells.source == SIMPLE_EVALS, "accuracy"]
    assert percent_based.str.len().max() <= 6  # e.g. 0.834 from "83.4" percent, never 0.8340000000000001


def test_essay_chart_row(obs):
    # essay_evidence.csv E01: value 0.33, low 0.28, high 0.38 (chart reading); E02: 0.66 at about 100x more RL
    row = obs.loc["essay:E01"]
    assert (row.accuracy, row.accuracy_low, row.accuracy_high) == (0.33, 0.28, 0.38)
    assert (row.exactness, row.n_items, row.family, row.rl_log10_rel) == ("chart_reading", 30, "o1-aime-chart-rl", 0)
    row = obs.loc["essay:E02"]
    assert (row.rl_log10_rel, row.rl_log10_rel_low, row.rl_log10_rel_high) == (2.0, 1.5, 2.5)
    # E14: 0.744;0.833 = pass@1 and majority vote of 64
    assert obs.loc["essay:E14:pass@1", "accuracy"] == 0.744
    assert obs.loc["essay:E14:cons@64", "inference_log10_rel"] == math.log10(64)


def test_rl_relations(obs):
    o3 = obs[obs.base_model == "o3-2025-04-16"]
    assert len(o3) > 0 and set(o3.family) == {"openai-o1-o3"}
    assert set(o3.source) >= {RUNS, SIMPLE_EVALS}
    assert (o3.rl_log10_rel == 1.0).all()  # E09: about 10x, range 5x to 20x
    assert (o3.rl_log10_rel_low == math.log10(5)).all() and (o3.rl_log10_rel_high == math.log10(20)).all()
    o1 = obs[obs.base_model == "o1-2024-12-17"]
    assert set(o1.family) == {"openai-o1-o3"} and (o1.rl_log10_rel == 0).all()
    r1 = obs[obs.base_model == "DeepSeek-R1-0528"].iloc[0]
    # 6.1e23 / geometric mean of 1.83e23 (Epoch large-scale table) and 6.0e23 (E10); range from E10 1.5e23-1.0e24
    assert r1.rl_log10_rel == pytest.approx(math.log10(6.1e23 / math.sqrt(1.83e23 * 6.0e23)), abs=1e-12)
    assert r1.rl_log10_rel_low == pytest.approx(math.log10(6.1e23 / 1.0e24), abs=1e-12)
    assert r1.rl_log10_rel_high == pytest.approx(math.log10(6.1e23 / 1.5e23), abs=1e-12)
    assert r1.family == "deepseek-r1" and r1.rl_compute_flop == 6.1e23


def test_counts(obs):
    counts = obs.benchmark.value_counts()
    assert len(counts) == 23 and (counts > 0).all()
    with_tokens = set(obs.loc[obs.tokens_per_item.notna(), "benchmark"])
    assert with_tokens == {"gpqa_diamond", "math_level_5", "otis_mock_aime", "aider_polyglot"}
    assert obs.loc[obs.cost_per_task_usd.notna(), "benchmark"].isin(["arc_agi_1", "arc_agi_2", "aider_polyglot"]).all()
    assert "drop" not in set(obs.benchmark)


def test_rl_series(obs):
    """RL-training series: one family per series, stages in RL order, values as printed, left-out series,
    labels and majority votes absent."""
    rs = obs[obs.source == "rl_series.csv"]
    assert len(rs) > 100 and rs.rl_stage.notna().all() and rs.rl_log10_rel.isna().all()
    assert set(rs.family) >= {"skywork-or1-32b", "deepseek-r1-v2-pipeline-dev3-r1", "areal-v0.1-1.5b"}
    assert not {"areal-v0.2-boba-rl-7b", "polaris-4b"} & set(rs.family)
    assert (obs.rl_stage.notna() == obs.source.eq("rl_series.csv")).all()
    r1 = rs[(rs.family == "deepseek-r1-v2-pipeline-dev3-r1") & (rs.benchmark == "aider_polyglot")].set_index("rl_stage")
    assert r1.accuracy.to_dict() == {0.0: 0.448, 1.0: 0.533}  # Nature Table 3: Dev3 44.8, R1 53.3
    assert (r1.rl_from_zero == "yes").all() and set(r1.n_items) == {225}
    areal = rs[(rs.family == "areal-v0.1-1.5b") & (rs.benchmark == "aime_2024")].sort_values("rl_stage")
    assert list(areal.accuracy) == [0.288, 0.332, 0.342, 0.402]  # AReaL v0.1 Table 1: base, stages 1-3
    assert not rs.notes.str.startswith(("cons@", "self-consistency")).any()
    assert not {"codeforces", "drop"} & set(obs.benchmark)


def test_aider_sweeps(obs):
    """Aider Polyglot within-model sweeps: values as published, tokens per exercise where the run counted them,
    dollars per exercise otherwise, checkpoints named as in the other sources."""
    ai = obs[obs.benchmark == "aider_polyglot"].set_index("model_id")
    runs = ai[ai.source.str.startswith("Aider-AI__aider")]
    assert len(runs) == 15 and set(runs.n_items) == {225}
    gpt5 = runs.loc[["gpt-5-2025-08-07_low", "gpt-5-2025-08-07_medium", "gpt-5-2025-08-07_high"]]
    assert list(gpt5.accuracy) == [0.813, 0.867, 0.88] and gpt5.tokens_per_item.is_monotonic_increasing
    assert runs.loc["gpt-5-2025-08-07_high", "tokens_per_item"] == 2623429 / 225
    o3mini = runs.loc["o3-mini-2025-01-31_high"]  # no token count: cost per exercise run (224 of 225)
    assert math.isnan(o3mini.tokens_per_item) and o3mini.cost_per_task_usd == 18.1584 / 224
    assert runs.loc["o3-2025-04-16_high", "family"] == "openai-o1-o3"
    assert runs.loc["claude-sonnet-4-20250514", "reasoning"] == "no"  # thinking off


@pytest.fixture
def raw_copy(tmp_path):
    return Path(shutil.copytree(RAW, tmp_path / "raw"))


def test_missing_raw_file_is_named(raw_copy):
    (raw_copy / SIMPLE_EVALS).unlink()
    with pytest.raises(InputError, match="simple_evals_results.csv.*not found"):
        build_observations(raw_copy)


def test_corrupted_raw_csv_is_named(raw_copy):
    path = raw_copy / RUNS
    text = path.read_text(encoding="utf-8-sig").replace("o3-mini-2025-01-31_high,0.770,", "o3-mini-2025-01-31_high,x,")
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as err:
        build_observations(raw_copy)
    problem = err.value.problems[0]
    assert problem.path.endswith("benchmarks_runs.csv") and problem.column == "Best score (across scorers)"
    assert problem.row is not None


def test_non_utf8_raw_file_is_named(raw_copy):
    (raw_copy / "essay_evidence.csv").write_bytes(b"id,kind\n\xff\xfe,x\n")
    with pytest.raises(InputError, match="essay_evidence.csv.*UTF-8"):
        build_observations(raw_copy)


@pytest.mark.parametrize(("old", "new", "column"), [
    (",AIME24,Avg@32,", ",AIME 2099,Avg@32,", "benchmark"),  # unknown label
    (",72.9,", ",172.9,", "value"),  # not a percentage
])
def test_bad_rl_series_cell_is_named(raw_copy, old, new, column):
    path = raw_copy / "rl_series.csv"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(InputError) as err:
        build_observations(raw_copy)
    problem = err.value.problems[0]
    assert problem.path.endswith("rl_series.csv") and problem.column == column and problem.row > 1


def test_bad_aider_yaml_is_named(raw_copy):
    path = raw_copy / "Aider-AI__aider/aider/website/_data/polyglot_leaderboard.yml"
    path.write_text("- model: [unclosed\n", encoding="utf-8")
    with pytest.raises(InputError, match="polyglot_leaderboard.yml.*YAML"):
        build_observations(raw_copy)
