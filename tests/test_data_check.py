"""Validation of observations files: every problem names file, spreadsheet row and column; the CLI exits cleanly."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from rlforecast.cli import main
from rlforecast.data.schema import NAMES, read_observations
from rlforecast.errors import InputError

SHIPPED = Path(__file__).resolve().parents[1] / "data" / "observations.csv"
HEADER = ",".join(NAMES)
# Two valid rows (header is row 1, so these are rows 2 and 3).
ROW_A = ("epoch:a,gpqa_diamond,198,0.77,,,m_high,m,m,yes,effort:high,7722.0,,,,,,,,,3.5e+24,2025-01-31,2025-02-01,"
         "runs.csv,a,exact,,,,")
ROW_B = "essay:E01,aime_2024,30,0.33,0.28,0.38,c_chart,c,f,yes,chart,,,,,,0.0,,,,,,,essay_evidence.csv,E01,chart_reading,E01,,,"


def staged(obs_id: str, base: str, stage: str, zero: str = "yes", family: str = "s") -> str:
    row = with_cell(with_cell(with_cell(with_cell(ROW_A, "obs_id", obs_id), "base_model", base), "family", family),
                    "rl_stage", stage)
    return with_cell(row, "rl_from_zero", zero)


def write(tmp_path, text: str | bytes, name="obs.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def problems(path, **kwargs):
    with pytest.raises(InputError) as err:
        read_observations(path, **kwargs)
    assert all(p.path == str(path) for p in err.value.problems)
    return err.value.problems


def with_cell(row: str, column: str, value: str) -> str:
    cells = row.split(",")
    cells[NAMES.index(column)] = value
    return ",".join(cells)


def test_valid_file_reads_typed(tmp_path):
    df = read_observations(write(tmp_path, f"{HEADER}\n{ROW_A}\n{ROW_B}\n"))
    assert list(df.columns) == NAMES
    assert df.n_items.dtype == "int64" and df.accuracy.tolist() == [0.77, 0.33]
    assert df.pretrain_compute_flop[0] == 3.5e24 and df.notes.isna().all()


def test_rl_series_rows(tmp_path):
    good = read_observations(write(tmp_path, f"{HEADER}\n{staged('a', 'b0', '0')}\n{staged('b', 'b1', '1')}\n"))
    assert good.rl_stage.tolist() == [0.0, 1.0] and good.rl_from_zero.tolist() == ["yes", "yes"]
    older = ",".join(NAMES[:-2])  # files without the series columns stay valid
    assert len(read_observations(write(tmp_path, f"{older}\n{ROW_A[:-2]}\n"))) == 1


@pytest.mark.parametrize(("rows", "row", "column", "words"), [
    ([("a", "b0", "-1")], 2, "rl_stage", "not a stage number"),
    ([("a", "b0", "1.5")], 2, "rl_stage", "not a stage number"),
    ([("a", "b0", "0", "maybe")], 2, "rl_from_zero", "not allowed"),
    ([("a", "b0", "0", "")], 2, "rl_from_zero", "expected yes or no"),
    ([("a", "b0", "0"), ("b", "b1", "1", "no")], 3, "rl_from_zero", "differs from row 2"),
    ([("a", "b0", "0"), ("b", "b0", "1")], 3, "rl_stage", "one stage per checkpoint"),
    ([("a", "b0", "0"), ("b", "b1", "0")], 3, "rl_stage", "held by two checkpoints"),
    ([("a", "b0", "0"), ("b", "b1", "")], 3, "rl_stage", "is an RL-training series"),
])
def test_rl_series_problems(tmp_path, rows, row, column, words):
    lines = [staged(r[0], r[1], r[2], *(r[3:] or ("yes",))) for r in rows]
    found = problems(write(tmp_path, "\n".join([HEADER, *lines]) + "\n"))
    assert any(p.row == row and p.column == column and words in p.message for p in found), found


def test_rl_series_row_with_stated_rl_is_refused(tmp_path):
    line = with_cell(staged("a", "b0", "0"), "rl_log10_rel", "0.5")
    found = problems(write(tmp_path, f"{HEADER}\n{line}\n"))
    assert any(p.column == "rl_log10_rel" and "known only in order" in p.message for p in found)


def test_bom_is_accepted(tmp_path):
    assert len(read_observations(write(tmp_path, b"\xef\xbb\xbf" + f"{HEADER}\n{ROW_A}\n".encode()))) == 1


@pytest.mark.parametrize(("column", "value", "words"), [
    ("accuracy", "1.2", "outside [0, 1]"),
    ("accuracy", "-0.1", "outside [0, 1]"),
    ("accuracy", "abc", "not a number"),
    ("accuracy", "nan", "not a finite number"),
    ("accuracy", "", "is empty"),
    ("n_items", "0", "not positive"),
    ("n_items", "-3", "not positive"),
    ("n_items", "198.5", "not a whole number"),
    ("tokens_per_item", "0", "not positive"),
    ("tokens_per_item", "inf", "not a finite number"),
    ("cost_per_task_usd", "-1", "not positive"),
    ("pretrain_compute_flop", "-inf", "not a finite number"),
    ("rl_compute_flop", "0", "not positive"),
    ("rl_log10_rel", "NaN", "not a finite number"),
    ("release_date", "2025-02-30", "not a date"),
    ("run_date", "17 November 2025", "not a date"),
    ("reasoning", "maybe", "expected one of: yes, no"),
    ("exactness", "eyeballed", "expected one of"),
    ("inference_setting", "effort:High", "not a known setting"),
    ("inference_setting", "budget:16K", "not a known setting"),
    ("base_model", "", "is empty"),
    ("benchmark", "GPQA Diamond", "lower snake case"),
])
def test_bad_cell_names_row_and_column(tmp_path, column, value, words):
    path = write(tmp_path, f"{HEADER}\n{ROW_B}\n{with_cell(ROW_A, column, value)}\n")
    found = problems(path)
    assert [(p.row, p.column) for p in found] == [(3, column)]
    assert words in found[0].message and "expected" in found[0].message
    assert str(path) in str(found[0]) and "row 3" in str(found[0]) and column in str(found[0])


def test_accuracy_low_above_high(tmp_path):
    row = with_cell(with_cell(ROW_B, "accuracy_low", "0.4"), "accuracy_high", "0.3")
    (p,) = problems(write(tmp_path, f"{HEADER}\n{row}\n"))
    assert (p.row, p.column) == (2, "accuracy_low") and "low <= high" in p.message


def test_accuracy_outside_its_range(tmp_path):
    (p,) = problems(write(tmp_path, f"{HEADER}\n{with_cell(ROW_B, 'accuracy', '0.5')}\n"))
    assert (p.row, p.column) == (2, "accuracy")


def test_duplicate_obs_id(tmp_path):
    (p,) = problems(write(tmp_path, f"{HEADER}\n{ROW_A}\n{ROW_B}\n{ROW_A}\n"))
    assert (p.row, p.column) == (4, "obs_id") and "repeats row 2" in p.message


def test_all_problems_are_reported_together(tmp_path):
    bad = with_cell(with_cell(ROW_A, "accuracy", "2"), "n_items", "x")
    found = problems(write(tmp_path, f"{HEADER}\n{bad}\n{with_cell(ROW_B, 'reasoning', '')}\n"))
    assert {(p.row, p.column) for p in found} == {(2, "accuracy"), (2, "n_items"), (3, "reasoning")}


def test_missing_and_unknown_columns(tmp_path):
    header = HEADER.replace("accuracy,", "acuracy,", 1).replace(",notes", "")
    row = ROW_A.rsplit(",", 1)[0]
    found = problems(write(tmp_path, f"{header}\n{row}\n"))
    by_column = {p.column: p for p in found}
    assert by_column["accuracy"].row == 1 and "missing" in by_column["accuracy"].message
    assert "did you mean 'accuracy'" in by_column["acuracy"].message
    assert "notes" not in by_column  # optional columns may be left out


def test_duplicated_column_name(tmp_path):
    found = problems(write(tmp_path, f"{HEADER},notes\n{ROW_A},x\n"))
    assert [(p.row, p.column) for p in found] == [(1, "notes")] and "2 times" in found[0].message


def test_semicolon_delimiter(tmp_path):
    found = problems(write(tmp_path, HEADER.replace(",", ";") + "\n" + ROW_A.replace(",", ";") + "\n"))
    messages = " ".join(p.message for p in found)
    assert "delimiter looks wrong" in messages and "';'" in messages
    assert {"obs_id", "accuracy", "notes"} <= {p.column for p in found} | {"notes"}
    assert any(p.column == "obs_id" and "missing" in p.message for p in found)


@pytest.mark.parametrize(("content", "words"), [
    (b"", "empty"),
    (b"\n\n", "empty"),
    (HEADER.encode() + b"\n", "no data rows"),
    (HEADER.encode() + b"\n" + ROW_A.replace("m_high", "m_h\xe9").encode("latin-1") + b"\n", "not UTF-8"),
    (bytes(range(256)) * 4, "binary"),
])
def test_unreadable_files(tmp_path, content, words):
    found = problems(write(tmp_path, content))
    assert words in " ".join(p.message for p in found)


def test_wrong_field_count(tmp_path):
    (p,) = problems(write(tmp_path, f"{HEADER}\n{ROW_A},extra\n"))
    assert p.row == 2 and "fields" in p.message


def test_missing_file(tmp_path):
    (p,) = problems(tmp_path / "nope.csv")
    assert "not found" in p.message


def test_accuracy_optional_for_prediction_inputs(tmp_path):
    header = HEADER.replace("accuracy,", "", 1)
    row = ",".join(c for i, c in enumerate(ROW_A.split(",")) if i != NAMES.index("accuracy"))
    df = read_observations(write(tmp_path, f"{header}\n{row}\n"), require_accuracy=False)
    assert df.accuracy.isna().all() and list(df.columns) == NAMES
    empty = read_observations(write(tmp_path, f"{HEADER}\n{with_cell(ROW_A, 'accuracy', '')}\n", "b.csv"),
                              require_accuracy=False)
    assert empty.accuracy.isna().all()
    (p,) = problems(write(tmp_path, f"{HEADER}\n{with_cell(ROW_A, 'n_items', '')}\n", "c.csv"),
                    require_accuracy=False)
    assert p.column == "n_items"


def test_cli_lists_every_problem_without_traceback(tmp_path):
    bad = with_cell(with_cell(ROW_A, "accuracy", "1.5"), "reasoning", "maybe")
    path = write(tmp_path, f"{HEADER}\n{bad}\n{ROW_A}\n")
    result = CliRunner().invoke(main, ["data", "check", str(path)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    for words in ("row 2, column 'accuracy'", "row 2, column 'reasoning'", "row 3, column 'obs_id'"):
        assert words in result.output
    assert str(path) in result.output


def test_cli_accepts_the_shipped_file():
    result = CliRunner().invoke(main, ["data", "check", str(SHIPPED)])
    assert result.exit_code == 0, result.output
    assert "OK" in result.output
