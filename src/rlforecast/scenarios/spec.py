"""Scenario and threshold files: schema, validation (errors name file and key) and parameter draws.

A scenario (``data/scenarios/*.toml``) describes frontier compute from ``start`` to the end of ``horizon``::

    name = "rl-to-parity"            # optional; default: the file name without .toml
    start = 2026-01-01               # first day of a month; default: the forecast date (first day of the month of
                                     # the fit's latest release, or `--start`)
    horizon = 2040                   # last calendar year on the grid; default 2040

    [rl]                             # frontier RL-training compute
    growth_per_year = 10             # x per year (1 = stalls)                          required
    ratio_today = 0.5                # RL / pre-training compute today                  with max_ratio
    max_ratio = 1.0                  # cap: RL <= max_ratio x pre-training compute     optional

    [training]                       # frontier pre-training compute (needed by the RL cap)
    growth_per_year = 4.5            # x per year
    flop_today = 5e26                # optional ceiling on training runs: both keys together
    max_flop = 2e29

    [inference]                      # inference compute (tokens) per task
    tokens_growth_per_year = 3       # x per year (1 = stalls)                          required
    max_tokens_multiple = 1000       # cap: at most this multiple of the anchor's tokens  optional
    budget_usd_per_task = 17         # optional dollar budget: the next three keys together
    cost_usd_per_task_today = 0.5    # cost per task of the anchor setting today
    price_decline_per_year = 4       # cost per token falls x per year
    budget_growth_per_year = 1       # optional, default 1 (budget fixed)

    [other]                          # optional: progress other than RL and inference compute (new generations)
    trend_share = 1.0                # share of the fitted trend across model generations that continues after
                                     # the forecast date (0 = stops: compute only, the default; 1 = continues
                                     # at the fitted rate). Needs a fit with a progress term (models/progress.toml)

    [anchor]                         # optional: benchmark = "model id" overrides of the frontier anchor

Every numeric value is a number or a distribution table:

- ``{dist = "normal", mu = , sigma = }``
- ``{dist = "lognormal", median = , sigma_log10 = }`` (log10 of the value is normal)
- ``{dist = "uniform", low = , high = }`` and ``{dist = "loguniform", low = , high = }``
- ``{dist = "interval80", low = , high = }``: lognormal with 10% / 90% quantiles at low / high.

Draws outside a parameter's allowed range are clipped to it (a growth interval touching 1x/yr puts some mass
on "stalls"). Growth rates enter the kernels as log10 per year, so intervals never break near zero growth.

Common random numbers: each parameter key has its own uniform stream derived from (seed, key), shared by all
scenarios; each scenario pushes it through its own distribution, so scenario differences are per draw.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import math
import tomllib
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.special import ndtri

from rlforecast.errors import InputError, Problem

DEFAULT_HORIZON = 2040
Z90 = float(ndtri(0.9))  # half-width of an 80% normal interval in standard deviations


@dataclass(frozen=True)
class Param:
    """One numeric scenario key: its allowed range and unit (for messages)."""

    unit: str
    minimum: float = 0.0
    inclusive: bool = False  # minimum allowed itself (growth 1 = "stalls")


GROWTH = Param("x per year", 1.0, inclusive=True)
PARAMS: dict[str, Param] = {
    "rl.growth_per_year": GROWTH,
    "rl.ratio_today": Param("x pre-training compute"),
    "rl.max_ratio": Param("x pre-training compute"),
    "training.growth_per_year": GROWTH,
    "training.flop_today": Param("FLOP"),
    "training.max_flop": Param("FLOP"),
    "inference.tokens_growth_per_year": GROWTH,
    "inference.max_tokens_multiple": Param("x the anchor's tokens per task", 1.0, inclusive=True),
    "inference.budget_usd_per_task": Param("USD per task"),
    "inference.cost_usd_per_task_today": Param("USD per task"),
    "inference.price_decline_per_year": GROWTH,
    "inference.budget_growth_per_year": GROWTH,
    "other.trend_share": Param("x the fitted trend across model generations", 0.0, inclusive=True),
}
REQUIRED = ("rl.growth_per_year", "inference.tokens_growth_per_year")
TOGETHER = (  # keys that only make sense as a group
    ("rl.max_ratio", "rl.ratio_today", "training.growth_per_year"),
    ("training.flop_today", "training.max_flop"),
    ("inference.budget_usd_per_task", "inference.cost_usd_per_task_today", "inference.price_decline_per_year"),
)
DISTS = {
    "normal": ("mu", "sigma"),
    "lognormal": ("median", "sigma_log10"),
    "uniform": ("low", "high"),
    "loguniform": ("low", "high"),
    "interval80": ("low", "high"),
}
TOP_KEYS = ("name", "description", "start", "horizon", "rl", "training", "inference", "other", "anchor")
# Log10 path coefficients the kernels take (see kernels.rl_path / kernels.inference_path).
PATH_PARAMS = ("rl_growth", "training_growth", "cap_headroom", "training_headroom",
               "token_growth", "budget_headroom", "budget_growth", "max_multiple")
# Every driver coefficient per draw: the paths' and the share of the fitted progress trend that continues.
DRIVER_PARAMS = PATH_PARAMS + ("trend_share",)


@dataclass(frozen=True)
class Scenario:
    name: str
    path: str
    description: str
    start: dt.date | None  # None: the forecast date (``with_start``)
    horizon: int
    values: dict  # parameter key -> float or distribution dict (validated)
    anchors: dict  # benchmark -> model id

    @property
    def start_month(self) -> int:
        """Absolute month number (year * 12 + month - 1) of the first grid month."""
        return self.start.year * 12 + self.start.month - 1

    @property
    def n_months(self) -> int:
        """Grid length: every month from ``start`` through December of ``horizon``."""
        return self.horizon * 12 + 12 - self.start_month


def _hint(key: str, allowed) -> str:
    close = difflib.get_close_matches(key, list(allowed), n=1)
    return f"unknown key; did you mean '{close[0]}'?" if close else f"unknown key; allowed: {', '.join(allowed)}"


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _fmt(x) -> str:
    return f"'{x}'" if isinstance(x, str) else repr(x)


def _check_value(key: str, value, problem) -> None:
    """Validate one numeric parameter (number or distribution table); report via ``problem(key, msg)``."""
    spec = PARAMS[key]
    op = ">=" if spec.inclusive else ">"

    def in_range(x):
        return x >= spec.minimum if spec.inclusive else x > spec.minimum

    def check_bound(sub, x):
        if not in_range(x):
            problem(sub, f"must be {op} {spec.minimum:g} ({spec.unit}), got {x:g}")

    if _is_number(value):
        check_bound(key, value)
        return
    if not isinstance(value, dict):
        problem(key, f"must be a number or a distribution table like {{dist = \"interval80\", low = 1, high = 2}}, "
                     f"got {type(value).__name__} {_fmt(value)}")
        return
    dist = value.get("dist")
    if dist not in DISTS:
        problem(f"{key}.dist", f"unknown distribution {_fmt(dist)}; use one of {', '.join(DISTS)}"
                if dist is not None else f"missing; use one of {', '.join(DISTS)}")
        return
    fields = DISTS[dist]
    ok = True
    for sub in value:
        if sub != "dist" and sub not in fields:
            problem(f"{key}.{sub}", _hint(sub, fields) + f" ({dist} takes {', '.join(fields)})")
            ok = False
    for sub in fields:
        if sub not in value:
            problem(f"{key}.{sub}", f"missing required key for dist = '{dist}'")
            ok = False
        elif not _is_number(value[sub]):
            problem(f"{key}.{sub}", f"must be a number, got {_fmt(value[sub])}")
            ok = False
    if not ok:
        return
    if dist == "normal":
        check_bound(f"{key}.mu", value["mu"])
        if value["sigma"] <= 0:
            problem(f"{key}.sigma", f"must be > 0, got {value['sigma']:g}")
    elif dist == "lognormal":
        check_bound(f"{key}.median", value["median"])
        if value["sigma_log10"] <= 0:
            problem(f"{key}.sigma_log10", f"must be > 0, got {value['sigma_log10']:g}")
    else:
        check_bound(f"{key}.low", value["low"])
        if value["low"] >= value["high"]:
            problem(key, f"interval low must be < high, got low = {value['low']:g} > high = {value['high']:g}"
                    if value["low"] > value["high"] else f"interval low must be < high, got both {value['low']:g}")


def load_scenario(path) -> Scenario:
    """Read and validate one scenario file; raise InputError listing every problem (file and key)."""
    path = str(path)
    problems: list[Problem] = []

    def problem(key, message):
        problems.append(Problem(path, message, key=key))

    try:
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
    except OSError as err:
        raise InputError.at(path, f"cannot read scenario file ({err.strerror})") from None
    except tomllib.TOMLDecodeError as err:
        raise InputError.at(path, f"not valid TOML: {err}") from None

    for key in doc:
        if key not in TOP_KEYS:
            problem(key, _hint(key, TOP_KEYS))
    values = {}
    for section in ("rl", "training", "inference", "other"):
        table = doc.get(section, {})
        if not isinstance(table, dict):
            problem(section, f"must be a table [{section}]")
            continue
        allowed = [k.split(".", 1)[1] for k in PARAMS if k.startswith(section + ".")]
        for sub, value in table.items():
            key = f"{section}.{sub}"
            if key not in PARAMS:
                problem(key, _hint(sub, allowed))
                continue
            _check_value(key, value, problem)
            values[key] = value
    for key in REQUIRED:
        if key not in values and not any(p.key == key for p in problems):
            problem(key, "missing required key")
    for group in TOGETHER:
        present = [k for k in group if k in values]
        if present and len(present) < len(group):
            missing = [k for k in group if k not in values]
            problem(missing[0], f"missing: required together with '{present[0]}' ({', '.join(group)})")

    name = doc.get("name", Path(path).stem)
    if not isinstance(name, str) or not name.strip():
        problem("name", f"must be a non-empty string, got {_fmt(name)}")
    description = doc.get("description", "")
    if not isinstance(description, str):
        problem("description", f"must be a string, got {_fmt(description)}")
    start = doc.get("start")  # None: the forecast date, set later (with_start)
    if isinstance(start, str):
        try:
            start = dt.date.fromisoformat(start)
        except ValueError:
            problem("start", f"must be a date YYYY-MM-DD, got '{start}'")
    if start is None:
        pass
    elif isinstance(start, dt.datetime) or not isinstance(start, dt.date):
        if not any(p.key == "start" for p in problems):
            problem("start", f"must be a date YYYY-MM-DD, got {_fmt(start)}")
    elif start.day != 1:
        problem("start", f"must be the first day of a month (monthly grid), got {start.isoformat()}")
    horizon = doc.get("horizon", DEFAULT_HORIZON)
    if not isinstance(horizon, int) or isinstance(horizon, bool):
        problem("horizon", f"must be a year (integer), got {_fmt(horizon)}")
    elif isinstance(start, dt.date) and horizon < start.year:
        problem("horizon", f"must be >= the start year {start.year}, got {horizon}")
    anchors = doc.get("anchor", {})
    if not isinstance(anchors, dict):
        problem("anchor", "must be a table of benchmark = \"model id\"")
        anchors = {}
    for bench, model in anchors.items():
        if not isinstance(model, str):
            problem(f"anchor.{bench}", f"must be a model id string, got {_fmt(model)}")
    if problems:
        raise InputError(problems)
    return Scenario(name=name, path=path, description=description, start=start, horizon=horizon,
                    values=values, anchors=dict(anchors))


def load_scenarios(paths) -> list[Scenario]:
    """Scenarios of one path or a list of paths, each a scenario file or a folder (every ``*.toml`` in it,
    sorted by file name); names must be unique and all scenarios must share one time grid (start and horizon)
    so they can be compared draw by draw."""
    files = []
    for path in map(Path, [paths] if isinstance(paths, (str, Path)) else paths):
        if path.is_dir():
            found = sorted(path.glob("*.toml"))
            if not found:
                raise InputError.at(path, "no scenario files (*.toml) in this folder")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise InputError.at(path, "no such scenario file or folder")
    problems, scenarios = [], []
    for file in files:
        try:
            scenarios.append(load_scenario(file))
        except InputError as err:
            problems.extend(err.problems)
    if problems:
        raise InputError(problems)
    first, seen = scenarios[0], {}
    for sc in scenarios:
        if sc.name in seen:
            problems.append(Problem(sc.path, f"scenario name '{sc.name}' also used by {seen[sc.name]}", key="name"))
        seen[sc.name] = sc.path
        for key in ("start", "horizon"):
            if getattr(sc, key) != getattr(first, key):
                problems.append(Problem(sc.path, f"all scenarios in one forecast share the time grid: "
                                                 f"{getattr(sc, key)} here, {getattr(first, key)} in {first.path}",
                                        key=key))
    if problems:
        raise InputError(problems)
    return scenarios


def parse_start(text: str, where: str = "--start") -> dt.date:
    """A forecast start given on the command line: the first day of a month, YYYY-MM-DD."""
    try:
        start = dt.date.fromisoformat(text)
    except ValueError:
        raise InputError.at(where, f"must be a date YYYY-MM-DD, got '{text}'") from None
    if start.day != 1:
        raise InputError.at(where, f"must be the first day of a month (monthly grid), got {text}")
    return start


def with_start(scenarios: list[Scenario], forecast_date: dt.date) -> list[Scenario]:
    """Scenarios whose file gives no ``start`` begin at ``forecast_date``; the horizon must not end before."""
    out = [sc if sc.start is not None else dataclasses.replace(sc, start=forecast_date) for sc in scenarios]
    problems = [Problem(sc.path, f"must be >= the start year {sc.start.year} (the forecast date, "
                                 f"{sc.start.isoformat()}), got {sc.horizon}", key="horizon")
                for sc in out if sc.horizon < sc.start.year]
    if problems:
        raise InputError(problems)
    return out


def common_uniforms(keys, n: int, seed: int) -> dict[str, np.ndarray]:
    """Uniforms in (0, 1) per parameter key, one stream per (seed, key): independent of which keys or
    scenarios are present, so the same seed gives the same draw of each parameter everywhere."""
    eps = np.finfo(float).eps
    return {key: np.clip(np.random.default_rng([seed, zlib.crc32(key.encode())]).random(n), eps, 1 - eps)
            for key in keys}


def transform(value, u: np.ndarray) -> np.ndarray:
    """Push uniforms through a validated number or distribution table."""
    if _is_number(value):
        return np.full(u.shape, float(value))
    dist = value["dist"]
    if dist == "normal":
        return value["mu"] + value["sigma"] * ndtri(u)
    if dist == "lognormal":
        return value["median"] * 10.0 ** (value["sigma_log10"] * ndtri(u))
    low, high = value["low"], value["high"]
    if dist == "uniform":
        return low + (high - low) * u
    if dist == "loguniform":
        return low * (high / low) ** u
    # interval80: lognormal with 10% / 90% quantiles at low / high
    return math.sqrt(low * high) * 10.0 ** (math.log10(high / low) / (2 * Z90) * ndtri(u))


def draw_values(scenario: Scenario, uniforms: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Scenario parameter draws (natural units), clipped to each parameter's allowed range."""
    out = {}
    for key, value in scenario.values.items():
        x = transform(value, uniforms[key])
        spec = PARAMS[key]
        out[key] = np.maximum(x, spec.minimum) if spec.inclusive else np.maximum(x, np.nextafter(spec.minimum, 1))
    return out


def path_params(values: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
    """Driver coefficients (``DRIVER_PARAMS``) from parameter draws: log10 path coefficients, absent caps
    +inf; ``trend_share`` as drawn (0 when the scenario has no ``[other]``)."""
    inf = np.full(n, np.inf)

    def lg(key, default=None):
        return np.log10(values[key]) if key in values else default

    budget = lg("inference.budget_usd_per_task")
    return {
        "rl_growth": lg("rl.growth_per_year"),
        "training_growth": lg("training.growth_per_year", np.zeros(n)),
        "cap_headroom": lg("rl.max_ratio") - lg("rl.ratio_today") if "rl.max_ratio" in values else inf,
        "training_headroom": (lg("training.max_flop") - lg("training.flop_today")
                              if "training.max_flop" in values else inf),
        "token_growth": lg("inference.tokens_growth_per_year"),
        "budget_headroom": budget - lg("inference.cost_usd_per_task_today") if budget is not None else inf,
        "budget_growth": (lg("inference.price_decline_per_year", np.zeros(n))
                          + lg("inference.budget_growth_per_year", np.zeros(n))),
        "max_multiple": lg("inference.max_tokens_multiple", inf),
        "trend_share": values.get("other.trend_share", np.zeros(n)),
    }


@dataclass(frozen=True)
class SourcedLevel:
    """A threshold with a published meaning (e.g. a human baseline) and its source."""

    level: float
    label: str
    source: str
    note: str = ""


SOURCED_KEYS = ("level", "label", "source", "note")


def load_thresholds(path, benchmarks) -> dict[str, tuple[float, ...]]:
    """Accuracy thresholds per benchmark (plain and sourced levels together); see :func:`read_thresholds`."""
    return read_thresholds(path, benchmarks)[0]


def read_thresholds(path, benchmarks) -> tuple[dict[str, tuple[float, ...]], dict[str, dict[float, SourcedLevel]]]:
    """Accuracy thresholds per benchmark from a TOML file, and the sourced ones' meaning::

        [default]
        levels = [0.5, 0.8, 0.9]      # for every benchmark not listed below
        [benchmarks]
        gpqa_diamond = [0.6, 0.8]
        [[sourced.gpqa_diamond]]      # optional: levels with a published meaning, added to the plain ones
        level = 0.65
        label = "expert validators"
        source = "Rein et al. 2023, arXiv:2311.12022, abstract"
        note = "measured on the extended set"   # optional

    Levels are shares of items in (0, 1]; a level at or above a benchmark's ceiling is simply never reached.
    Benchmarks under ``[benchmarks]`` must be ones the fit knows; sourced levels of benchmarks the fit lacks are
    reference information and are skipped. Returns ``(levels, sourced)``: ``{benchmark: sorted levels}`` and
    ``{benchmark: {level: SourcedLevel}}``.
    """
    path = str(path)
    try:
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
    except OSError as err:
        raise InputError.at(path, f"cannot read thresholds file ({err.strerror})") from None
    except tomllib.TOMLDecodeError as err:
        raise InputError.at(path, f"not valid TOML: {err}") from None
    problems: list[Problem] = []

    def levels(key, value):
        if (not isinstance(value, list) or not value
                or not all(_is_number(v) and 0 < v <= 1 for v in value)):
            problems.append(Problem(path, f"must be a non-empty list of shares in (0, 1], got {_fmt(value)}", key=key))
            return None
        return tuple(sorted(set(float(v) for v in value)))

    for key in doc:
        if key not in ("default", "benchmarks", "sourced"):
            problems.append(Problem(path, _hint(key, ("default", "benchmarks", "sourced")), key=key))
    default = doc.get("default", {})
    default_levels = None
    if not isinstance(default, dict) or set(default) - {"levels"}:
        problems.append(Problem(path, "must be a table with one key, levels = [...]", key="default"))
    elif "levels" in default:
        default_levels = levels("default.levels", default["levels"])
    listed = doc.get("benchmarks", {})
    if not isinstance(listed, dict):
        problems.append(Problem(path, "must be a table of benchmark = [levels]", key="benchmarks"))
        listed = {}
    out = {}
    for bench, value in listed.items():
        if bench not in benchmarks:
            problems.append(Problem(path, f"benchmark not in the fit; {_hint(bench, benchmarks).split('; ', 1)[1]}",
                                    key=f"benchmarks.{bench}"))
            continue
        out[bench] = levels(f"benchmarks.{bench}", value)
    sourced = _sourced_levels(doc.get("sourced", {}), path, problems)
    known = set(benchmarks) | set(_curated_benchmarks())
    for bench in sourced:  # levels of benchmarks this fit lacks are skipped, misspelled ones are not
        if bench not in known:
            problems.append(Problem(path, f"unknown benchmark; {_hint(bench, sorted(known)).split('; ', 1)[1]}",
                                    key=f"sourced.{bench}"))
    missing = [b for b in benchmarks if b not in listed]
    if missing and default_levels is None and not problems:
        problems.append(Problem(path, f"missing [default] levels for benchmarks not listed: {', '.join(missing)}",
                                key="default.levels"))
    if problems:
        raise InputError(problems)
    sourced = {b: sourced[b] for b in benchmarks if b in sourced}
    merged = {b: tuple(sorted(set(out.get(b, default_levels)) | set(sourced.get(b, {})))) for b in benchmarks}
    return merged, sourced


def _curated_benchmarks() -> list[str]:
    from rlforecast.data.build import curation

    return list(curation()["benchmarks"])


def level_key(level: float) -> str:
    """A threshold level as a key in JSON files: the shortest digits that read back as the same float."""
    return repr(float(level))


def _sourced_levels(table, path: str, problems: list[Problem]) -> dict[str, dict[float, SourcedLevel]]:
    """``[[sourced.BENCHMARK]]`` entries, validated (each problem names its key)."""
    if not isinstance(table, dict):
        problems.append(Problem(path, "must be tables [[sourced.benchmark]] with level, label and source",
                                key="sourced"))
        return {}
    out: dict[str, dict[float, SourcedLevel]] = {}
    for bench, entries in table.items():
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            problems.append(Problem(path, "must be an array of tables [[sourced." + bench + "]]", key=f"sourced.{bench}"))
            continue
        for i, entry in enumerate(entries):
            key = f"sourced.{bench}[{i}]"
            for sub in entry:
                if sub not in SOURCED_KEYS:
                    problems.append(Problem(path, _hint(sub, SOURCED_KEYS), key=f"{key}.{sub}"))
            level = entry.get("level")
            if not (_is_number(level) and 0 < level <= 1):
                problems.append(Problem(path, f"must be a share in (0, 1], got {_fmt(level)}", key=f"{key}.level"))
                continue
            texts = {}
            for sub in ("label", "source", "note"):
                value = entry.get(sub, "" if sub == "note" else None)
                if not isinstance(value, str) or (sub != "note" and not value.strip()):
                    problems.append(Problem(path, f"must be a non-empty string, got {_fmt(value)}", key=f"{key}.{sub}"))
                texts[sub] = value
            if float(level) in out.get(bench, {}):
                problems.append(Problem(path, f"level {level:g} given twice for {bench}", key=f"{key}.level"))
            elif all(isinstance(v, str) for v in texts.values()):
                out.setdefault(bench, {})[float(level)] = SourcedLevel(float(level), **texts)
    return out
