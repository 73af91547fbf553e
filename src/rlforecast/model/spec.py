"""Model specifications (models/*.toml): load, validate (unknown keys rejected with hints), hash."""

from __future__ import annotations

import difflib
import hashlib
import json
import tomllib
from pathlib import Path

from rlforecast.errors import InputError, Problem

# Section -> key -> (type or tuple of allowed values, required parameter names of a prior table).
_NORMAL = ("mu", "sigma")
_HALF = ("sigma",)
_LOGNORMAL = ("median", "log_sd")
SCHEMA: dict[str, dict[str, object]] = {
    "model": {
        "id": str,
        "description": str,
        "likelihood": ("beta_binomial", "binomial"),
        "pooling": ("partial", "none"),
        "interaction": ("none", "rl_extends_inference"),
        "include_non_reasoning": bool,
    },
    "priors": {
        "log_slope_mu": _NORMAL,
        "log_slope_sd": _HALF,
        "slope_corr_eta": float,
        "benchmark_intercept": _NORMAL,
        "family_sd": _HALF,
        "cell_sd": _HALF,
        "ceiling_logit": _NORMAL,
        "log_concentration_mu": _NORMAL,
        "log_concentration_sd": _HALF,
        "effort_offset": _NORMAL,
        "budget_elasticity": ("alpha", "beta"),
        "effort_anchor_sd": float,
        "calibration_sd": _HALF,
        "interaction": _NORMAL,
    },
    "sampler": {"draws": int, "tune": int, "chains": int, "target_accept": float,
                "adaptation": ("diag", "low_rank"), "stop_when_converged": bool},
    "diagnostics": {"rhat_max": float, "ess_min": float, "divergences_max": int},
    # optional: progress across model generations, eta += rate[benchmark] * generation year
    "progress": {"rate_mu": _NORMAL, "rate_sd": _HALF},
    # optional (required when the data hold RL-training series): log-normal priors on the latent steps, in
    # decades of RL compute; `step` from one stage to the next, `zero_gap` from no RL to a series' first stage
    "rl_stages": {"step": _LOGNORMAL, "zero_gap": _LOGNORMAL, "from_zero": ("latent_gap", "left_out")},
}
OPTIONAL_SECTIONS = {"progress", "rl_stages"}


def _hint(key: str, allowed) -> str:
    close = difflib.get_close_matches(key, list(allowed), n=1)
    return f" (did you mean '{close[0]}'?)" if close else f" (allowed: {', '.join(sorted(allowed))})"


def _check_value(path: str, dotted: str, rule, value, problems: list[Problem]) -> None:
    if rule is bool:
        ok = isinstance(value, bool)
        expected = "true or false"
    elif rule is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value == value and value > 0
        expected = "a positive number"
    elif rule is int:
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
        expected = "a non-negative integer"
    elif rule is str:
        ok = isinstance(value, str) and value.strip() != ""
        expected = "a non-empty string"
    elif isinstance(rule, tuple) and dotted.startswith(("model.", "sampler.", "rl_stages.from_zero")):
        ok = value in rule
        expected = "one of " + ", ".join(rule)
    else:  # prior table with required numeric parameters
        if not isinstance(value, dict):
            problems.append(Problem(path, f"expected a table with keys {', '.join(rule)}, got {value!r}", key=dotted))
            return
        for name in value:
            if name not in rule:
                problems.append(Problem(path, "unknown parameter" + _hint(name, rule), key=f"{dotted}.{name}"))
        for name in rule:
            v = value.get(name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or v != v or abs(v) == float("inf"):
                problems.append(Problem(path, f"expected a finite number, got {v!r}", key=f"{dotted}.{name}"))
            elif name in ("sigma", "alpha", "beta", "median", "log_sd") and v <= 0:
                problems.append(Problem(path, f"must be > 0, got {v!r}", key=f"{dotted}.{name}"))
        return
    if not ok:
        problems.append(Problem(path, f"expected {expected}, got {value!r}", key=dotted))


def validate_spec(raw: dict, path: str) -> dict:
    """Return the spec dict if valid; raise InputError listing every problem otherwise."""
    problems: list[Problem] = []
    for section in raw:
        if section not in SCHEMA:
            problems.append(Problem(path, "unknown section" + _hint(section, SCHEMA), key=section))
    for section, rules in SCHEMA.items():
        table = raw.get(section)
        if table is None and section in OPTIONAL_SECTIONS:
            continue
        if not isinstance(table, dict):
            problems.append(Problem(path, "missing section", key=section))
            continue
        for key in table:
            if key not in rules:
                problems.append(Problem(path, "unknown key" + _hint(key, rules), key=f"{section}.{key}"))
        for key, rule in rules.items():
            if key not in table:
                problems.append(Problem(path, "missing key", key=f"{section}.{key}"))
            else:
                _check_value(path, f"{section}.{key}", rule, table[key], problems)
    if problems:
        raise InputError(problems)
    return raw


def parse_spec(text: str, path: str = "<spec>") -> dict:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise InputError.at(path, f"not valid TOML: {err}") from None
    return validate_spec(raw, path)


def load_spec(path) -> tuple[dict, str]:
    """Read and validate a spec file; return (spec, its text)."""
    p = Path(path)
    try:
        text = p.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise InputError.at(path, "file not found") from None
    except IsADirectoryError:
        raise InputError.at(path, "is a folder, expected a TOML file") from None
    except UnicodeDecodeError as err:
        raise InputError.at(path, f"not UTF-8 text (byte {err.start})") from None
    return parse_spec(text, str(path)), text


def spec_hash(spec: dict) -> str:
    """Hash of the spec's content (not its formatting or comments)."""
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()
