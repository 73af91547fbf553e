"""Model-form averaging carried into the dates: stacking weights of fitted variants and the weighted mixture of
their posterior draws (the frontier state every scenario starts from).

The weights come from ``rlforecast compare --cv K`` (``cv_models.csv``: columns ``model`` and
``stacking_weight``, stacking of the grouped-CV predictive densities; ``spec_hash`` and ``data_sha256`` tie each
row to the fit it was computed for). A mixture of ``n`` draws takes from each
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
KEY_COLUMNS = ("spec_hash", "data_sha256")  # compare --cv writes them: fits are matched by what was fitted
SUM_TOLERANCE = 1e-3  # stacking weights are written with 6 significant digits; the optimiser leaves ~1e-10 for "none"


def read_weights(path, variants: dict[str, dict]) -> dict[str, float]:
    """``{name: weight}`` for the variants (``{name: provenance}``) from a weights CSV (columns ``model``,
    ``stacking_weight``; ``compare --cv`` adds ``spec_hash`` and ``data_sha256``).

    A fit takes the row with its spec hash (its name decides only between rows of the same spec), and that row's
    data hash must be the fit's; a file without a ``spec_hash`` column is matched by name. Every variant must
    find its row, and the rows no variant takes may carry no more than SUM_TOLERANCE of weight in all: stacking
    weights belong to the whole set of variants they were fitted over. The weights are renormalised over the
    variants (which changes them only by rounding)."""
    if len(variants) < 2:
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
    problems, weights, seen = [], [], set()
    for i, (model, text) in enumerate(zip(table["model"], table["stacking_weight"]), start=2):
        try:
            weights.append(float(text))
        except ValueError:
            weights.append(float("nan"))
        if not np.isfinite(weights[-1]) or weights[-1] < 0:
            problems.append(Problem(str(path), f"weight must be a number >= 0, got '{text}'", row=i,
                                    column="stacking_weight"))
        elif model in seen:
            problems.append(Problem(str(path), f"model '{model}' appears twice", row=i, column="model"))
        seen.add(model)
    if problems:
        raise InputError(problems)
    taken = {name: _row_of(path, table, name, prov) for name, prov in variants.items()}
    rows = list(taken.values())
    shared = next((i for i in rows if rows.count(i) > 1), None)
    if shared is not None:
        raise InputError.at(path, f"fits {', '.join(n for n, i in taken.items() if i == shared)} match the same row "
                            f"('{table['model'].iloc[shared]}'); give each variant once", row=shared + 2, column="model")
    left_out = [i for i, w in enumerate(weights) if w > 0 and i not in taken.values()]
    if sum(weights[i] for i in left_out) > SUM_TOLERANCE:
        raise InputError.at(path, f"model(s) {', '.join(table['model'].iloc[left_out])} carry stacking weight but no "
                            "fit of them is given; pass --fit for every variant the weights were computed over",
                            column="model")
    found = {name: weights[i] for name, i in taken.items()}
    total = sum(found.values())
    if abs(total - 1.0) > SUM_TOLERANCE:
        raise InputError.at(path, f"the weights of the given variants add up to {total:.6g}, not 1", column="stacking_weight")
    return {name: w / total for name, w in found.items()}


def _row_of(path, table: pd.DataFrame, name: str, prov: dict) -> int:
    """Index of the weights row of the fit ``name`` (provenance ``prov``; see ``read_weights``)."""
    if "spec_hash" not in table.columns:
        hits = np.flatnonzero(table["model"].to_numpy() == name)
        if not len(hits):
            raise InputError.at(path, f"no weight for {name} (the file has: {', '.join(table['model']) or 'none'})",
                                column="model")
        return int(hits[0])
    spec = str(prov.get("spec_hash", ""))
    hits = np.flatnonzero(table["spec_hash"].to_numpy() == spec)
    if len(hits) > 1:
        same_spec = hits
        hits = hits[table["model"].to_numpy()[hits] == name]
        if not len(hits):
            raise InputError.at(path, f"no weight for {name}: rows {', '.join(str(h + 2) for h in same_spec)} "
                                f"({', '.join(table['model'].iloc[same_spec])}) have its spec and none has its name; "
                                "name the fit file as in the compare run", row=int(same_spec[0]) + 2, column="model")
    if not len(hits):
        raise InputError.at(path, f"no weight for {name}: the file's rows were computed over fits of other specs (spec "
                            f"hash {spec[:12]} is not among {', '.join(h[:12] for h in table['spec_hash'])}); run "
                            "compare --cv on the fits you mix", column="spec_hash")
    i = int(hits[0])
    if "data_sha256" in table.columns and table["data_sha256"].iloc[i] != str(prov.get("data_sha256", "")):
        raise InputError.at(path, f"the weight of {name} was computed on other observations (data sha256 "
                            f"{table['data_sha256'].iloc[i][:12]} vs the fit's {str(prov.get('data_sha256', ''))[:12]}); "
                            "run compare --cv on the fits you mix", row=i + 2, column="data_sha256")
    return i


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
