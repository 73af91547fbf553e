"""Bad input of any kind, through the real CLI (DESIGN.md section 6).

Every case writes one malformed file into ``tmp_path`` and runs the ``rlforecast`` command that reads it. Each
must end with exit code 2, a message naming the file and the row/column or key at fault (whole-file problems
such as "empty" or "binary" have no row to name; those cases list the words that say what is wrong instead),
no traceback, and nothing written at the requested output path (no stray ``*.part`` temp file either).
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import xarray as xr
from click.testing import CliRunner

from rlforecast.cli import main
from rlforecast.data.schema import NAMES

REPO = Path(__file__).resolve().parents[1]
MODEL = REPO / "models" / "baseline.toml"


# ---------------------------------------------------------------------------------------------- valid inputs

def base_rows(n: int = 3) -> list[dict[str, str]]:
    """Valid observation rows shaped like the simulated data behind ``fitted_run`` (so predict accepts them)."""
    rows = []
    for i, effort in enumerate(["low", "medium", "high"][:n]):
        row = dict.fromkeys(NAMES, "")
        row.update(obs_id=f"t:{i}", benchmark="gpqa_diamond", n_items="198", accuracy="0.5",
                   model_id=f"fam00-a_{effort}", base_model="fam00-a", family="fam00", reasoning="yes",
                   inference_setting=f"effort:{effort}", tokens_per_item=str(1000 * (i + 1)), source="t.csv",
                   locator=f"l{i}", exactness="exact", release_date="2025-06-01")
        rows.append(row)
    return rows


def csv_text(rows: list[dict], columns: list[str] | None = None, delimiter: str = ",") -> str:
    columns = columns or NAMES
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=delimiter, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow([r.get(c, "") for c in columns])
    return buf.getvalue()


BASE_SCENARIO = """\
description = "test scenario"
[rl]
growth_per_year = 3
[inference]
tokens_growth_per_year = 2
"""
BASE_THRESHOLDS = """\
[default]
levels = [0.5, 0.8]
"""


# ------------------------------------------------------------------------------------------------ builders
# Each builder writes its bad file into tmp_path and returns the path the command is pointed at.

def obs_edit(row: int, **cells) -> Callable[[Path], Path]:
    """Base table with cells of one data row (spreadsheet numbering: header = 1, first data row = 2) changed."""
    def build(tmp):
        rows = base_rows()
        rows[row - 2].update(cells)
        p = tmp / "bad.csv"
        p.write_text(csv_text(rows), encoding="utf-8")
        return p
    return build


def obs_text(text: str | bytes, name: str = "bad.csv") -> Callable[[Path], Path]:
    def build(tmp):
        p = tmp / name
        p.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
        return p
    return build


def obs_columns(columns: list[str]) -> Callable[[Path], Path]:
    return lambda tmp: obs_text(csv_text(base_rows(), columns))(tmp)


def duplicate_obs_id(tmp):
    rows = base_rows()
    rows[1]["obs_id"] = rows[0]["obs_id"]
    return obs_text(csv_text(rows))(tmp)


def too_many_fields(tmp):
    lines = csv_text(base_rows()).splitlines(keepends=True)
    lines[2] = lines[2].rstrip("\n") + ",extra\n"
    return obs_text("".join(lines))(tmp)


def latin1(tmp):
    rows = base_rows()
    rows[1]["notes"] = "café résumé"
    p = tmp / "bad.csv"
    p.write_bytes(csv_text(rows).encode("latin-1"))
    return p


def utf16(tmp):
    p = tmp / "bad.csv"
    p.write_bytes(csv_text(base_rows()).encode("utf-16"))
    return p


def utf16_no_bom(tmp):
    p = tmp / "bad.csv"
    p.write_bytes(csv_text(base_rows()).encode("utf-16-le"))
    return p


def no_usable_rows(tmp):
    """Valid table, but every row is a non-reasoning model and the baseline spec fits reasoning models only."""
    rows = base_rows()
    for r in rows:
        r["reasoning"] = "no"
    return obs_text(csv_text(rows))(tmp)


def random_bytes(tmp):
    p = tmp / "bad.csv"
    p.write_bytes(np.random.default_rng(0).integers(0, 256, 600, dtype=np.uint8).tobytes())
    return p


PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x06\x00\x00\x00\x1f\xf3\xffa"


def toml_file(text: str | bytes, name: str = "bad.toml") -> Callable[[Path], Path]:
    def build(tmp):
        p = tmp / name
        p.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
        return p
    return build


def spec_edit(pattern: str, new: str) -> Callable[[Path], Path]:
    """The shipped baseline spec with the first line matching ``pattern`` (regex) replaced by ``new``."""
    def build(tmp):
        text, n = re.subn(f"(?m)^{pattern}.*$", new, MODEL.read_text(encoding="utf-8"), count=1)
        assert n == 1, pattern
        return toml_file(text)(tmp)
    return build


def spec_without_section(section: str) -> Callable[[Path], Path]:
    def build(tmp):
        out, skip = [], False
        for line in MODEL.read_text(encoding="utf-8").splitlines(keepends=True):
            if line.startswith("["):
                skip = line.strip() == f"[{section}]"
            if not skip:
                out.append(line)
        return toml_file("".join(out))(tmp)
    return build


def folder(tmp):
    p = tmp / "a_folder.toml"
    p.mkdir()
    (p / "x.toml").write_text(BASE_SCENARIO)
    return p


def empty_folder(tmp):
    p = tmp / "scenarios"
    p.mkdir()
    (p / "README.md").write_text("no scenarios here\n")
    return p


def truncated_run(tmp, run):
    p = tmp / "truncated.nc"
    p.write_bytes(Path(run).read_bytes()[:5000])
    return p


def text_run(tmp, run):
    p = tmp / "notes.nc"
    p.write_text("this is a text file renamed .nc\n")
    return p


def missing_run(tmp, run):
    return tmp / "does_not_exist.nc"


def other_spec_run(tmp, run):
    """A run file whose stored spec was edited after fitting: its hash no longer matches the provenance."""
    p = tmp / "other_spec.nc"
    tree = xr.open_datatree(run, engine="h5netcdf").load()
    spec, n = re.subn(r"(?m)^cell_sd = \{ sigma = [0-9.]+ \}", "cell_sd = { sigma = 12.5 }", tree.attrs["spec_toml"])
    assert n == 1
    tree.attrs["spec_toml"] = spec
    tree.to_netcdf(p, engine="h5netcdf")
    return p


# ----------------------------------------------------------------------------------------------- the corpus

@dataclass(frozen=True)
class Case:
    id: str
    command: str  # which CLI entry reads the bad file (see ``command_args``)
    build: Callable
    expect: tuple[str, ...] = ()  # fragments the message must contain besides the file path
    extra: dict = field(default_factory=dict)


OBS = [
    # (id, builder, expected fragments)
    ("accuracy-above-1", obs_edit(3, accuracy="1.2"), ("row 3", "column 'accuracy'")),
    ("accuracy-negative", obs_edit(2, accuracy="-0.1"), ("row 2", "column 'accuracy'")),
    ("n_items-zero", obs_edit(2, n_items="0"), ("row 2", "column 'n_items'")),
    ("n_items-negative", obs_edit(4, n_items="-30"), ("row 4", "column 'n_items'")),
    ("n_items-fraction", obs_edit(3, n_items="12.5"), ("row 3", "column 'n_items'")),
    ("tokens-negative", obs_edit(2, tokens_per_item="-100"), ("row 2", "column 'tokens_per_item'")),
    ("cost-zero", obs_edit(3, cost_per_task_usd="0"), ("row 3", "column 'cost_per_task_usd'")),
    ("tokens-inf", obs_edit(4, tokens_per_item="inf"), ("row 4", "column 'tokens_per_item'")),
    ("rl-flop-nan", obs_edit(2, rl_compute_flop="NaN"), ("row 2", "column 'rl_compute_flop'")),
    ("missing-column", obs_columns([c for c in NAMES if c != "benchmark"]), ("row 1", "column 'benchmark'")),
    ("duplicated-column", obs_columns(NAMES + ["accuracy"]), ("row 1", "column 'accuracy'")),
    ("duplicate-obs_id", duplicate_obs_id, ("row 3", "column 'obs_id'", "row 2")),
    ("empty-file", obs_text(""), ("empty",)),
    ("header-only", obs_text(",".join(NAMES) + "\n"), ("no data rows",)),
    ("semicolons", obs_text(csv_text(base_rows(), delimiter=";")), ("row 1", "delimiter", "';'")),
    ("tabs", obs_text(csv_text(base_rows(), delimiter="\t")), ("row 1", "delimiter", "'\\t'")),
    ("latin-1", latin1, ("row 3", "UTF-8")),
    ("utf-16", utf16, ("UTF-16", "UTF-8")),
    ("utf-16-no-bom", utf16_no_bom, ("UTF-16", "UTF-8")),
    ("random-bytes", random_bytes, ("UTF-8",)),
    ("png", obs_text(PNG, name="bad.png"), ("UTF-8",)),
    ("number-with-comma", obs_edit(3, tokens_per_item="1,000"), ("row 3", "column 'tokens_per_item'")),
    ("number-with-text", obs_edit(2, accuracy="0.5x"), ("row 2", "column 'accuracy'")),
    ("date-month-13", obs_edit(3, release_date="2025-13-01"), ("row 3", "column 'release_date'")),
    ("date-words", obs_edit(4, run_date="June 2025"), ("row 4", "column 'run_date'")),
    ("enum-reasoning", obs_edit(2, reasoning="maybe"), ("row 2", "column 'reasoning'")),
    ("enum-exactness", obs_edit(3, exactness="approx"), ("row 3", "column 'exactness'")),
    ("enum-setting", obs_edit(4, inference_setting="effort:"), ("row 4", "column 'inference_setting'")),
    ("low-above-high", obs_edit(2, accuracy_low="0.7", accuracy_high="0.6"), ("row 2", "column 'accuracy_low'")),
    ("too-many-fields", too_many_fields, ("row 3", "fields")),
    ("unknown-column-typo", obs_columns([c if c != "family" else "famly" for c in NAMES]),
     ("row 1", "column 'famly'", "did you mean 'family'")),
]
OBS_COMMANDS = ("check", "fit-data", "predict-input", "update-new")
FIT_DATA = [
    ("no-usable-rows", no_usable_rows, ("column 'reasoning'", "non-reasoning")),
]

SPEC = [
    ("typo-key", spec_edit("likelihood = ", 'likelyhood = "binomial"'), ("key 'model.likelyhood'", "did you mean 'likelihood'")),
    ("typo-section", spec_edit(r"\[sampler\]", "[samplers]"), ("key 'samplers'", "did you mean 'sampler'")),
    ("missing-section", spec_without_section("diagnostics"), ("key 'diagnostics'", "missing section")),
    ("wrong-type", spec_edit("draws = ", 'draws = "many"'), ("key 'sampler.draws'",)),
    ("wrong-enum", spec_edit("pooling = ", 'pooling = "some"'), ("key 'model.pooling'",)),
    ("negative-sigma", spec_edit("family_sd = ", "family_sd = { sigma = -1.5 }"),
     ("key 'priors.family_sd.sigma'", "> 0")),
    ("invalid-toml", spec_edit("tune = ", "tune = = 1000"), ("not valid TOML", "line")),
    ("not-utf8", lambda tmp: toml_file(MODEL.read_text(encoding="utf-8").replace("Baseline", "Basélíne")
                                       .encode("latin-1"))(tmp), ("UTF-8",)),
    ("folder", folder, ("directory",)),
    ("missing-file", lambda tmp: tmp / "nope.toml", ("not found",)),
]

SCENARIOS = [
    ("typo-key", toml_file(BASE_SCENARIO.replace("growth_per_year = 3", "growth_per_yaer = 3")),
     ("key 'rl.growth_per_yaer'", "did you mean 'growth_per_year'")),
    ("typo-top-key", toml_file("horizn = 2040\n" + BASE_SCENARIO), ("key 'horizn'", "did you mean 'horizon'")),
    ("negative-growth", toml_file(BASE_SCENARIO.replace("growth_per_year = 3", "growth_per_year = -2")),
     ("key 'rl.growth_per_year'", ">= 1")),
    ("growth-below-1", toml_file(BASE_SCENARIO.replace("tokens_growth_per_year = 2", "tokens_growth_per_year = 0.5")),
     ("key 'inference.tokens_growth_per_year'", ">= 1")),
    ("cap-below-1", toml_file(BASE_SCENARIO + "max_tokens_multiple = 0.5\n"),
     ("key 'inference.max_tokens_multiple'", ">= 1")),
    ("bad-distribution", toml_file(BASE_SCENARIO.replace(
        "growth_per_year = 3", 'growth_per_year = {dist = "gaussian", mu = 3, sigma = 1}')),
     ("key 'rl.growth_per_year.dist'", "gaussian")),
    ("interval-low-above-high", toml_file(BASE_SCENARIO.replace(
        "growth_per_year = 3", 'growth_per_year = {dist = "interval80", low = 30, high = 10}')),
     ("key 'rl.growth_per_year'", "low")),
    ("string-value", toml_file(BASE_SCENARIO.replace("growth_per_year = 3", 'growth_per_year = "fast"')),
     ("key 'rl.growth_per_year'",)),
    ("missing-required", toml_file("[rl]\ngrowth_per_year = 3\n"), ("key 'inference.tokens_growth_per_year'",)),
    ("invalid-toml", toml_file(BASE_SCENARIO + "[rl\n"), ("not valid TOML", "line")),
    ("empty-folder", empty_folder, ("no scenario files",)),
    ("missing", lambda tmp: tmp / "nope.toml", ("no such",)),
    ("anchor-unknown-benchmark", toml_file(BASE_SCENARIO + '[anchor]\ngpqa_diamnd = "fam00-a_high"\n'),
     ("key 'anchor.gpqa_diamnd'", "gpqa_diamond")),
    ("anchor-unknown-model", toml_file(BASE_SCENARIO + '[anchor]\ngpqa_diamond = "no-such-model"\n'),
     ("key 'anchor.gpqa_diamond'", "no-such-model")),
]

THRESHOLDS = [
    ("unknown-benchmark", toml_file(BASE_THRESHOLDS + "[benchmarks]\ngpqa_diamnd = [0.6]\n"),
     ("key 'benchmarks.gpqa_diamnd'", "did you mean 'gpqa_diamond'")),
    ("level-above-1", toml_file("[default]\nlevels = [0.5, 1.5]\n"), ("key 'default.levels'", "(0, 1]")),
    ("level-zero", toml_file("[default]\nlevels = [0.0, 0.5]\n"), ("key 'default.levels'", "(0, 1]")),
    ("typo-section", toml_file("[defualt]\nlevels = [0.5]\n"), ("key 'defualt'", "did you mean 'default'")),
    ("invalid-toml", toml_file("[default]\nlevels = [0.5, \n"), ("not valid TOML",)),
]

RUNS = [
    ("truncated", truncated_run, ("not a readable",)),
    ("text-renamed", text_run, ("not a readable",)),
    ("missing", missing_run, ("not found",)),
    ("other-spec", other_spec_run, ("key 'spec_hash'", "different spec")),
]
RUN_COMMANDS = ("predict-fit", "exchange-fit", "forecast-fit", "budget-fit", "update-fit")


def raw_copy(edit: Callable[[Path], None]) -> Callable[[Path], Path]:
    """A copy of data/raw with one file broken; the case names the broken file."""
    def build(tmp):
        raw = tmp / "raw"
        shutil.copytree(REPO / "data" / "raw", raw)
        return edit(raw)
    return build


def _bad_essay_value(raw):
    p = raw / "essay_evidence.csv"
    lines = p.read_text(encoding="utf-8").splitlines(keepends=True)
    assert lines[1].startswith("E01,") and ",0.33,0.28," in lines[1]
    lines[1] = lines[1].replace(",0.33,0.28,", ",abc,0.28,", 1)
    p.write_text("".join(lines), encoding="utf-8")
    return p


def _truncated_json(raw):
    p = raw / "codesignist__ai-trend" / "data" / "raw" / "evaluations.json"
    p.write_bytes(p.read_bytes()[:3000])
    return p


def _missing_raw_file(raw):
    p = raw / "simple_evals_results.csv"
    p.unlink()
    return p


RAW = [
    ("bad-number", raw_copy(_bad_essay_value), ("row 2", "column 'value'")),
    ("truncated-json", raw_copy(_truncated_json), ("JSON", "line")),
    ("missing-file", raw_copy(_missing_raw_file), ("not found",)),
    ("missing-folder", lambda tmp: tmp / "no_raw_here", ("not found",)),
]

CASES = (
    [Case(f"{cmd}:{cid}", cmd, b, exp) for cid, b, exp in OBS for cmd in OBS_COMMANDS]
    + [Case(f"fit-data:{cid}", "fit-data", b, exp) for cid, b, exp in FIT_DATA]
    + [Case(f"fit-model:{cid}", "fit-model", b, exp) for cid, b, exp in SPEC]
    + [Case(f"{cmd}:{cid}", cmd, b, exp) for cid, b, exp in SCENARIOS for cmd in ("forecast-scenarios", "budget-scenarios")]
    + [Case(f"forecast-thresholds:{cid}", "forecast-thresholds", b, exp) for cid, b, exp in THRESHOLDS]
    + [Case(f"{cmd}:{cid}", cmd, b, exp) for cid, b, exp in RUNS for cmd in RUN_COMMANDS]
    + [Case(f"build-raw:{cid}", "build-raw", b, exp) for cid, b, exp in RAW]
)


# --------------------------------------------------------------------------------------------------- running

@pytest.fixture(scope="session")
def converged_run(fitted_run, tmp_path_factory):
    """The session fit with its diagnostics marked as passed.

    ``predict`` and ``exchange-rate`` refuse a failed fit (and have no --allow-unconverged flag); the small
    test fit may miss a threshold. The stored data and spec hashes stay valid, so ``load_run`` accepts it.
    """
    tree = xr.open_datatree(fitted_run, engine="h5netcdf").load()
    prov = json.loads(tree.attrs["provenance"])
    prov["diagnostics"]["passed"] = True
    tree.attrs["provenance"] = json.dumps(prov, sort_keys=True)
    out = tmp_path_factory.mktemp("converged") / "run.nc"
    tree.to_netcdf(out, engine="h5netcdf")
    return out


def command_args(case: Case, bad: Path, tmp: Path, out_dir: Path, run_path: Path | None) -> list[str]:
    """The argv for ``case``; every requested output lies in ``out_dir``."""
    good_csv = tmp / "good.csv"
    good_csv.write_text(csv_text(base_rows()))
    scen = tmp / "good_scenario.toml"
    scen.write_text(BASE_SCENARIO)
    thresholds = tmp / "good_thresholds.toml"
    thresholds.write_text(BASE_THRESHOLDS)
    out_file = str(out_dir / "result.csv")
    match case.command:
        case "build-raw":
            raw = tmp / "raw" if (tmp / "raw").is_dir() else bad
            return ["data", "build", "--raw", str(raw), "--out", out_file]
        case "check":
            return ["data", "check", str(bad)]
        case "fit-data":
            return ["fit", "--data", str(bad), "--model", str(MODEL), "--out", str(out_dir / "run.nc")]
        case "fit-model":
            return ["fit", "--data", str(good_csv), "--model", str(bad), "--out", str(out_dir / "run.nc")]
        case "predict-input":
            return ["predict", "--fit", str(run_path), "--input", str(bad), "--output", out_file]
        case "predict-fit":
            return ["predict", "--fit", str(bad), "--input", str(good_csv), "--output", out_file]
        case "exchange-fit":
            return ["exchange-rate", "--fit", str(bad), "--out", out_file]
        case "forecast-fit":
            return ["forecast", "--fit", str(bad), "--scenarios", str(scen), "--out", str(out_dir),
                    "--allow-unconverged"]
        case "forecast-scenarios":
            return ["forecast", "--fit", str(run_path), "--scenarios", str(bad), "--out", str(out_dir),
                    "--allow-unconverged"]
        case "forecast-thresholds":
            return ["forecast", "--fit", str(run_path), "--scenarios", str(scen), "--thresholds", str(bad),
                    "--out", str(out_dir), "--allow-unconverged"]
        case "budget-fit":
            return ["budget", "--fit", str(bad), "--scenarios", str(scen), "--out", str(out_dir), "--allow-unconverged"]
        case "budget-scenarios":
            return ["budget", "--fit", str(run_path), "--scenarios", str(bad), "--out", str(out_dir),
                    "--allow-unconverged"]
        case "update-fit":
            return ["update", "--fit", str(bad), "--new", str(good_csv), "--out-fit", str(out_dir / "run.nc"),
                    "--scenarios", str(scen), "--out", out_file, "--allow-unconverged"]
        case "update-new":
            return ["update", "--fit", str(run_path), "--new", str(bad), "--out-fit", str(out_dir / "run.nc"),
                    "--scenarios", str(scen), "--out", out_file, "--allow-unconverged"]
    raise AssertionError(case.command)


MANY_PROBLEMS = {"semicolons", "tabs"}
NEEDS_RUN_TO_BUILD = {"predict-fit", "exchange-fit", "forecast-fit", "budget-fit", "update-fit"}
NEEDS_RUN_AS_ARG = {"predict-input", "forecast-scenarios", "forecast-thresholds", "budget-scenarios", "update-new"}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_refused_cleanly(case, tmp_path, request):
    run_path = None
    if case.command in NEEDS_RUN_TO_BUILD | NEEDS_RUN_AS_ARG:
        run_path = request.getfixturevalue("converged_run")
    bad = case.build(tmp_path, run_path) if case.command in NEEDS_RUN_TO_BUILD else case.build(tmp_path)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}

    res = CliRunner().invoke(main, command_args(case, bad, tmp_path, out_dir, run_path))

    message = res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), (
        f"uncaught {type(res.exception).__name__}: {res.exception}\n{message}")
    assert res.exit_code == 2, message
    assert "Traceback" not in message
    assert str(bad) in message, f"message does not name the file {bad}:\n{message}"
    for fragment in case.expect:
        assert fragment in message, f"message lacks {fragment!r}:\n{message}"
    # one short paragraph; a wrong delimiter is the exception: `data check` lists every problem it causes
    if case.id.split(":")[1] not in MANY_PROBLEMS:
        assert len(message) < 2000 and len(message.strip().splitlines()) <= 4, "one short paragraph expected"
    # nothing written: the output folder stays empty (no output, no *.part temp), inputs untouched
    assert list(out_dir.iterdir()) == []
    assert not list(tmp_path.rglob("*.part"))
    after = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and p in before}
    assert after == before


def test_corpus_is_large_and_the_valid_base_files_are_accepted(tmp_path):
    """The corpus is only meaningful if the unmodified files pass: each case then breaks exactly one thing."""
    from rlforecast.scenarios.spec import load_scenarios

    assert len(CASES) >= 30 and len({c.id for c in CASES}) == len(CASES)
    good = tmp_path / "good.csv"
    good.write_text(csv_text(base_rows()))
    res = CliRunner().invoke(main, ["data", "check", str(good)])
    assert res.exit_code == 0, res.output
    scen = tmp_path / "s.toml"
    scen.write_text(BASE_SCENARIO)
    assert load_scenarios(scen)[0].name == "s"


def test_predict_accepts_the_valid_base_input(converged_run, tmp_path):
    good, out = tmp_path / "good.csv", tmp_path / "pred.csv"
    good.write_text(csv_text(base_rows()))
    res = CliRunner().invoke(main, ["predict", "--fit", str(converged_run), "--input", str(good),
                                    "--output", str(out)])
    assert res.exit_code == 0, res.output
    assert out.read_text().splitlines()[0].endswith("pred_q95")


# Bad option values are bad input too: click refuses them before any file is touched (exit 2, names the option).
BAD_OPTIONS = [
    ("fit-negative-seed", "fit", ["--seed", "-1"], "'--seed'"),
    ("fit-zero-draws", "fit", ["--draws", "0"], "'--draws'"),
    ("fit-negative-chains", "fit", ["--chains", "-2"], "'--chains'"),
    ("predict-negative-seed", "predict", ["--seed", "-3"], "'--seed'"),
    ("forecast-negative-seed", "forecast", ["--seed", "-1"], "'--seed'"),
    ("forecast-zero-param-draws", "forecast", ["--param-draws", "0"], "--param-draws"),
    ("exchange-gpt-level-below-1", "exchange-rate", ["--gpt-level-inference", "0.5"], "'--gpt-level-inference'"),
]


@pytest.mark.parametrize(("command", "extra", "expect"), [c[1:] for c in BAD_OPTIONS], ids=[c[0] for c in BAD_OPTIONS])
def test_bad_option_values_are_refused_cleanly(command, extra, expect, tmp_path):
    good = tmp_path / "good.csv"
    good.write_text(csv_text(base_rows()))
    scen = tmp_path / "s.toml"
    scen.write_text(BASE_SCENARIO)
    run = tmp_path / "run.nc"  # never opened: the option is refused first
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    args = {
        "fit": ["fit", "--data", str(good), "--model", str(MODEL), "--out", str(out_dir / "run.nc")],
        "predict": ["predict", "--fit", str(run), "--input", str(good), "--output", str(out_dir / "p.csv")],
        "forecast": ["forecast", "--fit", str(run), "--scenarios", str(scen), "--out", str(out_dir)],
        "exchange-rate": ["exchange-rate", "--fit", str(run), "--out", str(out_dir / "x.csv")],
    }[command]
    res = CliRunner().invoke(main, args + extra)
    assert res.exception is None or isinstance(res.exception, SystemExit), res.output
    assert res.exit_code == 2 and expect in res.output and "Traceback" not in res.output, res.output
    assert list(out_dir.iterdir()) == []
