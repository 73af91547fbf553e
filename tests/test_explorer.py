"""``rlforecast explore``: the page's numbers are the package's numbers, in a real headless Chromium.

The page is built through the CLI from the session fit (simulated, unconverged: ``--allow-unconverged``) and the
shipped presets. ``rlforecast forecast`` runs on the same draws (``--param-draws`` = the page's draws, same
seed); every preset's quantiles in the page must equal the command's, a slider moved by keyboard must move them
as the command predicts for the exported settings, and the page must load nothing from outside the file.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from click.testing import CliRunner

from rlforecast.cli import main
from rlforecast.scenarios.spec import read_thresholds
from tests.test_report import CHROMIUM_ARGS, chromium_path

REPO = Path(__file__).resolve().parents[1]
DRAWS, SEED = "150", "5"
FOLDERS = ["--scenarios", str(REPO / "data/scenarios"), "--scenarios", str(REPO / "data/scenarios/with-progress")]


def run(args):
    return CliRunner().invoke(main, args)


def rows(text: str) -> dict:
    return {(r["scenario"], r["benchmark"], r["threshold"], r["quantile"]): r["year"]
            for r in csv.DictReader(io.StringIO(text))}


def forecast_quantiles(fit, scenarios, out) -> dict:
    res = run(["forecast", "--fit", str(fit), "--scenarios", str(scenarios), "--out", str(out), "--seed", SEED,
               "--param-draws", DRAWS, "--allow-unconverged"])
    assert res.exit_code == 0, res.output
    return rows((out / "arrival_quantiles.csv").read_text()), (out / "arrival_cdf.csv").read_text()


@pytest.fixture(scope="module")
def trend_run(fitted_run, tmp_path_factory) -> Path:
    """The session fit with a progress rate across generations put into its posterior (rates drawn around 1
    logit per year, some negative): stands in for a fit of models/progress.toml, to check the trend kernels."""
    import numpy as np
    import xarray as xr

    from rlforecast.fit import load_run, write_run

    run = load_run(fitted_run, allow_unconverged=True)
    post = run["posterior"].to_dataset()
    shape = (post.sizes["chain"], post.sizes["draw"], post.sizes["benchmark"])
    rng = np.random.default_rng(11)
    post["progress_rate"] = (("chain", "draw", "benchmark"), rng.normal(1.0, 1.0, shape))
    post["progress_rate_mu"] = (("chain", "draw"), np.ones(shape[:2]))
    post["progress_rate_sd"] = (("chain", "draw"), np.ones(shape[:2]))
    run["posterior"] = xr.DataTree(post)
    out = tmp_path_factory.mktemp("trend") / "trend.nc"
    write_run(run, out)
    return out


def explore_args(fitted_run, trend_run, out):
    """Two variants (no trend, trend) and both preset folders."""
    return ["explore", "--fit", str(fitted_run), "--fit", str(trend_run), *FOLDERS, "--out", str(out),
            "--seed", SEED, "--draws", DRAWS, "--allow-unconverged"]


@pytest.fixture(scope="module")
def page_file(fitted_run, trend_run, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("explorer") / "explorer.html"
    res = run(explore_args(fitted_run, trend_run, out))
    assert res.exit_code == 0, res.output
    assert "UNCONVERGED" in res.output
    return out


@pytest.fixture(scope="module")
def browser_page(page_file):
    from playwright.sync_api import sync_playwright

    log = {"errors": [], "requests": [], "failed": []}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        context = browser.new_context(accept_downloads=True, viewport={"width": 1300, "height": 900})
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.on("console", lambda m: log["errors"].append(m.text) if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: log["errors"].append(str(e)))
        page.on("request", lambda r: log["requests"].append(r.url))
        page.on("requestfailed", lambda r: log["failed"].append(r.url))
        page.goto(page_file.resolve().as_uri(), wait_until="load")
        page.wait_for_function("document.body.dataset.ready === 'true'")
        yield page, log
        browser.close()


def test_other_progress_in_the_page_equals_the_forecast_command(browser_page, trend_run, tmp_path):
    """The trend preset is offered only for the fit that has a trend, and its numbers (positive and negative
    rates: binary search and month-by-month scan) equal forecast's."""
    page, log = browser_page
    res = run(["forecast", "--fit", str(trend_run), *FOLDERS, "--out", str(tmp_path / "fc"), "--seed", SEED,
               "--param-draws", DRAWS, "--allow-unconverged"])
    assert res.exit_code == 0, res.output
    want = rows((tmp_path / "fc" / "arrival_quantiles.csv").read_text())
    page.select_option("#variant", value="0")
    trend = page.eval_on_selector_all("#preset option", "os => os.map(o => o.disabled)")
    assert trend[-1] and not any(trend[:-1])  # generations-continue: not for the fit without a trend
    assert page.locator("#use-7").count() == 0  # no other-progress controls either
    page.select_option("#variant", value="1")
    assert page.locator("#use-7").count() == 1
    policy = [[c.strip() for c in line.split("|")[1:-1]]
              for line in (tmp_path / "fc" / "policy_table.md").read_text().splitlines() if line.startswith("| ")]
    header, table = policy[0], {tuple(r[:3]): r for r in policy[1:]}
    checked = 0
    for name in ("generations-continue", "rl-to-parity"):
        page.select_option("#preset", label=name)
        got = rows(page.evaluate("EXPLORER.quantilesCsv()"))
        assert got == {k: v for k, v in want.items() if k[0] == name}, name
        # "earlier by" each driver: the policy table's counterfactuals, on the same draws
        bench = page.eval_on_selector("#benchmark", "s => s.options[s.selectedIndex].dataset.name")
        for row in page.locator("#quantile-table tbody tr:not(.met)").all():
            level = row.locator("th").get_attribute("data-level")
            mine = {d: row.locator(f"td[data-driver={d}]").inner_text() for d in ("rl", "inference", "other")
                    if row.locator(f"td[data-driver={d}]").count()}
            theirs = table[(name, bench, level)]
            assert mine == {d: theirs[header.index(f"earlier by {label}")] for d, label in
                            (("rl", "RL compute"), ("inference", "inference compute"), ("other", "other progress"))
                            if d in mine}, (name, level)
            assert ("other" in mine) == (name == "generations-continue")
            checked += 1
    assert checked >= 2
    # the exported scenario carries the trend: forecast on it gives the page's numbers
    page.select_option("#preset", label="generations-continue")
    bench = page.eval_on_selector("#benchmark", "s => s.options[s.selectedIndex].dataset.name")
    toml = page.evaluate("EXPLORER.scenarioToml()")
    assert "[other]\ntrend_share = 1\n" in toml
    (tmp_path / "mine.toml").write_text(toml)
    res = run(["forecast", "--fit", str(trend_run), "--scenarios", str(tmp_path / "mine.toml"), "--out",
               str(tmp_path / "fc2"), "--seed", SEED, "--param-draws", DRAWS, "--allow-unconverged"])
    assert res.exit_code == 0, res.output
    assert rows((tmp_path / "fc2" / "arrival_quantiles.csv").read_text()) == rows(page.evaluate("EXPLORER.quantilesCsv()"))
    page.select_option("#variant", value="0")  # no trend there: the reference preset, the same benchmark
    assert page.eval_on_selector("#preset", "s => s.options[s.selectedIndex].textContent") == "rl-to-parity"
    assert page.eval_on_selector("#benchmark", "s => s.options[s.selectedIndex].dataset.name") == bench
    assert not log["errors"], log["errors"]
    # the trend moves dates: generations-continue differs from rl-stalls only by its trend share
    assert {k[1:]: v for k, v in want.items() if k[0] == "generations-continue"} != \
        {k[1:]: v for k, v in want.items() if k[0] == "rl-stalls"}


def test_other_progress_needs_a_fit_with_a_trend(fitted_run, tmp_path):
    res = run(["forecast", "--fit", str(fitted_run), "--scenarios", str(REPO / "data/scenarios/with-progress"),
               "--out", str(tmp_path / "fc"), "--allow-unconverged"])
    assert res.exit_code == 2 and "other.trend_share" in res.output and "progress term" in res.output
    assert not (tmp_path / "fc").exists()


def test_same_inputs_give_identical_bytes(fitted_run, trend_run, page_file, tmp_path):
    again = tmp_path / "again.html"
    res = run(explore_args(fitted_run, trend_run, again))
    assert res.exit_code == 0, res.output
    assert again.read_bytes() == page_file.read_bytes()
    text = again.read_text()
    assert "<script src" not in text and "<link" not in text  # everything inline (the browser test checks requests)
    assert "Content-Security-Policy" in text


def test_every_preset_shows_the_forecast_commands_quantiles(browser_page, fitted_run, tmp_path):
    page, log = browser_page
    want, _ = forecast_quantiles(fitted_run, REPO / "data/scenarios", tmp_path / "fc")
    page.select_option("#variant", value="0")
    names = page.eval_on_selector_all("#preset option:not([disabled])", "os => os.map(o => o.textContent)")
    assert len(names) == 5
    for name in names:
        page.select_option("#preset", label=name)
        got = rows(page.evaluate("EXPLORER.quantilesCsv()"))
        mine = {k: v for k, v in want.items() if k[0] == name}
        assert got == mine, name
        # the table shows the same medians for the selected benchmark
        bench = page.eval_on_selector("#benchmark", "s => s.options[s.selectedIndex].textContent.split(' ')[0]")
        medians = page.eval_on_selector_all("#quantile-table tbody tr:not(.met) td:nth-child(3)",
                                            "ts => ts.map(t => t.dataset.year)")
        levels = page.eval_on_selector_all("#quantile-table tbody tr:not(.met) th", "ts => ts.map(t => t.dataset.level)")
        assert levels and medians == [mine[(name, bench, lv, "0.5")] for lv in levels]
    assert page.locator("#unconverged").is_visible()
    assert not log["errors"], log["errors"]


def test_thresholds_met_at_the_forecast_date_are_said_to_be(browser_page, fitted_run):
    from rlforecast.fit import load_run
    from rlforecast.scenarios.state import best_observed

    page, _ = browser_page
    best = best_observed(load_run(fitted_run, allow_unconverged=True))
    _, sourced = read_thresholds(REPO / "data/thresholds.toml", list(best))
    seen_met = 0
    for bench, (acc, model, _) in best.items():
        value = page.eval_on_selector("#benchmark", f"s => Array.from(s.options).find(o => o.textContent.split(' ')[0] === '{bench}').value")
        page.select_option("#benchmark", value=value)
        for row in page.locator("#quantile-table tbody tr").all():
            level = float(row.locator("th").get_attribute("data-level"))
            status = row.locator("td").first.inner_text()
            if level in sourced.get(bench, {}):  # a published human baseline is named, its source given below
                assert sourced[bench][level].label in row.locator("th").inner_text()
                assert sourced[bench][level].source in page.inner_text("#sources")
            assert (status == "met at the forecast date") == (level <= acc), (bench, level, status)
            if level <= acc:
                seen_met += 1
                assert f"observed {float(f'{acc:.3g}'):g}" in row.inner_text() and model in row.inner_text()
    assert seen_met > 0


def test_a_slider_moves_the_numbers_as_the_python_kernel_predicts(browser_page, fitted_run, tmp_path):
    page, log = browser_page
    page.select_option("#variant", value="0")
    page.select_option("#preset", label="rl-to-parity")
    before = rows(page.evaluate("EXPLORER.quantilesCsv()"))
    slider = page.locator("#r-rl-growth_per_year-low")
    slider.focus()
    for _ in range(40):  # +0.4 decades on the low end of RL growth: 5x -> ~12.6x per year
        page.keyboard.press("ArrowRight")
    assert page.input_value("#n-rl-growth_per_year-low") == "12.6"
    toml = page.evaluate("EXPLORER.scenarioToml()")
    assert "growth_per_year = {dist = \"interval80\", low = 12.6, high = 20}" in toml
    scenario = tmp_path / "custom.toml"
    scenario.write_text(toml)
    want, cdf_text = forecast_quantiles(fitted_run, scenario, tmp_path / "fc")
    after = rows(page.evaluate("EXPLORER.quantilesCsv()"))
    assert after == want
    assert {k[1:]: v for k, v in after.items()} != {k[1:]: v for k, v in before.items()}  # the slider did something
    # the figure: CDF lines of the current settings equal the command's P(by the end of each year)
    data = page.evaluate("""() => { const d = Bokeh.documents.map(d => d.get_model_by_name('cdf-source')).find(m => m).data;
                                    return {ys: d.ys, label: d.label, xs: d.xs[0]}; }""")
    bench = page.eval_on_selector("#benchmark", "s => s.options[s.selectedIndex].textContent.split(' ')[0]")
    start_month = round(data["xs"][0] * 12)
    for r in csv.DictReader(io.StringIO(cdf_text)):
        if r["benchmark"] != bench:
            continue
        line = data["ys"][data["label"].index(f"{float(r['threshold'])}: current")]
        month = min(int(r["year"]) * 12 + 11 - start_month, len(line) - 1)
        if month >= 0:
            assert float(r["p_reached"]) == pytest.approx(line[month], abs=1e-5), r
    assert not log["errors"], log["errors"]


def test_exports_download_what_the_page_shows(browser_page):
    page, _ = browser_page
    with page.expect_download() as info:
        page.click("#export-toml")
    assert Path(info.value.path()).read_text() == page.evaluate("EXPLORER.scenarioToml()")
    with page.expect_download() as info:
        page.click("#export-csv")
    text = Path(info.value.path()).read_text()
    assert text.splitlines()[0] == "scenario,benchmark,threshold,quantile,year"
    assert text == page.evaluate("EXPLORER.quantilesCsv()")


def test_controls_are_labelled_and_reachable_by_keyboard(browser_page):
    page, log = browser_page
    unlabelled = page.evaluate("""() => Array.from(document.querySelectorAll('main input, main select, main button'))
        .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.getAttribute('aria-labelledby')
                     && !(e.tagName === 'BUTTON' && e.textContent.trim()))
        .map(e => e.id)""")
    assert unlabelled == []
    controls = set(page.evaluate("() => Array.from(document.querySelectorAll('main input, main select, main button'), e => e.id)"))
    page.locator("#variant").focus()
    reached = set()
    for _ in range(3 * len(controls)):
        reached.add(page.evaluate("document.activeElement.id"))
        page.keyboard.press("Tab")
    assert controls <= reached, sorted(controls - reached)
    # a switch by keyboard: turning the tokens cap off removes its sliders and recomputes
    page.locator("#use-4").focus()
    page.keyboard.press("Space")
    assert page.locator("#r-inference-max_tokens_multiple-value").count() == 0
    assert "inference.max_tokens_multiple" not in page.evaluate("EXPLORER.settings")
    assert not log["errors"], log["errors"]


def test_invalid_settings_are_said_and_never_exported(browser_page):
    page, log = browser_page
    page.select_option("#variant", value="0")
    page.select_option("#preset", label="rl-to-parity")
    page.fill("#n-rl-growth_per_year-low", "30")  # above high = 20
    page.dispatch_event("#n-rl-growth_per_year-low", "change")
    assert "low must be < high" in page.inner_text("#problems")
    assert page.is_disabled("#export-toml") and page.is_disabled("#export-csv")
    page.click("#reset")
    assert page.inner_text("#problems") == "" and not page.is_disabled("#export-csv")
    assert not log["errors"], log["errors"]


def test_nothing_is_fetched_from_outside_the_file(browser_page):
    _, log = browser_page
    assert log["requests"] and all(u.startswith(("file://", "data:", "blob:")) for u in log["requests"]), \
        [u[:60] for u in log["requests"]]
    assert not log["failed"], log["failed"]


def test_bad_input_exits_2_and_writes_nothing(fitted_run, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text((REPO / "data/scenarios/rl-stalls.toml").read_text().replace("growth_per_year = 1.0", "growth = 1.0"))
    out = tmp_path / "explorer.html"
    res = run(["explore", "--fit", str(fitted_run), "--scenarios", str(bad), "--out", str(out), "--allow-unconverged"])
    assert res.exit_code == 2 and "rl.growth" in res.output and "Traceback" not in res.output
    res = run(["explore", "--fit", str(fitted_run), "--scenarios", str(REPO / "data/scenarios"), "--out", str(out)])
    assert res.exit_code == 2 and "FAILED its diagnostics" in res.output  # refused unless --allow-unconverged
    assert list(tmp_path.iterdir()) == [bad]
