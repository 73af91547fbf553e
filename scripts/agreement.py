#!/usr/bin/env python
"""Posterior agreement between two fits of the same model: did a change made for speed change the answer?

    python scripts/agreement.py summarize runs/reference.nc --out tests/data/reference_summary.csv
    python scripts/agreement.py compare tests/data/reference_summary.csv runs/baseline.nc

``summarize`` writes, for every quantity a user reads (per-benchmark slopes, exchange rates and ceilings, the
pooled exchange rate and population log slopes), the posterior median with its Monte Carlo standard error
(arviz-stats ``mcse(method="median")``), the 5% and 95% quantiles and the bulk ESS. ``compare`` puts a run
beside such a summary: z = (median - reference median) / sqrt(mcse^2 + reference mcse^2); identical
posteriors give |z| < 2 for about 95% of the quantities.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

QUANTITIES = ["slope_rl", "slope_inf", "exchange_rate", "ceiling", "exchange_rate_pooled", "log_slope_mu"]


def summarize(run) -> pd.DataFrame:
    """One row per scalar quantity: name, median, mcse_median, q05, q95, ess_bulk."""
    import arviz_stats as azs

    post = run["posterior"].to_dataset()[QUANTITIES]
    med = post.median(("chain", "draw"))
    mcse = azs.mcse(post, method="median")
    q = post.quantile([0.05, 0.95], dim=("chain", "draw"))
    ess = azs.ess(post, method="bulk")
    rows = []
    for var in QUANTITIES:
        da = med[var]
        extra = [d for d in da.dims]
        labels = [""] if not extra else [str(v) for v in da[extra[0]].values]
        for i, label in enumerate(labels):
            def pick(x):
                return float(np.ravel(x[var].values)[i])
            rows.append({"quantity": f"{var}[{label}]" if label else var, "median": pick(med),
                         "mcse_median": pick(mcse), "q05": pick(q.sel(quantile=0.05)),
                         "q95": pick(q.sel(quantile=0.95)), "ess_bulk": pick(ess)})
    return pd.DataFrame(rows)


def compare(reference: pd.DataFrame, current: pd.DataFrame) -> pd.DataFrame:
    both = reference.merge(current, on="quantity", suffixes=("_ref", ""), validate="one_to_one")
    both["z"] = (both["median"] - both["median_ref"]) / np.hypot(both["mcse_median"], both["mcse_median_ref"])
    return both[["quantity", "median_ref", "median", "mcse_median_ref", "mcse_median", "z", "q05_ref", "q05",
                 "q95_ref", "q95"]]


def main(argv=None) -> int:
    import xarray as xr

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("summarize")
    s.add_argument("run")
    s.add_argument("--out", required=True)
    c = sub.add_parser("compare")
    c.add_argument("reference", help="summary CSV written by `summarize`")
    c.add_argument("run")
    args = ap.parse_args(argv)
    run = xr.open_datatree(args.run, engine="h5netcdf")
    if args.cmd == "summarize":
        from rlforecast.io import write_text

        write_text(args.out, summarize(run).to_csv(index=False, float_format="%.6g"))
        print(f"wrote {args.out}")
        return 0
    table = compare(pd.read_csv(args.reference), summarize(run))
    with pd.option_context("display.width", 200, "display.max_rows", 200):
        print(table.to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    z = table["z"].abs()
    print(f"\n{len(z)} quantities: |z| < 2 for {np.mean(z < 2):.0%}, max |z| {z.max():.2f} ({table.loc[z.idxmax(), 'quantity']})")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    sys.exit(main())
