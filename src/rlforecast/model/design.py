"""Observations table -> numpy design arrays for the scaling model (pure; no PyMC, no I/O).

Compute axes, both in log10 units ("decades"):

* ``x_rl``: RL-training compute of the row's base model relative to its family's reference base model.
  Families with one base model have ``x_rl = 0`` (absorbed by the family intercept). Relative values given
  with a 90% range become latent variables (one per base model).
  Families that are RL-training series (``rl_stage``) know their checkpoints' compute only in order: each
  step from one stage to the next is a latent positive increment in decades, and a stage 0 with no RL of
  its own (``rl_from_zero``) sits a latent gap below stage 1 (``rl_steps``, ``rl_step_matrix``).
* ``x_inf``: inference compute per item. Measured tokens per item (``log10 tokens - 3``) or ARC dollars per
  task (``log10 $``) are used as they are. Rows with only an effort label, a thinking budget or a relative
  multiple get a latent value: ``anchor[group] + effort_offset[label] + elasticity * log10(budget/32k) + rel``,
  where a group is one (base model, benchmark, source). Measured rows that also carry a label feed a
  calibration likelihood that tells the model how many tokens each label means (ARC cost ratios within a
  model are token ratios at one price list).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

Z90 = 1.6448536269514722  # standard-normal 95% quantile: a 90% range spans +-Z90 sd
BUDGET_REF = np.log10(32_000)
TOKENS_REF = 3.0  # x_inf = log10(tokens per item) - 3, i.e. decades above 1,000 tokens



def chance_floor(benchmark: str) -> float:
    """Share of items a random guesser gets right (curated per benchmark; 0 for unknown benchmarks)."""
    from rlforecast.data.build import curation

    return float(curation()["benchmarks"].get(benchmark, {}).get("chance", 0.0))


def has_frontier(benchmark: str) -> bool:
    """False for benchmarks curated as measured only by RL-training series (no frontier model: not forecast)."""
    from rlforecast.data.build import curation

    return bool(curation()["benchmarks"].get(benchmark, {}).get("frontier", True))


def _sd90(low, high):
    return (np.asarray(high, float) - np.asarray(low, float)) / (2 * Z90)


def _label(setting: str) -> tuple[str | None, float]:
    """Split an inference_setting into (effort label or None, log10 budget relative to 32k or 0)."""
    if setting.startswith("effort:"):
        lab = setting.split(":", 1)[1]
        return (None if lab == "medium" else lab), 0.0
    if setting.startswith("budget:"):
        return None, float(np.log10(float(setting.split(":", 1)[1])) - BUDGET_REF)
    return None, 0.0


@dataclass
class Design:
    """Index arrays and constants for a set of rows, with the coordinate labels they index into."""

    benchmarks: list[str]
    families: list[str]
    cells: list[str]  # "benchmark|family"
    cell_benchmark: np.ndarray  # (cell,) index into benchmarks
    cell_family: np.ndarray  # (cell,) index into families
    obs_ids: list[str]
    obs_benchmark: np.ndarray  # (obs,) -1 = benchmark unknown to the reference design
    obs_family: np.ndarray  # (obs,) -1 = new family
    obs_cell: np.ndarray  # (obs,) -1 = new cell
    floor: np.ndarray  # (obs,)
    n: np.ndarray  # (obs,) items (effective items for chart readings)
    k: np.ndarray  # (obs,) correct items, from accuracy
    rl_fixed: np.ndarray  # (obs,)
    rl_latent: np.ndarray  # (obs,) index into rl_latents or -1
    rl_latents: list[str]  # base models with an uncertain relative RL compute
    rl_latent_mu: np.ndarray
    rl_latent_sd: np.ndarray
    inf_fixed: np.ndarray  # (obs,)
    inf_anchor: np.ndarray  # (obs,) index into anchors or -1
    inf_label: np.ndarray  # (obs,) index into effort_labels or -1 (medium / none)
    inf_budget: np.ndarray  # (obs,) log10(budget / 32k) or 0
    inf_rel_latent: np.ndarray  # (obs,) index into inf_rel_latents or -1
    anchors: list[str]  # groups "base_model|benchmark|source": n_derived derived ones, then latent ones
    n_derived: int  # anchors derived from measured rows (calibration groups)
    anchor_mu: np.ndarray  # prior centre of the latent anchors
    effort_labels: list[str]
    inf_rel_latents: list[str]  # obs_ids whose relative inference multiple is uncertain
    inf_rel_mu: np.ndarray
    inf_rel_sd: np.ndarray
    cal_value: np.ndarray  # (cal,) measured x_inf of labelled rows
    cal_anchor: np.ndarray  # (cal,)
    cal_label: np.ndarray  # (cal,)
    cal_budget: np.ndarray  # (cal,)
    benchmark_center: dict[str, float] = field(default_factory=dict)
    # RL-training series: latent steps "family|stage S" (increment into stage S) and "family|zero" (gap below
    # the first RL stage of a series that starts from no RL); x_rl += rl_step_matrix @ step
    rl_steps: list[str] = field(default_factory=list)
    rl_step_zero: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))  # (step,) the step is a zero gap
    rl_step_matrix: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # (obs, step) in {-1, 0, 1}
    rl_series: dict[str, tuple[list[int], bool]] = field(default_factory=dict)  # family -> (stages, from zero)
    # (obs,) the row's model generation: its family's first release, in years since PROGRESS_ORIGIN (0 when
    # the family has no release date); used by specs with a [progress] section
    obs_year: np.ndarray = field(default_factory=lambda: np.zeros(0))
    family_year: dict[str, float] = field(default_factory=dict)  # family -> year offset, as fitted
    # prediction designs: {"benchmark" | "family" | "cell": (obs,) index of the row's name among the names unknown
    # to the reference design, -1 where known}: the rows of one new group share its drawn effects
    new_groups: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def floor_by_benchmark(self) -> np.ndarray:
        return np.array([chance_floor(b) for b in self.benchmarks])


def _new_groups(names, known: dict) -> np.ndarray:
    """(obs,) index of each row's name among the names not in ``known`` (in order of appearance), -1 if known."""
    new = {n: i for i, n in enumerate(dict.fromkeys(n for n in names if n not in known))}
    return np.array([new.get(n, -1) for n in names], dtype=np.int64)


def measured_x(df: pd.DataFrame) -> pd.Series:
    """Measured x_inf: log10 tokens per item - 3, else log10 dollars per task (ARC), else NaN."""
    tokens = pd.to_numeric(df["tokens_per_item"], errors="coerce")
    cost = pd.to_numeric(df["cost_per_task_usd"], errors="coerce")
    return (np.log10(tokens) - TOKENS_REF).where(tokens.notna(), np.log10(cost))


def _counts(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Items and correct counts. Chart readings: effective items shrink so the binomial variance also
    carries the stated reading error (var = p(1-p)/n + sd_read^2)."""
    acc = pd.to_numeric(df["accuracy"], errors="coerce").to_numpy(float)
    n = pd.to_numeric(df["n_items"], errors="coerce").to_numpy(float)
    lo = pd.to_numeric(df.get("accuracy_low"), errors="coerce").to_numpy(float)
    hi = pd.to_numeric(df.get("accuracy_high"), errors="coerce").to_numpy(float)
    sd = np.where(np.isfinite(lo) & np.isfinite(hi), _sd90(lo, hi), 0.0)
    pq = np.clip(acc * (1 - acc), 1e-6, None)
    n_eff = np.where(sd > 0, np.floor(pq / (pq / n + sd**2)), n)
    n_eff = np.maximum(n_eff, 1)
    return n_eff.astype(np.int64), np.rint(acc * n_eff).astype(np.int64)


def rows_for(df: pd.DataFrame, spec: dict) -> tuple[pd.DataFrame, dict[str, str]]:
    """``select_rows`` with the spec's switches."""
    zero = spec.get("rl_stages", {}).get("from_zero", "latent_gap") == "latent_gap"
    return select_rows(df, spec["model"]["include_non_reasoning"], zero_stages=zero)


def select_rows(df: pd.DataFrame, include_non_reasoning: bool,
                zero_stages: bool = True) -> tuple[pd.DataFrame, dict[str, str]]:
    """Rows the model can place on both compute axes; the rest with the reason they were left out.

    ``zero_stages=False`` leaves out the starting checkpoints of RL series that start from no RL (zero
    compute is off the log axis; placing them needs the assumed ``zero_gap``), and then the series left
    without an RL contrast."""
    dropped: dict[str, str] = {}
    if not zero_stages and "rl_stage" in df:
        stage = pd.to_numeric(df["rl_stage"], errors="coerce")
        from_zero = stage.notna() & df["rl_from_zero"].eq("yes")
        first = from_zero & stage.eq(stage.groupby(df["family"]).transform("min"))
        for oid in df.loc[first, "obs_id"]:
            dropped[oid] = "RL-series start with no RL of its own: off the log RL axis (rl_stages.from_zero = left_out)"
        rest = df[~first]
        stages_left = pd.to_numeric(rest["rl_stage"], errors="coerce").groupby(rest["family"]).nunique()
        lone = rest["rl_stage"].notna() & rest["family"].map(stages_left).le(1)
        for oid in rest.loc[lone, "obs_id"]:
            dropped[oid] = "RL series with one stage left once its zero stage is out: no RL contrast"
        df = rest[~lone]
    fam_bases = df.groupby("family")["base_model"].nunique()
    multi = df["family"].map(fam_bases).gt(1)
    staged = pd.to_numeric(df["rl_stage"], errors="coerce").notna() if "rl_stage" in df else pd.Series(False, index=df.index)
    no_rl = multi & df["rl_log10_rel"].isna() & ~staged
    for oid in df.loc[no_rl, "obs_id"]:
        dropped[oid] = "family has several base models but this row has no relative RL compute"
    keep = ~no_rl
    if not include_non_reasoning:
        nr = df["reasoning"].eq("no") & keep & ~staged  # a series' starting checkpoint stays: it is its RL contrast
        for oid in df.loc[nr, "obs_id"]:
            dropped[oid] = "non-reasoning model excluded by the spec"
        keep &= ~nr
    return df.loc[keep].reset_index(drop=True), dropped


def build_design(df: pd.DataFrame, ref: Design | None = None) -> Design:
    """Design for rows ``df``. Without ``ref`` the coordinates come from ``df`` (fitting); with ``ref``
    rows are indexed into ``ref``'s coordinates and anything unknown gets -1 (prediction)."""
    df = df.reset_index(drop=True).copy()
    for col in ("rl_log10_rel", "rl_log10_rel_low", "rl_log10_rel_high", "inference_log10_rel",
                "inference_log10_rel_low", "inference_log10_rel_high"):
        df[col] = pd.to_numeric(df.get(col), errors="coerce")
    meas = measured_x(df)
    group = df["base_model"] + "|" + df["benchmark"] + "|" + df["source"]
    cell = df["benchmark"] + "|" + df["family"]

    if ref is None:
        benchmarks = sorted(df["benchmark"].unique())
        families = sorted(df["family"].unique())
        cells = sorted(cell.unique())
        center = {b: float(np.nanmedian(meas[df["benchmark"] == b])) if meas[df["benchmark"] == b].notna().any()
                  else 0.0 for b in benchmarks}
    else:
        benchmarks, families, cells, center = ref.benchmarks, ref.families, ref.cells, ref.benchmark_center
    b_ix = {b: i for i, b in enumerate(benchmarks)}
    f_ix = {f: i for i, f in enumerate(families)}
    c_ix = {c: i for i, c in enumerate(cells)}
    family_year = generation_years(df)
    if ref is not None:  # families the fit saw keep their fitted generation (0 if undated); new ones get their own
        family_year = {**family_year, **dict.fromkeys(ref.families, 0.0), **ref.family_year}

    # RL axis: fixed relative values, or one latent per base model with a stated 90% range.
    rl = df["rl_log10_rel"].fillna(0.0).to_numpy(float)
    rl_sd = _sd90(df["rl_log10_rel_low"], df["rl_log10_rel_high"])
    uncertain_rl = np.isfinite(rl_sd) & (rl_sd > 0)
    if ref is None:
        rl_bases = sorted(df.loc[uncertain_rl, "base_model"].unique())
        first = df.loc[uncertain_rl].groupby("base_model").first()
        rl_mu = first.loc[rl_bases, "rl_log10_rel"].to_numpy(float) if rl_bases else np.zeros(0)
        rl_lsd = _sd90(first.loc[rl_bases, "rl_log10_rel_low"], first.loc[rl_bases, "rl_log10_rel_high"]) if rl_bases else np.zeros(0)
    else:
        rl_bases, rl_mu, rl_lsd = ref.rl_latents, ref.rl_latent_mu, ref.rl_latent_sd
    rl_index = {b: i for i, b in enumerate(rl_bases)}
    rl_latent = np.array([rl_index.get(b, -1) if u else -1 for b, u in zip(df["base_model"], uncertain_rl)])
    # An uncertain base model unknown to ref keeps its point value (no posterior to draw from).
    rl_fixed = np.where(rl_latent >= 0, 0.0, rl)

    rl_steps, step_zero, step_matrix, rl_series = rl_series_steps(df, None if ref is None else ref.rl_series)

    # Inference axis.
    labels, budgets = zip(*(_label(s) for s in df["inference_setting"])) if len(df) else ((), ())
    budgets = np.array(budgets, float)
    rel = df["inference_log10_rel"]
    rel_sd = _sd90(df["inference_log10_rel_low"], df["inference_log10_rel_high"])
    uncertain_rel = rel.notna().to_numpy() & np.isfinite(rel_sd) & (rel_sd > 0)
    measured = meas.notna().to_numpy()
    if ref is None:
        effort_labels = sorted({lab for lab in labels if lab is not None})
        unmeasured_groups = set(group[~measured])
        groups_per_cell = group.groupby(cell).nunique()
        measured_groups = set(group[measured])
        labelled = df["inference_setting"].str.startswith(("effort:", "budget:")).to_numpy()
        n_lab_meas = group[measured & labelled].value_counts()
        groups_per_cell = group.groupby(cell).nunique()
        unmeasured_groups = set(group[~measured])
        measured_groups = set(group[measured])
        # Anchors measured groups: derived from their measured rows (calibration); latent otherwise.
        derived = sorted(g for g in measured_groups
                         if n_lab_meas.get(g, 0) >= 2 or (g in unmeasured_groups and n_lab_meas.get(g, 0) >= 1))
        latent = sorted(g for g in unmeasured_groups - measured_groups
                        if groups_per_cell[cell[group == g].iloc[0]] > 1)
        anchors = derived + latent
        n_derived = len(derived)
        anchor_mu = np.array([center[g.split("|")[1]] for g in latent])
        rel_ids = list(df.loc[uncertain_rel, "obs_id"])
        rel_mu = rel[uncertain_rel].to_numpy(float)
        rel_lsd = rel_sd[uncertain_rel]
    else:
        effort_labels, anchors, anchor_mu, n_derived = ref.effort_labels, ref.anchors, ref.anchor_mu, ref.n_derived
        rel_ids, rel_mu, rel_lsd = ref.inf_rel_latents, ref.inf_rel_mu, ref.inf_rel_sd
    l_ix = {lab: i for i, lab in enumerate(effort_labels)}
    a_ix = {g: i for i, g in enumerate(anchors)}
    r_ix = {o: i for i, o in enumerate(rel_ids)}

    label_idx = np.array([l_ix.get(lab, -1) if lab is not None else -1 for lab in labels], dtype=np.int64)
    unknown_label = np.array([lab is not None and lab not in l_ix for lab in labels], dtype=bool)
    anchor_idx = np.array([a_ix.get(g, -1) for g in group], dtype=np.int64)
    rel_idx = np.array([r_ix.get(o, -1) if u else -1 for o, u in zip(df["obs_id"], uncertain_rel)], dtype=np.int64)
    base = np.array([center.get(b, 0.0) for b in df["benchmark"]])
    if ref is not None:
        # Dollars per task compare settings of one model (one price list), not models: prices fall over time
        # and differ by vendor. In a cell the fit never saw, cost only places rows relative to their group,
        # around the benchmark's typical level; tokens stay absolute.
        cost = pd.to_numeric(df["cost_per_task_usd"], errors="coerce").notna() & pd.to_numeric(
            df["tokens_per_item"], errors="coerce").isna()
        relative = cost & pd.Series([c not in c_ix for c in cell], index=df.index)
        if relative.any():
            group_mean = meas[relative].groupby(group[relative]).transform("mean")
            meas = meas.where(~relative, pd.Series(base, index=df.index) + meas - group_mean)
    inf_fixed = np.where(measured, meas.fillna(0.0).to_numpy(float),
                         np.where(anchor_idx >= 0, 0.0, base) + np.where(rel_idx >= 0, 0.0, rel.fillna(0.0).to_numpy(float)))
    # A label unknown to ref is treated as medium (offset 0): the prediction then says less than it seems.
    unmeasured = ~measured
    inf_anchor = np.where(unmeasured, anchor_idx, -1)
    inf_label = np.where(unmeasured & ~unknown_label, label_idx, -1)
    inf_budget = np.where(unmeasured, budgets, 0.0)
    inf_rel = np.where(unmeasured, rel_idx, -1)

    # Calibration: measured rows of groups whose anchor is derived from measurements.
    cal = measured & (anchor_idx >= 0) & (anchor_idx < n_derived)
    n, k = _counts(df) if "accuracy" in df and df["accuracy"].notna().all() else (
        pd.to_numeric(df["n_items"], errors="coerce").to_numpy(np.int64), np.zeros(len(df), np.int64))

    return Design(
        benchmarks=list(benchmarks), families=list(families), cells=list(cells),
        cell_benchmark=np.array([b_ix[c.split("|", 1)[0]] for c in cells], dtype=np.int64),
        cell_family=np.array([f_ix[c.split("|", 1)[1]] for c in cells], dtype=np.int64),
        obs_ids=list(df["obs_id"]),
        obs_benchmark=np.array([b_ix.get(b, -1) for b in df["benchmark"]], dtype=np.int64),
        obs_family=np.array([f_ix.get(f, -1) for f in df["family"]], dtype=np.int64),
        obs_cell=np.array([c_ix.get(c, -1) for c in cell], dtype=np.int64),
        floor=np.array([chance_floor(b) for b in df["benchmark"]]),
        n=n, k=k,
        rl_fixed=rl_fixed, rl_latent=rl_latent, rl_latents=list(rl_bases),
        rl_latent_mu=np.asarray(rl_mu, float), rl_latent_sd=np.asarray(rl_lsd, float),
        inf_fixed=inf_fixed, inf_anchor=inf_anchor, inf_label=inf_label, inf_budget=inf_budget,
        inf_rel_latent=inf_rel, anchors=list(anchors), n_derived=n_derived, anchor_mu=np.asarray(anchor_mu, float),
        effort_labels=list(effort_labels), inf_rel_latents=list(rel_ids),
        inf_rel_mu=np.asarray(rel_mu, float), inf_rel_sd=np.asarray(rel_lsd, float),
        cal_value=meas[cal].to_numpy(float), cal_anchor=anchor_idx[cal], cal_label=label_idx[cal],
        cal_budget=budgets[cal], benchmark_center=dict(center),
        rl_steps=rl_steps, rl_step_zero=step_zero, rl_step_matrix=step_matrix, rl_series=rl_series,
        obs_year=df["family"].map(family_year).fillna(0.0).to_numpy(float), family_year=family_year,
        new_groups={} if ref is None else {"benchmark": _new_groups(df["benchmark"], b_ix),
                                           "family": _new_groups(df["family"], f_ix), "cell": _new_groups(cell, c_ix)},
    )


def rl_series_steps(df: pd.DataFrame, fitted: dict[str, tuple[list[int], bool]] | None
                    ) -> tuple[list[str], np.ndarray, np.ndarray, dict[str, tuple[list[int], bool]]]:
    """Latent RL steps of the staged families in ``df``: names, zero-gap flags, the (obs, step) matrix and each
    series' (stages, starts from zero).

    A series' reference (x_rl = 0) is its first RL-trained stage: its lowest stage, or the next one when the
    lowest had no RL (``rl_from_zero``); a later stage sits the sum of the increments up to it above, a zero
    stage the gap below. With ``fitted`` (prediction) the fit's series are used: a row of a stage the fit did
    not have sits at the highest fitted stage below it; rows of series the fit never saw sit at 0."""
    df = df.reset_index(drop=True)
    stage = pd.to_numeric(df["rl_stage"], errors="coerce") if "rl_stage" in df else pd.Series(np.nan, index=df.index)
    staged = stage.notna().to_numpy()
    series = fitted
    if series is None:
        series = {}
        for fam, rows in df[staged].groupby("family", sort=True):
            stages = sorted(int(x) for x in stage[rows.index].unique())
            series[fam] = (stages, rows["rl_from_zero"].iloc[0] == "yes" and len(stages) > 1)
    names: list[str] = []
    for fam, (stages, zero) in series.items():
        ref = stages[1] if zero else stages[0]
        names += ([f"{fam}|zero"] if zero else []) + [f"{fam}|stage {t}" for t in stages if t > ref]
    ix = {n: j for j, n in enumerate(names)}
    matrix = np.zeros((len(df), len(names)))
    for i in np.flatnonzero(staged):
        fam, s = df.at[i, "family"], int(stage[i])
        if fam not in series:
            continue
        stages, zero = series[fam]
        ref = stages[1] if zero else stages[0]
        if zero and s < ref:
            matrix[i, ix[f"{fam}|zero"]] = -1.0
        for t in stages:
            if ref < t <= s:
                matrix[i, ix[f"{fam}|stage {t}"]] = 1.0
    return names, np.array([n.endswith("|zero") for n in names], bool), matrix, series


PROGRESS_ORIGIN = "2025-01-01"  # generation years are counted from here (the middle of the reasoning-model data)


def generation_years(df: pd.DataFrame) -> dict[str, float]:
    """Family -> its first release date in years since PROGRESS_ORIGIN (families without any date: absent)."""
    dates = pd.to_datetime(df["release_date"], errors="coerce").groupby(df["family"]).min().dropna()
    return {f: (d - pd.Timestamp(PROGRESS_ORIGIN)).days / 365.25 for f, d in dates.items()}


# Data information on a cell's intercept above which the cell is parametrised centred (its data sd on the
# logit scale is then below 0.5, tighter than any plausible cell_sd): a sampling choice only, exact either way.
CENTRED_CELL_INFO = 4.0
KAPPA_GUESS = 100.0  # over-dispersion used only to rank cells by information (the prior's median)
W_MAX = 20.0  # cap on the ceiling-pull weight of a level (rows at the best observed accuracy)


@dataclass
class Centring:
    """Where each intercept is placed for sampling (pure functions of the design, no parameters).

    ``x_inf_cell`` / ``x_inf_benchmark``: prior-mean log inference compute of the rows of each cell /
    benchmark (``year_*``: their mean generation year). The model samples the level (logit accuracy) there,
    which decorrelates intercepts from slopes (and from progress rates).
    ``rich``: cells whose data pin their level (centred parametrisation); the rest stay non-centred.
    ``w_*``: a ceiling change moves every level of its benchmark; levels are sampled plus
    ``w * log((ceiling - floor) / (1 - floor))`` with ``w = 1 / (1 - q / rho)`` (``q`` the observed share of the
    floor-to-1 range, ``rho`` the guessed ceiling share): the level shift that keeps accuracy at ``q`` when
    ``log rho`` moves, to first order (about 1 far below the ceiling, capped at W_MAX next to it).
    """

    x_inf_cell: np.ndarray
    x_inf_benchmark: np.ndarray
    year_cell: np.ndarray  # (cell,) mean generation year of the cell's rows (progress specs)
    year_benchmark: np.ndarray  # (benchmark,)
    w_cell: np.ndarray  # (cell,) mean w of the cell's rows
    w_benchmark: np.ndarray  # (benchmark,) mean w of the benchmark's rows
    rich: np.ndarray  # (cell,) bool


def prior_mean_inference_x(d: Design, elasticity_mean: float = 0.5) -> np.ndarray:
    """x_inf per row at the prior means of the latent compute variables (label offsets 0)."""
    anchor0 = np.zeros(len(d.anchors))
    if d.n_derived:
        sums = np.bincount(d.cal_anchor, weights=d.cal_value - elasticity_mean * d.cal_budget, minlength=d.n_derived)
        anchor0[:d.n_derived] = sums / np.bincount(d.cal_anchor, minlength=d.n_derived)
    anchor0[d.n_derived:] = d.anchor_mu
    return (d.inf_fixed + elasticity_mean * d.inf_budget
            + np.where(d.inf_anchor >= 0, np.append(anchor0, 0.0)[d.inf_anchor], 0.0)
            + np.where(d.inf_rel_latent >= 0, np.append(d.inf_rel_mu, 0.0)[d.inf_rel_latent], 0.0))


def ceiling_guess(d: Design) -> np.ndarray:
    """(benchmark,) a guess of each ceiling's share of the floor-to-1 range: halfway from the best
    observed share to 1 (geometry only)."""
    q = observed_share(d)
    best = np.zeros(len(d.benchmarks))
    np.maximum.at(best, d.obs_benchmark, q)
    return (1 + best) / 2


def observed_share(d: Design) -> np.ndarray:
    """(obs,) observed accuracy as a share of the floor-to-1 range."""
    return np.clip((d.k / d.n - d.floor) / (1 - d.floor), 0.0, 1.0)


def row_information(d: Design) -> np.ndarray:
    """(obs,) approximate Fisher information of each row's count on its logit-scale level, at the guessed
    ceilings (rows near a ceiling say little)."""
    f = d.floor
    rho = ceiling_guess(d)[d.obs_benchmark]
    s = np.clip(observed_share(d) / rho, 0.02, 0.98)
    p = f + (1 - f) * rho * s
    slope = (1 - f) * rho * s * (1 - s)  # dp/deta
    n_eff = d.n / (1 + (d.n - 1) / (KAPPA_GUESS + 1))
    return n_eff * slope**2 / (p * (1 - p))


def cell_information(d: Design) -> np.ndarray:
    """(cell,) approximate Fisher information on each cell's intercept."""
    return np.bincount(d.obs_cell, weights=row_information(d), minlength=len(d.cells))


def centring(d: Design, elasticity_mean: float = 0.5) -> Centring:
    x_inf = prior_mean_inference_x(d, elasticity_mean)

    def mean_by(idx, x, size):
        count = np.bincount(idx, minlength=size)
        return np.bincount(idx, weights=x, minlength=size) / np.maximum(count, 1)

    nc, nb = len(d.cells), len(d.benchmarks)
    q, rho = observed_share(d), ceiling_guess(d)
    w = np.minimum(1 / (1 - q / rho[d.obs_benchmark]), W_MAX)
    return Centring(
        x_inf_cell=mean_by(d.obs_cell, x_inf, nc), x_inf_benchmark=mean_by(d.obs_benchmark, x_inf, nb),
        year_cell=mean_by(d.obs_cell, d.obs_year, nc), year_benchmark=mean_by(d.obs_benchmark, d.obs_year, nb),
        w_cell=mean_by(d.obs_cell, w, nc), w_benchmark=mean_by(d.obs_benchmark, w, nb),
        rich=cell_information(d) >= CENTRED_CELL_INFO,
    )
