"""Command-line interface. Thin: parses options, calls the library, turns input errors into clean exits."""

from __future__ import annotations

import atexit
import functools
import os
import signal
import sys

import click

from rlforecast.errors import (
    ConvergenceError,
    InputError,
    on_interrupt,
    quiet_unraisable,
    reset_interrupts,
)

EXIT_INPUT = 2
EXIT_UNCONVERGED = 3
SIGNAL_NAMES = {signal.SIGINT: "Ctrl-C (SIGINT)", signal.SIGTERM: "SIGTERM"}
SEED = click.IntRange(min=0)  # numpy and the samplers take non-negative seeds only
START_HELP = ("First month of the forecast, YYYY-MM-01, for scenarios without a `start` (default: the forecast "
              "date, the month of the fit's latest release); each frontier is carried from its anchor's date to it.")


SCENARIOS = click.option("--scenarios", "scenarios_path", required=True, multiple=True, type=click.Path(),
                         help="Scenario TOML file or folder (repeatable: e.g. data/scenarios and "
                              "data/scenarios/with-progress).")
THRESHOLDS = click.option("--thresholds", "thresholds_path", type=click.Path(dir_okay=False), default=None,
                          help="Threshold TOML (default: data/thresholds.toml).")


def _start(text):
    from rlforecast.scenarios.spec import parse_start

    return parse_start(text) if text else None


def _clean_errors(fn):
    """Bad input -> one readable paragraph on stderr and a non-zero exit; never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except InputError as err:
            click.echo(f"error: {err.report()}", err=True)
            sys.exit(EXIT_INPUT)
        except ConvergenceError as err:
            click.echo(f"error: {err}", err=True)
            sys.exit(EXIT_UNCONVERGED)
        except KeyboardInterrupt as err:
            signum = err.args[0] if err.args and err.args[0] in SIGNAL_NAMES else signal.SIGINT
            click.echo(f"interrupted by {SIGNAL_NAMES[signum]}: stopped; every output file is either as it was "
                       "before or complete (nothing is half-written)", err=True)
            _EXIT_SIGNAL.append(signum)  # the process ends by it once the interpreter has cleaned up
            sys.exit(128 + signum)

    return wrapper


_EXIT_SIGNAL: list[int] = []


@atexit.register  # registered when the CLI is imported, before any library: runs last
def _die_by_signal() -> None:
    """After an interrupted command, end by the signal itself, as Unix tools do once cleaned up: a calling
    shell or script sees the interrupt (status 128 + signum) and stops too."""
    if _EXIT_SIGNAL:
        sys.stdout.flush()
        sys.stderr.flush()
        signal.signal(_EXIT_SIGNAL[0], signal.SIG_DFL)
        os.kill(os.getpid(), _EXIT_SIGNAL[0])


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="rlforecast")
def main():
    """Bayesian forecasts of AI capability from RL-training and inference compute.

    Typical chain: `data build` -> `fit` -> `exchange-rate` / `predict` -> `forecast`.
    """
    # SIGTERM ends a command the way Ctrl-C does, through the same clean exit; the handlers and the
    # unraisable hook are put back when the command ends (the CLI may run inside a notebook or a test)
    reset_interrupts()
    previous = {signum: signal.signal(signum, on_interrupt) for signum in SIGNAL_NAMES}
    hook, sys.unraisablehook = sys.unraisablehook, quiet_unraisable

    def restore():
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        sys.unraisablehook = hook

    click.get_current_context().call_on_close(restore)


@main.group()
def data():
    """Build and validate the observations table."""


@data.command("build")
@click.option("--raw", "raw_dir", required=True, type=click.Path(file_okay=False), help="Folder laid out like shared/reference-data.")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False), help="Observations CSV to write.")
@_clean_errors
def data_build(raw_dir, out_path):
    """Turn the raw public files into one tidy observations table (deterministic)."""
    from rlforecast.data.build import build_to_file

    summary = build_to_file(raw_dir, out_path)
    click.echo(summary)


@data.command("check")
@click.argument("path", type=click.Path(dir_okay=False))
@_clean_errors
def data_check(path):
    """Validate an observations file; list every problem (exit 0 when clean)."""
    from rlforecast.data.schema import read_observations

    df = read_observations(path)
    click.echo(f"{path}: OK ({len(df)} rows, {df['benchmark'].nunique()} benchmarks)")


@main.command()
@click.option("--data", "data_path", required=True, type=click.Path(dir_okay=False), help="Observations CSV.")
@click.option("--model", "model_path", required=True, type=click.Path(dir_okay=False), help="Model spec (models/*.toml).")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False), help="Run file to write (netCDF DataTree).")
@click.option("--seed", default=1, show_default=True, type=SEED)
@click.option("--sampler", type=click.Choice(["nutpie", "pymc"]), default="nutpie", show_default=True)
@click.option("--draws", type=click.IntRange(min=1), default=None, help="Draws per chain (default: the spec's sampler settings).")
@click.option("--tune", type=click.IntRange(min=1), default=None, help="Tuning steps per chain (default: the spec's).")
@click.option("--chains", type=click.IntRange(min=1), default=None, help="Chains (default: the spec's).")
@click.option("--allow-unconverged", is_flag=True, help="Write the run even if diagnostics fail (recorded in the file).")
@click.option("--no-cache", is_flag=True, help="Refit even if a cached fit with the same data, spec and sampler settings exists.")
@_clean_errors
def fit(data_path, model_path, out_path, seed, sampler, draws, tune, chains, allow_unconverged, no_cache):
    """Fit a model spec to observations; print diagnostics and the predictive check."""
    from rlforecast.fit import fit_command

    fit_command(data_path, model_path, out_path, seed=seed, sampler=sampler, draws=draws, tune=tune,
                chains=chains, allow_unconverged=allow_unconverged, use_cache=not no_cache, echo=click.echo)


@main.group()
def cache():
    """Inspect or clear the fit cache (runs/.cache, or $RLFORECAST_CACHE)."""


@cache.command("info")
@_clean_errors
def cache_info():
    """List the cached fits with their size, model, rows and state."""
    from rlforecast.fit import cache_dir, cache_entries

    rows = cache_entries()
    total = sum(r["bytes"] for r in rows)
    click.echo(f"fit cache {cache_dir()}: {len(rows)} entries, {total / 1e6:.1f} MB")
    for r in rows:
        what = (f"{r['model']}, {r['rows']} rows, seed {r['seed']}, {r['draws']} draws/chain, "
                f"{'passed' if r['passed'] else 'FAILED'} diagnostics") if r["status"] == "ok" else r["status"]
        click.echo(f"  {r['file'][:16]}  {r['bytes'] / 1e6:7.1f} MB  {r['written']}  {what}")


@cache.command("clear")
@_clean_errors
def cache_clear():
    """Remove every cached fit (later fits are redone)."""
    from rlforecast.fit import cache_dir, clear_cache

    n, freed = clear_cache()
    click.echo(f"removed {n} files ({freed / 1e6:.1f} MB) from {cache_dir()}")


@main.command()
@click.option("--fit", "fit_path", required=True, type=click.Path(dir_okay=False))
@click.option("--input", "input_path", required=True, type=click.Path(dir_okay=False), help="Rows in the observations schema.")
@click.option("--output", "output_path", required=True, type=click.Path(dir_okay=False))
@click.option("--seed", default=1, show_default=True, type=SEED)
@click.option("--allow-unconverged", is_flag=True, help="Accept a fit that failed its diagnostics (warns).")
@_clean_errors
def predict(fit_path, input_path, output_path, seed, allow_unconverged):
    """Posterior predictive quantiles of observed accuracy for arbitrary rows."""
    from rlforecast.predict import predict_command

    predict_command(fit_path, input_path, output_path, seed=seed, allow_unconverged=allow_unconverged,
                    echo=click.echo)


@main.command("exchange-rate")
@click.option("--fit", "fit_path", required=True, type=click.Path(dir_okay=False))
@click.option("--out", "out_path", type=click.Path(dir_okay=False), default=None, help="Also write the table as CSV.")
@click.option("--gpt-level-inference", type=click.FloatRange(min=1.0, min_open=True), default=1000.0, show_default=True,
              help="Inference multiple taken as one 'GPT level' (essay: about 1,000x).")
@click.option("--allow-unconverged", is_flag=True, help="Accept a fit that failed its diagnostics (warns).")
@_clean_errors
def exchange_rate(fit_path, out_path, gpt_level_inference, allow_unconverged):
    """RL-vs-inference exchange rate per benchmark and pooled, beside the essay's claims."""
    from rlforecast.exchange import exchange_rate_command

    exchange_rate_command(fit_path, out_path, gpt_level_inference=gpt_level_inference,
                          allow_unconverged=allow_unconverged, echo=click.echo)


@main.command()
@click.argument("runs", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--out", "out_path", type=click.Path(dir_okay=False), default=None,
              help="CSV of the model table.")
@click.option("--cv", "cv", type=click.IntRange(min=2), default=None,
              help="Grouped K-fold cross-validation with K exact refits per run (through the fit cache).")
@click.option("--cv-by", "scheme", type=click.Choice(["family", "cell"]), default="family", show_default=True,
              help="Groups held out whole: model families, or benchmark x family cells.")
@click.option("--cv-out", "cv_out", type=click.Path(file_okay=False), default=None,
              help="Folder for cv_models.csv, cv_folds.csv, cv_coverage.csv, cv_pit.csv (held-out and in-sample PIT per row) and cv_pit.png.")
@click.option("--seed", default=1, show_default=True, type=SEED, help="Fold assignment and PIT randomisation.")
@click.option("--scheduler", default=None,
              help="dask.distributed scheduler address: the --cv refits run there in parallel (its workers must share "
                   "this machine's fit cache folder); default: one after another in this process.")
@_clean_errors
def compare(runs, out_path, cv, scheme, cv_out, seed, scheduler):
    """Compare fitted model variants by PSIS-LOO (with Pareto-k warnings) or, with --cv K, by grouped K-fold
    cross-validation (elpd with standard errors, stacking weights, held-out interval coverage)."""
    from rlforecast.compare import compare_command

    if scheduler is not None and cv is None:
        raise InputError.at("--scheduler", "runs the --cv refits; give --cv K with it")
    compare_command(list(runs), out_path, cv=cv, scheme=scheme, seed=seed, cv_out=cv_out, scheduler=scheduler,
                    echo=click.echo)


@main.command()
@click.option("--fit", "fit_paths", required=True, multiple=True, type=click.Path(dir_okay=False),
              help="Run file; repeat once per model variant to forecast from their stacked mixture (needs --weights).")
@click.option("--weights", "weights_path", default=None, type=click.Path(dir_okay=False),
              help="Stacking weights of the variants: a CSV with columns model, stacking_weight (compare --cv writes "
                   "cv_models.csv).")
@SCENARIOS
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False))
@THRESHOLDS
@click.option("--seed", default=1, show_default=True, type=SEED)
@click.option("--param-draws", type=int, default=None, help="Scenario-parameter draws (default: one per posterior draw).")
@click.option("--scheduler", default=None, help="dask.distributed scheduler address; default runs in process.")
@click.option("--allow-unconverged", is_flag=True, help="Accept a fit that failed diagnostics (every table says so).")
@click.option("--start", "start", default=None, help=START_HELP)
@_clean_errors
def forecast(fit_paths, weights_path, scenarios_path, out_dir, thresholds_path, seed, param_draws, scheduler,
             allow_unconverged, start):
    """Propagate the posterior (or the stacked mixture of several variants' posteriors) through compute
    scenarios into arrival-date distributions."""
    from rlforecast.scenarios.forecast import forecast_command

    forecast_command(list(fit_paths), scenarios_path, out_dir, thresholds_path=thresholds_path, seed=seed,
                     param_draws=param_draws, scheduler=scheduler, allow_unconverged=allow_unconverged,
                     start=_start(start), weights_path=weights_path, echo=click.echo)


@main.command()
@click.option("--fit", "fit_paths", required=True, multiple=True, type=click.Path(dir_okay=False),
              help="Run file; repeat once per model variant (equal weights unless --weights).")
@click.option("--weights", "weights_path", default=None, type=click.Path(dir_okay=False),
              help="Stacking weights of the variants for the model share: a CSV with columns model, stacking_weight "
                   "(compare --cv writes cv_models.csv).")
@SCENARIOS
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Folder for budget.csv/md/png.")
@THRESHOLDS
@click.option("--seed", default=1, show_default=True, type=SEED)
@click.option("--posterior-draws", default=300, show_default=True, type=int, help="Posterior draws per variant (thinned).")
@click.option("--param-draws", default=300, show_default=True, type=int, help="Scenario-parameter draws, crossed with every posterior draw.")
@click.option("--allow-unconverged", is_flag=True, help="Accept fits that failed diagnostics (outputs say so).")
@click.option("--start", "start", default=None, help=START_HELP)
@_clean_errors
def budget(fit_paths, weights_path, scenarios_path, out_dir, thresholds_path, seed, posterior_draws, param_draws,
           allow_unconverged, start):
    """Uncertainty budget: split the spread of each arrival date into posterior, scenario parameters,
    scenario choice and model variant (variance shares and Shapley attribution)."""
    from rlforecast.scenarios.budget import budget_command

    budget_command(fit_paths, scenarios_path, out_dir, thresholds_path=thresholds_path, seed=seed,
                   posterior_draws=posterior_draws, param_draws=param_draws, allow_unconverged=allow_unconverged,
                   start=_start(start), weights_path=weights_path, echo=click.echo)


@main.command()
@click.option("--fit", "fit_path", required=True, type=click.Path(dir_okay=False), help="The run to update.")
@click.option("--new", "new_path", required=True, type=click.Path(dir_okay=False),
              help="Newly published results, in the observations schema (new obs_id values).")
@click.option("--out-fit", "out_fit", required=True, type=click.Path(dir_okay=False), help="Run file of the refit.")
@click.option("--scenarios", "scenarios_path", default=None, type=click.Path(),
              help="Scenario TOML file or folder the medians are compared under (default: data/scenarios).")
@click.option("--out", "out_path", type=click.Path(dir_okay=False), default=None, help="Also write the shifts as CSV.")
@THRESHOLDS
@click.option("--seed", default=1, show_default=True, type=SEED, help="Forecast seed (the refit keeps the run's seed).")
@click.option("--param-draws", type=int, default=None, help="Scenario-parameter draws (default: one per posterior draw).")
@click.option("--sampler", type=click.Choice(["nutpie", "pymc"]), default=None, help="Default: the run's sampler.")
@click.option("--draws", type=click.IntRange(min=1), default=None, help="Draws per chain (default: the run's).")
@click.option("--tune", type=click.IntRange(min=1), default=None, help="Tuning steps per chain (default: the run's).")
@click.option("--chains", type=click.IntRange(min=1), default=None, help="Chains (default: the run's).")
@click.option("--allow-unconverged", is_flag=True, help="Accept fits that failed diagnostics (the output says so).")
@click.option("--no-cache", is_flag=True, help="Refit even if a cached fit of the same inputs exists.")
@click.option("--alert-points", default=10.0, show_default=True, type=float,
              help="Flag a cell (ALERT) when P(by 2030), P(by the horizon) or P(by the old median date) moves this "
                   "many percentage points.")
@click.option("--start", "start", default=None, help=START_HELP + " Both forecasts use it (default: the refit's).")
@_clean_errors
def update(fit_path, new_path, out_fit, scenarios_path, out_path, thresholds_path, seed, param_draws, sampler, draws,
           tune, chains, allow_unconverged, no_cache, alert_points, start):
    """Refit with newly published results and print how each median arrival date moved."""
    from rlforecast.update import update_command

    update_command(fit_path, new_path, out_fit, scenarios_path, out_path=out_path, thresholds_path=thresholds_path,
                   seed=seed, param_draws=param_draws, sampler=sampler, draws=draws, tune=tune, chains=chains,
                   allow_unconverged=allow_unconverged, use_cache=not no_cache, alert_points=alert_points,
                   start=_start(start), echo=click.echo)


@main.command()
@click.option("--data", "data_path", required=True, type=click.Path(dir_okay=False), help="Observations CSV.")
@click.option("--model", "model_path", required=True, type=click.Path(dir_okay=False), help="Model spec.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Folder for backtest.csv/png.")
@click.option("--cutoff", "cutoffs", multiple=True,
              help="Release-date cutoffs (repeatable; default 2025-07-01, 2026-01-01, 2026-04-01 for the rolling "
                   "origin, and 2025-01-01, 2025-04-01, 2025-07-01, 2025-10-01 with --arrivals, where later "
                   "cutoffs leave almost no benchmark with newer rows).")
@click.option("--seed", default=1, show_default=True, type=SEED)
@click.option("--draws", type=click.IntRange(min=1), default=None, help="Draws per chain for every refit (default: the spec's).")
@click.option("--tune", type=click.IntRange(min=1), default=None, help="Tuning steps per chain (default: the spec's).")
@click.option("--chains", type=click.IntRange(min=1), default=None, help="Chains (default: the spec's).")
@click.option("--arrivals", is_flag=True,
              help="Arrival-date backtest instead: forecast from each cutoff with the presets, score P(threshold "
                   "reached by the last date with data) and the observed arrival months against persistence and a "
                   "logistic time trend (arrivals.csv, arrivals_summary.csv, arrivals.png).")
@click.option("--scenarios", "scenarios_path", multiple=True, type=click.Path(),
              help="With --arrivals: scenario file or folder (repeatable; default data/scenarios).")
@click.option("--thresholds", "thresholds_path", type=click.Path(dir_okay=False), default=None,
              help="With --arrivals: threshold TOML (default: data/thresholds.toml).")
@click.option("--param-draws", type=click.IntRange(min=1), default=None,
              help="With --arrivals: scenario-parameter draws (default: one per posterior draw).")
@_clean_errors
def backtest(data_path, model_path, out_dir, cutoffs, seed, draws, tune, chains, arrivals, scenarios_path,
             thresholds_path, param_draws):
    """Rolling-origin and effort-extrapolation backtests against naive baselines (or, with --arrivals, the
    arrival-date backtest)."""
    from rlforecast.backtest import arrivals_command, backtest_command

    if arrivals:
        from rlforecast.scenarios.forecast import DEFAULT_THRESHOLDS

        scenarios = scenarios_path or (str(DEFAULT_THRESHOLDS.parent / "scenarios"),)
        cutoffs = cutoffs or ("2025-01-01", "2025-04-01", "2025-07-01", "2025-10-01")
        arrivals_command(data_path, model_path, out_dir, cutoffs=list(cutoffs), scenarios_path=scenarios,
                         thresholds_path=thresholds_path, seed=seed, draws=draws, tune=tune, chains=chains,
                         param_draws=param_draws, echo=click.echo)
        return
    cutoffs = cutoffs or ("2025-07-01", "2026-01-01", "2026-04-01")
    backtest_command(data_path, model_path, out_dir, cutoffs=list(cutoffs), seed=seed, draws=draws, tune=tune,
                     chains=chains, echo=click.echo)


@main.command()
@click.option("--fit", "fit_path", required=True, type=click.Path(dir_okay=False), help="Run file to report on.")
@SCENARIOS
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False), help="HTML file to write.")
@click.option("--variant", "variant_paths", multiple=True, type=click.Path(dir_okay=False),
              help="Another fitted model variant for the uncertainty budget (repeatable).")
@click.option("--weights", "weights_path", default=None, type=click.Path(dir_okay=False),
              help="Stacking weights of --fit and the variants (compare --cv's cv_models.csv): the forecast and the "
                   "budget then use their weighted mixture.")
@THRESHOLDS
@click.option("--seed", default=1, show_default=True, type=SEED)
@click.option("--param-draws", type=click.IntRange(min=1), default=None,
              help="Scenario-parameter draws of the forecast (default: one per posterior draw).")
@click.option("--budget-posterior-draws", type=click.IntRange(min=2), default=300, show_default=True,
              help="Posterior draws per variant in the uncertainty budget.")
@click.option("--budget-param-draws", type=click.IntRange(min=2), default=300, show_default=True,
              help="Scenario-parameter draws in the uncertainty budget (crossed with every posterior draw).")
@click.option("--allow-unconverged", is_flag=True, help="Accept fits that failed diagnostics (the report says so).")
@click.option("--start", "start", default=None, help=START_HELP)
@_clean_errors
def report(fit_path, scenarios_path, out_path, variant_paths, weights_path, thresholds_path, seed, param_draws,
           budget_posterior_draws, budget_param_draws, allow_unconverged, start):
    """One self-contained HTML report: data, diagnostics, exchange rates, scenarios, uncertainty budget."""
    from rlforecast.report import report_command

    report_command(fit_path, scenarios_path, out_path, variant_paths=list(variant_paths),
                   thresholds_path=thresholds_path, seed=seed, param_draws=param_draws,
                   budget_posterior_draws=budget_posterior_draws, budget_param_draws=budget_param_draws,
                   allow_unconverged=allow_unconverged, start=_start(start), weights_path=weights_path,
                   echo=click.echo)


@main.command()
@click.option("--fit", "fit_paths", required=True, multiple=True, type=click.Path(dir_okay=False),
              help="Run file; repeat once per model variant (the page lets the reader choose).")
@click.option("--weights", "weights_path", default=None, type=click.Path(dir_okay=False),
              help="Stacking weights of the fits (compare --cv's cv_models.csv): the page adds their stacked mixture "
                   "as the default variant.")
@SCENARIOS
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False), help="HTML file to write.")
@THRESHOLDS
@click.option("--seed", default=1, show_default=True, type=SEED, help="Seed of the scenario-parameter draws (as forecast's).")
@click.option("--draws", default=500, show_default=True, type=click.IntRange(min=2),
              help="Joint draws embedded (posterior evenly thinned, as forecast --param-draws).")
@click.option("--allow-unconverged", is_flag=True, help="Accept fits that failed diagnostics (the page says so).")
@click.option("--start", "start", default=None, help=START_HELP)
@_clean_errors
def explore(fit_paths, weights_path, scenarios_path, out_path, thresholds_path, seed, draws, allow_unconverged, start):
    """One self-contained HTML page (no server, no network) where scenario parameters are moved and the
    arrival dates recomputed in the browser."""
    from rlforecast.explore import explore_command

    explore_command(list(fit_paths), scenarios_path, out_path, thresholds_path=thresholds_path, seed=seed,
                    draws=draws, allow_unconverged=allow_unconverged, start=_start(start), weights_path=weights_path,
                    echo=click.echo)


if __name__ == "__main__":
    main()
