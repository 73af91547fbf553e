"""The observations table: column contract (docs/observations-schema.md), validation and reading.

Cells are read as text and parsed here, so numbers round-trip exactly and every problem can name its file,
spreadsheet row (header = row 1) and column.
"""

from __future__ import annotations

import csv
import datetime as dt
import difflib
import io
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from rlforecast.errors import InputError, Problem


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # "str", "int", "float", "date"
    required: bool


COLUMNS: tuple[Column, ...] = (
    Column("obs_id", "str", True),
    Column("benchmark", "str", True),
    Column("n_items", "int", True),
    Column("accuracy", "float", True),
    Column("accuracy_low", "float", False),
    Column("accuracy_high", "float", False),
    Column("model_id", "str", True),
    Column("base_model", "str", True),
    Column("family", "str", True),
    Column("reasoning", "str", True),
    Column("inference_setting", "str", True),
    Column("tokens_per_item", "float", False),
    Column("cost_per_task_usd", "float", False),
    Column("inference_log10_rel", "float", False),
    Column("inference_log10_rel_low", "float", False),
    Column("inference_log10_rel_high", "float", False),
    Column("rl_log10_rel", "float", False),
    Column("rl_log10_rel_low", "float", False),
    Column("rl_log10_rel_high", "float", False),
    Column("rl_compute_flop", "float", False),
    Column("pretrain_compute_flop", "float", False),
    Column("release_date", "date", False),
    Column("run_date", "date", False),
    Column("source", "str", True),
    Column("locator", "str", True),
    Column("exactness", "str", True),
    Column("evidence", "str", False),
    Column("notes", "str", False),
    Column("rl_stage", "stage", False),
    Column("rl_from_zero", "str", False),
)
NAMES = [c.name for c in COLUMNS]
BY_NAME = {c.name: c for c in COLUMNS}

FRACTIONS = ("accuracy", "accuracy_low", "accuracy_high")
POSITIVE = ("tokens_per_item", "cost_per_task_usd", "rl_compute_flop", "pretrain_compute_flop")
RANGES = (  # (low, value, high) triples that must be ordered
    ("accuracy_low", "accuracy", "accuracy_high"),
    ("inference_log10_rel_low", "inference_log10_rel", "inference_log10_rel_high"),
    ("rl_log10_rel_low", "rl_log10_rel", "rl_log10_rel_high"),
)
ENUMS = {
    "reasoning": ("yes", "no"),
    "exactness": ("exact", "chart_reading", "derived", "transcription"),
    "rl_from_zero": ("yes", "no"),
}
INFERENCE_SETTING = re.compile(r"default|chart|pass@[1-9]\d*|cons@[1-9]\d*|effort:[a-z]+|budget:[1-9]\d*")
BENCHMARK = re.compile(r"[a-z][a-z0-9_]*")
DECIMAL = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
INTEGER = re.compile(r"[+-]?\d+")
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
NON_FINITE = re.compile(r"[+-]?(nan|inf|infinity)", re.IGNORECASE)


def validate(df: pd.DataFrame, path, *, require_accuracy: bool = True) -> list[Problem]:
    """Every problem in a table of text cells (as read with dtype=str); empty list when valid."""
    path = str(path)
    problems = _check_columns(list(df.columns), path, require_accuracy)
    present = [c for c in NAMES if c in df.columns]
    if problems and not present:
        return problems
    cells = df[present].astype(object).where(df[present].notna(), "").map(str)
    for i, row in enumerate(cells.itertuples(index=False), start=2):
        problems += _check_row(dict(zip(present, row)), i, path, require_accuracy)
    problems += _check_duplicates(cells, path)
    problems += _check_stages(cells, path)
    return problems


def read_observations(path, require_accuracy: bool = True) -> pd.DataFrame:
    """Read and validate an observations CSV; raise InputError listing every problem.

    With ``require_accuracy=False`` (rows to predict) the accuracy column may be absent or empty.
    Returns typed columns: floats, int64 n_items, strings (missing = NA), in schema order.
    """
    df = _read_text_table(path)
    problems = validate(df, path, require_accuracy=require_accuracy)
    if problems:
        raise InputError(problems)
    return typed(df)


def _read_text_table(path) -> pd.DataFrame:
    """Parse a CSV into a frame of text cells, or raise InputError saying why the file is not a CSV table."""
    path = Path(path)
    if not path.exists():
        raise InputError.at(path, "file not found; expected an observations CSV")
    if path.is_dir():
        raise InputError.at(path, "is a folder; expected an observations CSV file")
    data = path.read_bytes()
    if not data.strip():
        raise InputError.at(path, f"file is empty; expected a CSV header ({','.join(NAMES[:4])},...) and data rows")
    if data[:2] in (b"\xff\xfe", b"\xfe\xff") or (len(data) >= 4 and b"\x00" not in data[:64:2]
                                                   and not data[1:64:2].strip(b"\x00")):
        raise InputError.at(path, "file is UTF-16 encoded (e.g. saved as 'Unicode Text'); expected UTF-8 CSV text "
                                  "(save the file as 'CSV UTF-8')")
    if b"\x00" in data:
        raise InputError.at(path, "file looks binary (contains NUL bytes); expected UTF-8 CSV text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise InputError.at(path, f"byte 0x{data[err.start]:02x} at offset {err.start} is not UTF-8; "
                                  "expected UTF-8 text (save the file as UTF-8)", row=line) from None
    try:
        records = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error as err:
        raise InputError.at(path, f"not a readable CSV ({err}); expected comma-separated text") from None
    header, rows = records[0], [r for r in records[1:] if r]
    problems = []
    duplicated = sorted({h for h in header if header.count(h) > 1})
    for name in duplicated:
        problems.append(Problem(str(path), f"column name appears {header.count(name)} times in the header; "
                                           "expected each column once", row=1, column=name))
    for i, r in enumerate(records[1:], start=2):
        if r and len(r) != len(header):
            problems.append(Problem(str(path), f"has {len(r)} fields, expected {len(header)} (one per header column)",
                                    row=i))
    if not rows:
        problems.append(Problem(str(path), "has a header but no data rows; expected at least one observation"))
    if problems:
        raise InputError(problems)
    return pd.DataFrame(rows, columns=header, dtype=object)


def _check_columns(columns: list[str], path: str, require_accuracy: bool) -> list[Problem]:
    problems = []
    for col in COLUMNS:
        needed = col.required and not (col.name == "accuracy" and not require_accuracy)
        if needed and col.name not in columns:
            problems.append(Problem(path, "required column is missing", row=1, column=col.name))
    for name in columns:
        if name not in BY_NAME:
            close = difflib.get_close_matches(name, NAMES, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else f"; expected only: {', '.join(NAMES)}"
            problems.append(Problem(path, f"unknown column{hint}", row=1, column=name))
    if len(columns) == 1 and problems:
        seen = [repr(sep) for sep in (";", "\t", "|") if sep in columns[0]]
        found = f" and the header contains {seen[0]}" if seen else ""
        problems.insert(0, Problem(path, f"only one column found{found}: the delimiter looks wrong; "
                                         "expected comma-separated columns", row=1))
    return problems


def _check_row(row: dict[str, str], i: int, path: str, require_accuracy: bool) -> list[Problem]:
    problems = []

    def bad(column, message):
        problems.append(Problem(path, message, row=i, column=column))

    values = {}
    for name, cell in row.items():
        col = BY_NAME[name]
        cell = cell.strip()
        if not cell:
            if col.required and not (name == "accuracy" and not require_accuracy):
                bad(name, "is empty; expected a value (required column)")
            continue
        if col.kind == "float":
            values[name] = _parse_float(cell, name, bad)
        elif col.kind == "int":
            if not INTEGER.fullmatch(cell):
                bad(name, f"'{cell}' is not a whole number; expected a positive integer count of items")
            elif int(cell) <= 0:
                bad(name, f"'{cell}' is not positive; expected a positive integer count of items")
        elif col.kind == "stage":
            if not INTEGER.fullmatch(cell) or int(cell) < 0:
                bad(name, f"'{cell}' is not a stage number; expected 0, 1, 2, ... (the checkpoint's place in its "
                          "RL-training series)")
        elif col.kind == "date":
            if not DATE.fullmatch(cell) or not is_date(cell):
                bad(name, f"'{cell}' is not a date; expected YYYY-MM-DD")
    for name in FRACTIONS:
        if values.get(name) is not None and not 0 <= values[name] <= 1:
            bad(name, f"{row[name].strip()} is outside [0, 1]; expected a fraction correct")
    for name in POSITIVE:
        if values.get(name) is not None and values[name] <= 0:
            bad(name, f"{row[name].strip()} is not positive; expected a value > 0 (leave empty when unknown)")
    for low, mid, high in RANGES:
        lo, x, hi = values.get(low), values.get(mid), values.get(high)
        if lo is not None and hi is not None and lo > hi:
            bad(low, f"{low} {row[low].strip()} is above {high} {row[high].strip()}; expected low <= high")
        elif x is not None and ((lo is not None and x < lo) or (hi is not None and x > hi)):
            bad(mid, f"{row[mid].strip()} lies outside its stated range; expected {low} <= {mid} <= {high}")
    for name, allowed in ENUMS.items():
        cell = row.get(name, "").strip()
        if cell and cell not in allowed:
            bad(name, f"'{cell}' is not allowed; expected one of: {', '.join(allowed)}")
    setting = row.get("inference_setting", "").strip()
    if setting and not INFERENCE_SETTING.fullmatch(setting):
        bad("inference_setting", f"'{setting}' is not a known setting; expected default, chart, pass@K, cons@K, "
                                 "effort:<label> or budget:<tokens>")
    benchmark = row.get("benchmark", "").strip()
    if benchmark and not BENCHMARK.fullmatch(benchmark):
        bad("benchmark", f"'{benchmark}' is not a benchmark id; expected lower snake case, e.g. gpqa_diamond")
    return problems


def _parse_float(cell: str, name: str, bad) -> float | None:
    if NON_FINITE.fullmatch(cell):
        bad(name, f"'{cell}' is not a finite number; expected a finite decimal number (empty when unknown)")
        return None
    if not DECIMAL.fullmatch(cell):
        bad(name, f"'{cell}' is not a number; expected a decimal number such as 0.25 or 3.5e+24")
        return None
    value = float(cell)
    if not math.isfinite(value):
        bad(name, f"'{cell}' overflows; expected a finite number")
        return None
    return value


def is_date(cell: str) -> bool:
    """True when ``cell`` is a real calendar date in ISO form."""
    try:
        dt.date.fromisoformat(cell)
    except ValueError:
        return False
    return True


def _check_duplicates(cells: pd.DataFrame, path: str) -> list[Problem]:
    if "obs_id" not in cells.columns:
        return []
    ids = cells["obs_id"].str.strip()
    first = {}
    problems = []
    for i, obs_id in enumerate(ids, start=2):
        if obs_id and obs_id in first:
            problems.append(Problem(path, f"obs_id '{obs_id}' repeats row {first[obs_id]}; expected unique ids",
                                    row=i, column="obs_id"))
        first.setdefault(obs_id, i)
    return problems


def _check_stages(cells: pd.DataFrame, path: str) -> list[Problem]:
    """RL-training series (rows with ``rl_stage``): one series per family, every row of the family staged,
    one ``rl_from_zero`` per family, one stage per base model, and no stated relative RL compute (the
    stages' compute is known only in order)."""
    if "rl_stage" not in cells.columns or "family" not in cells.columns:
        return []
    problems = []
    col = lambda name: cells[name].str.strip() if name in cells.columns else pd.Series("", index=cells.index)
    stage, zero, fam, base, rel = (col(c) for c in ("rl_stage", "rl_from_zero", "family", "base_model",
                                                    "rl_log10_rel"))
    staged = set(fam[stage != ""])
    seen_zero, seen_stage = {}, {}
    for i, (s, z, f, b, r) in enumerate(zip(stage, zero, fam, base, rel), start=2):
        if f not in staged:
            if z:
                problems.append(Problem(path, "is set but rl_stage is empty; expected both or neither",
                                        row=i, column="rl_from_zero"))
            continue
        if not s:
            problems.append(Problem(path, f"is empty, but family '{f}' is an RL-training series (other rows have "
                                          "a stage); expected the stage of every row of the family",
                                    row=i, column="rl_stage"))
            continue
        if not z:
            problems.append(Problem(path, "is empty; expected yes or no (did stage 0 have RL training of its own?)",
                                    row=i, column="rl_from_zero"))
        elif seen_zero.setdefault(f, (z, i))[0] != z:
            problems.append(Problem(path, f"'{z}' differs from row {seen_zero[f][1]} of family '{f}'; expected one "
                                          "value per series", row=i, column="rl_from_zero"))
        if r:
            problems.append(Problem(path, "is set on an RL-series row; expected it empty (a series' stage compute is "
                                          "latent, known only in order)", row=i, column="rl_log10_rel"))
        if b and seen_stage.setdefault((f, b), (s, i))[0] != s:
            problems.append(Problem(path, f"stage {s} differs from row {seen_stage[(f, b)][1]} for base model "
                                          f"'{b}'; expected one stage per checkpoint", row=i, column="rl_stage"))
    by_stage = {}
    for (f, b), (s, i) in seen_stage.items():
        if by_stage.setdefault((f, s), (b, i))[0] != b:
            problems.append(Problem(path, f"stage {s} of family '{f}' is held by two checkpoints ('{by_stage[(f, s)][0]}' "
                                          f"and '{b}'); expected one checkpoint per stage", row=i, column="rl_stage"))
    return problems


def typed(df: pd.DataFrame) -> pd.DataFrame:
    """Text cells of a valid table -> typed columns in schema order (absent optional columns are added empty)."""
    out = {}
    for col in COLUMNS:
        text = df[col.name].str.strip() if col.name in df.columns else pd.Series("", index=df.index)
        empty = text == ""
        if col.kind in ("float", "stage"):  # stage: whole numbers, NaN when empty
            out[col.name] = np.array([np.nan if e else float(t) for t, e in zip(text, empty)], dtype=float)
        elif col.kind == "int":
            out[col.name] = text.astype("int64")
        else:
            out[col.name] = text.mask(empty).astype("str")
    return pd.DataFrame(out, index=pd.RangeIndex(len(df)))
