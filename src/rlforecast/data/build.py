"""Build the observations table from the raw public files (same input, byte-identical output).

Sources: Epoch AI Benchmarking Hub runs (+ token counts, model versions, training compute), ARC Prize
evaluations, OpenAI simple-evals, and the observation rows of essay_evidence.csv. Everything curated
(benchmark sizes, name aliases, reasoning models, RL relations) lives in ``curation.toml`` beside this file.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import re
import tomllib
from decimal import Decimal, InvalidOperation
from functools import cache
from importlib import resources
from pathlib import Path

import pandas as pd
import yaml

from rlforecast import io as rio
from rlforecast.data import schema
from rlforecast.errors import InputError, Problem

RUNS = "epoch-research__benchmark-stitching/data/benchmarks_runs.csv"
VERSIONS = "epoch-research__benchmark-stitching/data/model_versions.csv"
TOKENS = "epoch-research__llm-benchmark-efficiency/data/epoch_ai_eval_data.csv"
NOTABLE = "rauletorresc__llmfit/data/Epoch Database - Notable Models.csv"
LARGE = "rauletorresc__llmfit/data/large_scale_ai_models.csv"
ARC_EVALS = "codesignist__ai-trend/data/raw/evaluations.json"
ARC_MODELS = "codesignist__ai-trend/data/raw/models.json"
SIMPLE_EVALS = "simple_evals_results.csv"
ESSAY = "essay_evidence.csv"
RL_SERIES = "rl_series.csv"
AIDER = "Aider-AI__aider/aider/website/_data/polyglot_leaderboard.yml"

# The token file names o1-preview with its effort; the runs file does not (SOURCES.md, "Profile").
TOKEN_MODEL_ALIASES = {"o1-preview-2024-09-12_medium": "o1-preview-2024-09-12"}
TOKEN_FILE_DATE = "2025-03-13"  # last commit of epoch_ai_eval_data.csv: later runs cannot be the ones it counted
EFFORTS = "none|minimal|low|medium|high|xhigh|max"
EPOCH_SUFFIX = re.compile(rf"_(?:(?P<effort>{EFFORTS})|(?P<budget>\d+)K)$")
ARC_EFFORT = re.compile(rf"[-_](?P<effort>{EFFORTS})(?=$|-\d{{4}}-\d{{2}}-\d{{2}}$)")
ARC_BUDGET = re.compile(r"[- ](?P<budget>\d+)[kK](?=$|[- ])")
ARC_THINKING = re.compile(r"[-_ ]thinking$", re.IGNORECASE)
STARTED_AT = "%d %B %Y %I:%M%p"
SELF_CONSISTENCY = re.compile(r"cons@|majority", re.IGNORECASE)


@cache
def curation() -> dict:
    """The curated mapping data shipped with the package."""
    return tomllib.loads(resources.files(__package__).joinpath("curation.toml").read_text(encoding="utf-8"))


def build_observations(raw_dir) -> pd.DataFrame:
    """All observation rows from a raw folder laid out like shared/reference-data, in schema order, sorted."""
    raw = Path(raw_dir)
    if not raw.is_dir():
        raise InputError.at(raw, "raw folder not found; expected a folder laid out like shared/reference-data")
    cur = curation()
    records = (_epoch_rows(raw, cur) + _arc_rows(raw, cur) + _simple_evals_rows(raw, cur) + _essay_rows(raw, cur)
               + _rl_series_rows(raw, cur) + _aider_rows(raw, cur))
    df = pd.DataFrame.from_records(records, columns=schema.NAMES)
    for col in ("release_date", "pretrain_compute_flop", "rl_compute_flop"):  # same checkpoint, same facts
        known = df.dropna(subset=[col]).groupby("base_model", sort=True)[col].first()
        df[col] = df[col].fillna(df["base_model"].map(known))
    df = df.sort_values(["benchmark", "model_id", "obs_id"], kind="stable", ignore_index=True)
    return df.astype({c.name: {"float": "float64", "stage": "float64", "int": "int64"}.get(c.kind, "str")
                      for c in schema.COLUMNS})


def to_csv_text(df: pd.DataFrame) -> str:
    """CSV text with shortest round-trip floats, empty cells for missing values and LF line endings."""
    text = pd.DataFrame({c.name: df[c.name].map(_stage_cell if c.kind == "stage" else _cell) for c in schema.COLUMNS})
    return text.to_csv(index=False, lineterminator="\n")


def build_to_file(raw_dir, out_path) -> str:
    """Build, validate the result against the schema, write it atomically; return a short summary."""
    df = build_observations(raw_dir)
    text = to_csv_text(df)
    cells = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    problems = schema.validate(cells, out_path)
    if problems:
        raise InputError(problems)
    rio.write_text(out_path, text)
    counts = df["source"].value_counts().sort_index()
    lines = [f"wrote {out_path}: {len(df)} rows, {df['benchmark'].nunique()} benchmarks"]
    lines += [f"  {n:5d}  {source}" for source, n in counts.items()]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------------------
# Sources


def _epoch_rows(raw: Path, cur: dict) -> list[dict]:
    runs = _read_csv(raw, RUNS, ["id", "task", "model", "Best score (across scorers)", "started_at",
                                 "Manual evaluation"])
    versions = _read_csv(raw, VERSIONS, ["id", "Model", "Version release date"]).drop_duplicates("id")
    versions = versions.set_index("id")
    tokens = _tokens(raw)
    pretrain, finetune = _training_compute(raw)
    path = raw / RUNS
    rows = []
    for i, r in enumerate(runs.to_dict("records"), start=2):
        benchmark = _lookup(cur["epoch_tasks"], r["task"], path, i, "task")
        model = r["model"].strip()
        m = EPOCH_SUFFIX.search(model)
        base = model[: m.start()] if m else model
        setting = _setting(m["effort"] if m else None, m["budget"] if m else None)
        notes = []
        if m and m["budget"]:
            notes.append(f"budget from the model suffix '_{m['budget']}K', read as {int(m['budget']) * 1000} tokens")
        if r["Manual evaluation"].strip():
            notes.append("manual evaluation")
        run_date = _started_at(r["started_at"], path, i)
        tok = tokens.get((model.lower(), r["task"].strip().lower()))
        tokens_per_item = None
        if tok is not None:
            tokens_per_item = tok[0] / tok[1]
            if run_date and run_date > TOKEN_FILE_DATE:
                notes.append(f"tokens from {TOKENS}, which predates this run: they likely come from an earlier run")
        version = versions.loc[model] if model in versions.index else None
        name = cur["compute_model_overrides"].get(model, version["Model"].strip() if version is not None else "")
        fields, relation = _model_fields(base, setting, cur)
        rows.append({
            "obs_id": f"epoch:{r['id']}",
            "benchmark": benchmark,
            "n_items": cur["benchmarks"][benchmark]["n_items"],
            "accuracy": _number(r["Best score (across scorers)"], path, i, "Best score (across scorers)", fraction=True),
            **fields,
            "tokens_per_item": tokens_per_item,
            "rl_compute_flop": finetune.get(name) if fields["reasoning"] == "yes" else None,
            "pretrain_compute_flop": pretrain.get(name),
            "release_date": None if version is None else _date(version["Version release date"], raw / VERSIONS,
                                                               column="Version release date", key=model),
            "run_date": run_date,
            "source": RUNS,
            "locator": r["id"],
            "exactness": "exact",
            "notes": _join(notes + [relation]),
        })
    return rows


def _tokens(raw: Path) -> dict[tuple[str, str], tuple[float, float]]:
    """(lower-cased model, lower-cased task) -> (output_tokens, total_samples)."""
    df = _read_csv(raw, TOKENS, ["Model", "Task", "total_samples", "output_tokens"])
    path = raw / TOKENS
    out = {}
    for i, r in enumerate(df.to_dict("records"), start=2):
        model = r["Model"].strip()
        key = (TOKEN_MODEL_ALIASES.get(model, model).lower(), r["Task"].strip().lower())
        if key in out:
            raise InputError.at(path, f"second token row for model '{model}' and task '{r['Task']}'; expected one",
                                row=i, column="Model")
        out[key] = (_number(r["output_tokens"], path, i, "output_tokens", positive=True),
                    _number(r["total_samples"], path, i, "total_samples", positive=True))
    return out


def _training_compute(raw: Path) -> tuple[dict[str, float], dict[str, float]]:
    """Epoch model name -> pre-training FLOP (large-scale table first, then notable) and -> finetune FLOP.

    Finetune compute comes from the large-scale table only: the notable copy's column is corrupted.
    """
    columns = ["Model", "Training compute (FLOP)"]
    large = _read_csv(raw, LARGE, columns + ["Finetune compute (FLOP)"])
    notable = _read_csv(raw, NOTABLE, columns)
    pretrain, finetune = {}, {}
    for rel, df in ((NOTABLE, notable), (LARGE, large)):
        for i, r in enumerate(df.to_dict("records"), start=2):
            name = r["Model"].strip()
            if r["Training compute (FLOP)"].strip():
                pretrain[name] = _number(r["Training compute (FLOP)"], raw / rel, i, "Training compute (FLOP)",
                                         positive=True)
            if rel == LARGE and r["Finetune compute (FLOP)"].strip():
                finetune[name] = _number(r["Finetune compute (FLOP)"], raw / rel, i, "Finetune compute (FLOP)",
                                         positive=True)
    return pretrain, finetune


def _arc_rows(raw: Path, cur: dict) -> list[dict]:
    evals, models = _read_json_list(raw, ARC_EVALS), _read_json_list(raw, ARC_MODELS)
    path = raw / ARC_EVALS
    model_by_id = {}
    for j, m in enumerate(models):
        model_by_id.setdefault(_key(m, "id", raw / ARC_MODELS, j), m)  # duplicated ids: the first entry is kept
    seen, rows = {}, []
    for j, e in enumerate(evals):
        dataset, model_id = _key(e, "datasetId", path, j), _key(e, "modelId", path, j)
        if dataset not in cur["arc_datasets"]:
            continue
        if model_id not in model_by_id:
            raise InputError.at(path, f"modelId '{model_id}' has no entry in {ARC_MODELS}", key=f"[{j}].modelId")
        model = model_by_id[model_id]
        if model.get("modelType") not in cur["arc"]["keep_model_types"] or e.get("costPerTask") is None:
            continue
        record = json.dumps(e, sort_keys=True)
        if (dataset, model_id) in seen:
            if seen[dataset, model_id] != record:
                raise InputError.at(path, f"two different records for ({dataset}, {model_id}); expected one",
                                    key=f"[{j}]")
            continue
        seen[dataset, model_id] = record
        base, setting, note = _arc_setting(model_id, cur)
        benchmark = cur["arc_datasets"][dataset]
        released = model.get("modelReleaseDate")
        fields, relation = _model_fields(base, setting, cur)
        rows.append({
            "obs_id": f"arc:{dataset}:{model_id}",
            "benchmark": benchmark,
            "n_items": cur["benchmarks"][benchmark]["n_items"],
            "accuracy": _json_number(e, "score", path, j, fraction=True),
            **fields,
            "cost_per_task_usd": _json_number(e, "costPerTask", path, j, positive=True),
            "release_date": _date(released[:10], raw / ARC_MODELS, key=f"{model_id}.modelReleaseDate")
            if released else None,
            "source": ARC_EVALS,
            "locator": f"{dataset}/{model_id}",
            "exactness": "exact",
            "notes": _join([note, "hidden on the ARC Prize chart (display=false)" if e.get("display") is False
                            else None, relation]),
        })
    return rows


def _arc_setting(model_id: str, cur: dict) -> tuple[str, str, str | None]:
    """ARC modelId -> (base model name before aliasing, inference setting, note)."""
    name = model_id
    for suffix in cur["arc"]["provider_suffixes"]:
        name = re.sub(rf"-{suffix}(?=-|$)", "", name)
    effort = ARC_EFFORT.search(name)
    if effort:
        name = name[: effort.start()] + name[effort.end():]
    budget = ARC_BUDGET.search(name)
    if budget:
        name = name[: budget.start()] + name[budget.end():]
    if effort or budget:
        name = ARC_THINKING.sub("", name)
    note = None
    if budget:
        note = f"thinking budget from the id ('{budget['budget']}K', read as {int(budget['budget']) * 1000} tokens)"
    if effort and budget:
        note += f"; the setting records the effort label '{effort['effort']}'"
        budget = None
    return name, _setting(effort["effort"] if effort else None, budget["budget"] if budget else None), note


def _simple_evals_rows(raw: Path, cur: dict) -> list[dict]:
    df = _read_csv(raw, SIMPLE_EVALS, ["model", "reasoning_effort", "benchmark", "score_percent"])
    path = raw / SIMPLE_EVALS
    rows = []
    for i, r in enumerate(df.to_dict("records"), start=2):
        label, model, effort = r["benchmark"].strip(), r["model"].strip(), r["reasoning_effort"].strip()
        if label in cur["simple_evals_excluded"]:
            continue
        benchmark = _lookup(cur["simple_evals_benchmarks"], label, path, i, "benchmark")
        notes = []
        if effort in ("high", "medium", "low"):
            setting = f"effort:{effort}"
        elif effort == "default (not set)":
            setting = "default"
            notes.append("no effort parameter sent; the API default effort is medium")
        elif effort == "n/a (non-reasoning)":
            setting = "default"
        elif effort == "":
            setting = "effort:medium"
            notes.append("no effort suffix in the README: the API default, medium")
        else:
            raise InputError.at(path, f"unknown reasoning_effort '{effort}'; expected high, medium, low, "
                                      "'default (not set)', 'n/a (non-reasoning)' or empty", row=i,
                                column="reasoning_effort")
        if benchmark == "math":
            notes.append("README label MATH; the split for models after o1 is ambiguous (code default: full test set)")
        percent = _percent(r["score_percent"], path, i, "score_percent")
        fields, relation = _model_fields(model, setting, cur)
        if effort == "n/a (non-reasoning)":
            fields["reasoning"] = "no"
        tag = effort if setting.startswith("effort:") else "default"
        rows.append({
            "obs_id": f"simple-evals:{model}:{tag}:{benchmark}",
            "benchmark": benchmark,
            "n_items": cur["benchmarks"][benchmark]["n_items"],
            "accuracy": float(percent / 100),
            **fields,
            "source": SIMPLE_EVALS,
            "locator": f"{model}|{effort}|{label}",
            "exactness": "transcription",
            "notes": _join(notes + [relation]),
        })
    return rows


def _rl_series_rows(raw: Path, cur: dict) -> list[dict]:
    """Open RL-training series (rl_series.csv, a transcription of published tables): one family per series,
    checkpoints staged in RL order; the stages' compute is known only in order (latent in the model)."""
    path = raw / RL_SERIES
    if not path.is_file():  # an older raw folder without the series
        return []
    df = _read_csv(raw, RL_SERIES, ["series", "checkpoint", "stage", "rl_from_zero", "benchmark", "metric",
                                    "value", "release_date", "source", "repo", "commit", "path", "locator",
                                    "verified", "notes"])
    excluded_series = cur["rl_series_excluded"]
    rows = []
    for i, r in enumerate(df.to_dict("records"), start=2):
        series, label = r["series"].strip(), r["benchmark"].strip()
        if series in excluded_series or label in cur["rl_series_excluded_benchmarks"]:
            continue
        if SELF_CONSISTENCY.search(r["metric"]):
            continue  # majority votes use many samples per item: a different inference setting, left out
        benchmark = _lookup(cur["rl_series_benchmarks"], label, path, i, "benchmark")
        stage = r["stage"].strip()
        if not schema.INTEGER.fullmatch(stage) or int(stage) < 0:
            raise InputError.at(path, f"'{r['stage']}' is not a stage number; expected 0, 1, 2, ...", row=i,
                                column="stage")
        zero = r["rl_from_zero"].strip()
        if zero not in ("yes", "no"):
            raise InputError.at(path, f"'{r['rl_from_zero']}' is not yes or no (series with an unknown start are "
                                      "listed in curation.toml [rl_series_excluded])", row=i, column="rl_from_zero")
        percent = _percent(r["value"], path, i, "value")
        checkpoint = f"{series}/{r['checkpoint'].strip()}"
        secondary = r["verified"].strip().startswith("secondary")
        rows.append({
            "obs_id": f"rl-series:{checkpoint}:{benchmark}",
            "benchmark": benchmark,
            "n_items": cur["benchmarks"][benchmark]["n_items"],
            "accuracy": float(percent / 100),
            "model_id": checkpoint,
            "base_model": checkpoint,
            "family": series,
            "reasoning": "yes",  # every checkpoint of a series is a point on its RL-training curve
            "inference_setting": "pass@1",
            "release_date": _date(r["release_date"], path, row=i, column="release_date"),
            "source": RL_SERIES,
            "locator": f"{r['repo'].strip() or r['source'].strip()}@{r['commit'].strip()[:12]}:{r['path'].strip()}, "
                       f"{r['locator'].strip()}",
            "exactness": "transcription",
            "notes": _join([f"{r['metric'].strip()}", "checked only against a secondary copy" if secondary else None,
                            r["notes"].strip()]),
            "rl_stage": int(stage),
            "rl_from_zero": zero,
        })
    return rows


def _aider_rows(raw: Path, cur: dict) -> list[dict]:
    """Aider Polyglot leaderboard runs curated as within-model sweeps (effort, thinking budget): inference
    compute measured as completion tokens per exercise, else dollars per exercise (one price list per model)."""
    path = raw / AIDER
    if not path.is_file():  # an older raw folder without the leaderboard
        return []
    try:
        runs = yaml.safe_load(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as err:
        raise InputError.at(path, f"cannot be read as UTF-8 YAML ({err})") from None
    if not isinstance(runs, list) or not all(isinstance(r, dict) for r in runs):
        raise InputError.at(path, "expected a YAML list of leaderboard runs")
    sweeps = cur["aider_sweeps"]
    rows = []
    for j, r in enumerate(runs):
        name = r.get("model")
        if name not in sweeps:
            continue
        pick = sweeps[name]
        passed = _json_number(r, "pass_rate_2", path, j, positive=True)
        if passed > 100:
            raise InputError.at(path, f"{passed!r} is above 100; expected a percentage", key=f"[{j}].pass_rate_2")
        cases = _json_number(r, "test_cases", path, j, positive=True)
        tokens = (_json_number(r, "completion_tokens", path, j, positive=True) / cases
                  if r.get("completion_tokens") is not None else None)
        cost = _json_number(r, "total_cost", path, j, positive=True) / cases
        fields, relation = _model_fields(pick["base"], pick["setting"], cur)
        notes = [pick.get("note"), "tokens = completion_tokens / test_cases (both tries)" if tokens else
                 "no token count: dollars per exercise (aider's cost estimate) measure the setting",
                 f"{int(cases)} of 225 exercises run" if cases < 225 else None, relation]
        rows.append({
            "obs_id": f"aider:{fields['model_id']}:aider_polyglot",
            "benchmark": "aider_polyglot",
            "n_items": cur["benchmarks"]["aider_polyglot"]["n_items"],
            "accuracy": float(Decimal(str(passed)) / 100),
            **fields,
            "tokens_per_item": tokens,
            "cost_per_task_usd": cost,
            "run_date": _date(str(r.get("date", "")), path, key=f"[{j}].date"),
            "source": AIDER,
            "locator": f"model '{name}' ({r.get('dirname', '')})",
            "exactness": "exact",
            "notes": _join(notes),
        })
    return rows


def _essay_rows(raw: Path, cur: dict) -> list[dict]:
    df = _read_csv(raw, ESSAY, ["id", "kind", "subject", "value", "low", "high"])
    path = raw / ESSAY
    by_id = {r["id"].strip(): (i, r) for i, r in enumerate(df.to_dict("records"), start=2)}
    rows = []
    for eid, spec in cur["essay"].items():
        if eid not in by_id:
            raise InputError.at(path, f"evidence id {eid} is missing; expected a row with id {eid}", column="id")
        i, r = by_id[eid]
        values = r["value"].split(";")
        if len(values) != len(spec["settings"]):
            raise InputError.at(path, f"expected {len(spec['settings'])} ';'-separated values", row=i,
                                column="value")
        chart = r["kind"].strip() == "chart_reading"
        for setting, value in zip(spec["settings"], values):
            inference = _log_range(spec, "inference_log10_rel")
            if inference == (None, None, None) and "@" in setting:
                inference = (math.log10(int(setting.split("@")[1])), None, None)
            rl = _log_range(spec, "rl_log10_rel")
            rows.append({
                "obs_id": f"essay:{eid}" if len(values) == 1 else f"essay:{eid}:{setting}",
                "benchmark": spec["benchmark"],
                "n_items": cur["benchmarks"][spec["benchmark"]]["n_items"],
                "accuracy": _number(value, path, i, "value", fraction=True),
                "accuracy_low": _number(r["low"], path, i, "low", fraction=True) if chart else None,
                "accuracy_high": _number(r["high"], path, i, "high", fraction=True) if chart else None,
                "model_id": f"{spec['base_model']}_{setting}",
                "base_model": spec["base_model"],
                "family": spec["family"],
                "reasoning": spec.get("reasoning", "yes"),
                "inference_setting": setting,
                "inference_log10_rel": inference[0],
                "inference_log10_rel_low": inference[1],
                "inference_log10_rel_high": inference[2],
                "rl_log10_rel": rl[0],
                "rl_log10_rel_low": rl[1],
                "rl_log10_rel_high": rl[2],
                "source": ESSAY,
                "locator": eid,
                "exactness": "chart_reading" if chart else "exact",
                "evidence": eid,
                "notes": _join([r["subject"].strip(), spec.get("note")]),
            })
    return rows


# ---------------------------------------------------------------------------------------------------------------
# Model identity, settings and RL relations


def _model_fields(name: str, setting: str, cur: dict) -> tuple[dict, str | None]:
    """Columns shared by every source (names, family, reasoning flag, curated RL relation) and a note."""
    base = cur["base_model_aliases"].get(name, name)
    suffix = setting.split(":")[-1]
    fields = {
        "model_id": base if setting == "default" else f"{base}_{suffix}",
        "base_model": base,
        "family": base,
        "reasoning": "yes" if _is_reasoning(base, setting, tuple(cur["reasoning"]["patterns"])) else "no",
        "inference_setting": setting,
    }
    note = None
    for family, spec in cur["families"].items():
        if base == spec["reference"]:
            rl = (0.0, None, None)
        elif base in spec["members"]:
            rl = _relation(spec["members"][base])
        else:
            continue
        fields.update(family=family, evidence=spec["evidence"],
                      rl_log10_rel=rl[0], rl_log10_rel_low=rl[1], rl_log10_rel_high=rl[2])
        note = f"RL family {family}, reference {spec['reference']}: relation {spec['exactness']} ({spec['evidence']})"
    return fields, note


def _relation(member: dict) -> tuple[float, float, float]:
    """log10 RL compute relative to the family reference: central, low, high."""
    if "rl_multiple" in member:
        low, high = member["rl_multiple_range"]
        return math.log10(member["rl_multiple"]), math.log10(low), math.log10(high)
    reference = sum(math.log10(x) for x in member["reference_rl_flop"]) / len(member["reference_rl_flop"])
    low_ref, high_ref = member["reference_rl_flop_range"]
    own = math.log10(member["rl_flop"])
    return own - reference, own - math.log10(high_ref), own - math.log10(low_ref)


@cache
def _reasoning_patterns(patterns: tuple[str, ...]) -> re.Pattern:
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)


def _is_reasoning(base: str, setting: str, patterns: tuple[str, ...]) -> bool:
    if setting == "effort:none":
        return False
    return setting.startswith(("effort:", "budget:")) or bool(_reasoning_patterns(patterns).search(base))


def _setting(effort: str | None, budget: str | None) -> str:
    if effort:
        return f"effort:{effort}"
    if budget:
        return f"budget:{int(budget) * 1000}"
    return "default"


def _log_range(spec: dict, name: str) -> tuple[float | None, float | None, float | None]:
    low, high = spec.get(f"{name}_range", (None, None))
    return spec.get(name), low, high


# ---------------------------------------------------------------------------------------------------------------
# Reading and parsing raw cells (every failure names file, row and column)


def _read_csv(raw: Path, rel: str, columns: list[str]) -> pd.DataFrame:
    path = raw / rel
    if not path.is_file():
        raise InputError.at(path, "raw file not found; expected the layout of shared/reference-data")
    try:
        text = path.read_bytes().decode("utf-8-sig")
        records = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except (UnicodeDecodeError, csv.Error) as err:
        raise InputError.at(path, f"cannot be read as a UTF-8 CSV ({err})") from None
    if not records:
        raise InputError.at(path, "raw file is empty; expected a CSV header and rows")
    header = [h.strip() for h in records[0]]
    missing = [c for c in columns if c not in header]
    if missing:
        raise InputError([Problem(str(path), "required column is missing", row=1, column=c) for c in missing])
    for i, r in enumerate(records[1:], start=2):
        if r and len(r) != len(header):
            raise InputError.at(path, f"has {len(r)} fields, expected {len(header)}", row=i)
    return pd.DataFrame([r for r in records[1:] if r], columns=header, dtype=object)


def _read_json_list(raw: Path, rel: str) -> list[dict]:
    path = raw / rel
    if not path.is_file():
        raise InputError.at(path, "raw file not found; expected the layout of shared/reference-data")
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError.at(path, f"cannot be read as UTF-8 JSON ({err})") from None
    if not isinstance(data, list) or not all(isinstance(x, dict) for x in data):
        raise InputError.at(path, "expected a JSON list of records")
    return data


def _key(record: dict, key: str, path: Path, j: int) -> str:
    value = record.get(key)
    if not isinstance(value, str) or not value:
        raise InputError.at(path, "missing or not a string", key=f"[{j}].{key}")
    return value


def _json_number(record: dict, key: str, path: Path, j: int, **checks) -> float:
    value = record.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError.at(path, f"{value!r} is not a number", key=f"[{j}].{key}")
    return _checked(float(value), path, None, None, f"[{j}].{key}", **checks)


def _number(cell: str, path: Path, row: int, column: str, **checks) -> float:
    text = cell.strip()
    if not schema.DECIMAL.fullmatch(text):
        raise InputError.at(path, f"'{cell}' is not a number; expected a decimal number", row=row, column=column)
    return _checked(float(text), path, row, column, None, **checks)


def _checked(value: float, path, row, column, key, *, fraction=False, positive=False) -> float:
    if not math.isfinite(value) or (fraction and not 0 <= value <= 1) or (positive and value <= 0):
        expected = "a fraction in [0, 1]" if fraction else "a positive finite number"
        raise InputError.at(path, f"{value!r} is out of range; expected {expected}", row=row, column=column, key=key)
    return value


def _decimal(cell: str, path: Path, row: int, column: str) -> Decimal:
    try:
        value = Decimal(cell.strip())
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite():
        raise InputError.at(path, f"'{cell}' is not a number; expected a decimal number", row=row, column=column)
    return value


def _percent(cell: str, path: Path, row: int, column: str) -> Decimal:
    value = _decimal(cell, path, row, column)
    if not 0 <= value <= 100:
        raise InputError.at(path, f"{cell} is outside [0, 100]; expected a percentage", row=row, column=column)
    return value


def _date(cell: str, path: Path, **where) -> str | None:
    text = cell.strip()
    if not text:
        return None
    if schema.DATE.fullmatch(text) and schema.is_date(text):
        return text
    raise InputError.at(path, f"'{cell}' is not a date; expected YYYY-MM-DD", **where)


def _started_at(cell: str, path: Path, row: int) -> str | None:
    text = cell.strip()
    if not text:
        return None
    try:
        return dt.datetime.strptime(text, STARTED_AT).date().isoformat()
    except ValueError:
        raise InputError.at(path, f"'{cell}' is not a start time; expected e.g. '17 November 2025 4:28pm'",
                            row=row, column="started_at") from None


def _lookup(mapping: dict, label: str, path: Path, row: int, column: str) -> str:
    if label.strip() not in mapping:
        raise InputError.at(path, f"unknown value '{label}'; expected one of: {', '.join(mapping)}", row=row,
                            column=column)
    return mapping[label.strip()]


def _join(parts) -> str | None:
    text = "; ".join(p for p in parts if p)
    return text or None


def _stage_cell(value) -> str:
    return "" if pd.isna(value) else str(int(value))


def _cell(value) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)

