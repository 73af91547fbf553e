"""Model-form averaging carried into the dates: stacking weights of fitted variants and the weighted mixture of
their posterior draws (the frontier state every scenario starts from).

The weights come from ``rlforecast compare --cv K`` (``cv_models.csv``: columns ``model`` and
``stacking_weight``, stacking of the grouped-CV predictive densities). A mixture of ``n`` draws takes from each
variant a number of draws proportional to its weight (largest remainder), evenly thinned, so one seed gives the
same draws; the scenario-parameter draws are drawn for the mixture's draw index, the same whichever variants
are mixed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from rlforecast.errors import InputError, Problem

WEIGHT_COLUMNS = ("model", "stacking_weight")
SUM_TOLERANCE = 1e-3  # stacking weights are written with 6 significant digits; the optimiser leaves ~1e-10 for "none"


def read_weights(path, names: list[str]) -> dict[str, float]:
    """``{name: weight}`` for the variants ``names`` from a weights CSV (columns ``model``, ``stacking_weight``).

    Every variant must be in the file, and the models in it that are not among ``names`` may carry no more than
    SUM_TOLERANCE of weight in all: stacking weights belong to the whole set of variants they were fitted over.
    The weights are renormalised over ``names`` (which changes them only by rounding)."""
    if len(names) < 2:
        raise InputError.at("--weights", "stacking weights mix several fits; give --fit once per variant")
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise InputError.at(path, f"cannot read the weights file ({err}); expected a CSV with columns "
                            f"{', '.join(WEIGHT_COLUMNS)} (compare --cv writes one: cv_models.csv)") from None
    missing = [c for c in WEIGHT_COLUMNS if c not in table.columns]
    if missing:
        raise InputError.at(path, f"missing column(s) {', '.join(missing)}; found {', '.join(table.columns) or 'none'}",
                            column=missing[0])
    problems, weights = [], {}
    for i, (model, text) in enumerate(zip(table["model"], table["stacking_weight"]), start=2):
        try:
            w = float(text)
        except ValueError:
            w = float("nan")
        if not np.isfinite(w) or w < 0:
            problems.append(Problem(str(path), f"weight must be a number >= 0, got '{text}'", row=i,
                                    column="stacking_weight"))
        elif model in weights:
            problems.append(Problem(str(path), f"model '{model}' appears twice", row=i, column="model"))
        else:
            weights[model] = w
    if problems:
        raise InputError(problems)
    absent = [n for n in names if n not in weights]
    if absent:
        raise InputError.at(path, f"no weight for {', '.join(absent)} (the file has: {', '.join(weights) or 'none'})",
                            column="model")
    left_out = [m for m, w in weights.items() if w > 0 and m not in names]
    if sum(weights[m] for m in left_out) > SUM_TOLERANCE:
        raise InputError.at(path, f"model(s) {', '.join(left_out)} carry stacking weight but no fit of them is given; "
                            "pass --fit for every variant the weights were computed over", column="model")
    total = sum(weights[n] for n in names)
    if abs(total - 1.0) > SUM_TOLERANCE:
        raise InputError.at(path, f"the weights of the given variants add up to {total:.6g}, not 1", column="stacking_weight")
    return {n: weights[n] / total for n in names}


def allocate(weights: dict[str, float], n: int) -> dict[str, int]:
    """Draw counts per variant, summing to ``n``, proportional to ``weights`` (largest remainder; ties go to the
    earlier variant)."""
    names = list(weights)
    exact = np.array([weights[k] for k in names], dtype=float) * n
    counts = np.floor(exact).astype(int)
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[: n - counts.sum()]] += 1
    return dict(zip(names, counts.tolist()))


def mix_states(states: dict[str, xr.Dataset], weights: dict[str, float], n: int) -> xr.Dataset:
    """``n`` draws of the weighted mixture of the variants' frontier states (``scenario_state`` Datasets): each
    variant's draws evenly thinned (or repeated) to its share, stacked along ``sample`` in the order given, with
    a ``variant`` coord per draw. A variant without a progress term gets ``progress_rate`` 0 when another has
    one (scenarios that ask for other progress refuse such a variant before this)."""
    first_name, first = next(iter(states.items()))
    for name, st in states.items():
        for coord in ("benchmark", "anchor_model"):
            if not np.array_equal(st[coord].values, first[coord].values):
                raise InputError.at("--fit", f"variants {first_name} and {name} start from different frontiers "
                                    f"({coord}: {list(first[coord].values)} vs {list(st[coord].values)}); mix "
                                    "variants fitted on the same observations")
    counts = allocate(weights, n)
    progress = any("progress_rate" in states[name] for name, count in counts.items() if count)
    parts = []
    for name, count in counts.items():
        if count == 0:
            continue
        st = states[name]
        if progress and "progress_rate" not in st:
            st = st.assign(progress_rate=xr.zeros_like(st.slope_rl))
        elif not progress:
            st = st.drop_vars("progress_rate", errors="ignore")
        idx = (np.arange(count) * st.sizes["sample"]) // count
        parts.append(st.isel(sample=idx).assign_coords(variant=("sample", [name] * count)))
    mixed = xr.concat(parts, dim="sample", data_vars="minimal", coords="minimal", compat="equals", join="exact")
    return mixed.assign_coords(sample=np.arange(n))


def check_same_data(variants: dict[str, tuple[str, object, dict]]) -> None:
    """Refuse variants (``compare.load_variants`` output) fitted on different observations: stacking weights and
    the model share compare variants of the same data."""
    (first_path, _, first), *rest = variants.values()
    for path, _, prov in rest:
        if prov["data_sha256"] != first["data_sha256"]:
            raise InputError.at(path, f"fitted on other observations than {first_path} (data sha256 "
                                f"{str(prov['data_sha256'])[:12]} vs {str(first['data_sha256'])[:12]}); mixed variants "
                                "must share their data", key="data_sha256")
