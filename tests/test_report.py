"""``rlforecast report``: one self-contained HTML file, rendered in a real headless Chromium.

The report is built through the real CLI from the session fit (small, simulated, unconverged: hence
``--allow-unconverged``) and the shipped scenario presets, with fewer draws than the defaults. The browser check
loads it from a ``file://`` URL and asserts that every section, table and image is there, that nothing failed to
load, that nothing outside the file was requested and that the UNCONVERGED banner shows.

Chromium is Debian's package (``scripts/ensure-chromium``, run by ``make test``), driven by the ``playwright``
Python package; no browser is downloaded.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from rlforecast.cli import main
from rlforecast.model.simulate import BENCHMARKS
from rlforecast.report import SECTIONS, esc, table_html
from rlforecast.scenarios.spec import load_thresholds

REPO = Path(__file__).resolve().parents[1]
FAST = ["--seed", "5", "--param-draws", "200", "--budget-posterior-draws", "60", "--budget-param-draws", "60"]
HOSTILE = 'RL <i>stalls</i> & "quotes" <script>alert(1)</script>'
TABLES = ("data-table", "diagnostics-table", "coverage-table", "exchange-table", "scenario-list", "scenario-table",
          "budget-table", "provenance-table")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def chromium_path() -> str:
    for candidate in (os.environ.get("CHROMIUM"), shutil.which("chromium"), "/usr/bin/chromium"):
        if candidate and Path(candidate).is_file():
            return candidate
    pytest.fail("Chromium not found: run scripts/ensure-chromium (make test does), or set CHROMIUM=/path/to/chromium")


def report(args: list[str]):
    return CliRunner().invoke(main, ["report", *args])


@pytest.fixture(scope="module")
def scenarios(tmp_path_factory) -> Path:
    """The shipped presets; one description carries markup and quotes, which must come out as text."""
    folder = tmp_path_factory.mktemp("scenarios")
    for src in sorted((REPO / "data" / "scenarios").glob("*.toml")):
        text = src.read_text()
        if src.stem == "rl-stalls":
            text = re.sub(r"(?m)^description = .*$", lambda _: f"description = '''{HOSTILE}'''", text)
        (folder / src.name).write_text(text)
    return folder


@pytest.fixture(scope="module")
def built(fitted_run, scenarios, tmp_path_factory) -> dict[str, Path]:
    """The same report built twice into different folders."""
    out = {}
    for name in ("a", "b"):
        path = tmp_path_factory.mktemp(f"report_{name}") / "report.html"
        res = report(["--fit", str(fitted_run), "--scenarios", str(scenarios), "--out", str(path),
                      "--allow-unconverged", *FAST])
        assert res.exit_code == 0, res.output
        assert "UNCONVERGED" in res.output
        out[name] = path
    return out


def test_same_inputs_give_identical_bytes(built):
    assert built["a"].read_bytes() == built["b"].read_bytes()


def test_self_contained_and_escaped(built):
    text = built["a"].read_text(encoding="utf-8")
    links = re.findall(r'(?:src|href)="([^"]*)"', text)
    assert links and all(u.startswith(("data:image/png;base64,", "#")) for u in links), \
        [u[:40] for u in links if not u.startswith(("data:", "#"))]
    assert "<script" not in text.lower().replace("&lt;script", "")  # no JavaScript; data markup is escaped
    assert "http://" not in text and "https://" not in text
    assert esc(HOSTILE) in text and HOSTILE not in text
    assert "Content-Security-Policy" in text


def test_report_renders_in_headless_chromium(built, tmp_path):
    from playwright.sync_api import sync_playwright

    failed, errors, requests = [], [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(20_000)
            page.on("requestfailed", lambda r: failed.append(f"{r.url[:80]}: {r.failure}"))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(built["a"].resolve().as_uri(), wait_until="load")

            assert page.locator("h2").all_inner_texts() == [title for _, title in SECTIONS]
            assert page.locator("nav a").count() == len(SECTIONS)
            for table in TABLES:
                assert page.locator(f"#{table} thead th").count() > 0, table
                assert page.locator(f"#{table} tbody tr").count() > 0, table
            # one row per scenario x benchmark x threshold (plain and sourced levels of the 4 simulated benchmarks)
            n_scen = page.locator("#scenario-list tbody tr").count()
            levels = load_thresholds(REPO / "data/thresholds.toml", list(BENCHMARKS))
            n_levels = sum(len(lv) for lv in levels.values())
            assert n_levels > 4 * 3  # sourced levels (human baselines) added to the plain ones
            assert n_scen == 5 and page.locator("#scenario-table tbody tr").count() == n_scen * n_levels
            assert page.locator("#budget-table tbody tr").count() == n_levels

            images = page.evaluate("""() => Array.from(document.images, im =>
                ({ok: im.complete && im.naturalWidth > 0 && im.naturalHeight > 0, src: im.src.slice(0, 22)}))""")
            assert len(images) >= 3  # forest plot, at least one arrival CDF, the budget figure
            assert all(im["ok"] for im in images), images
            assert {im["src"] for im in images} == {"data:image/png;base64,"}
            assert page.locator("section#exchange figure img").count() == 1
            assert page.locator("section#scenarios figure img").count() >= 1
            assert page.locator("section#budget figure img").count() >= 1

            banner = page.locator("#unconverged")
            assert banner.is_visible() and "UNCONVERGED FIT" in banner.inner_text()
            assert banner.bounding_box()["y"] < 900  # on the first screen
            # scenario text from a data file is shown as text, not interpreted as markup
            assert HOSTILE in page.locator("#scenario-list").inner_text()
            assert page.locator("#scenario-list i, script").count() == 0

            shot = tmp_path / "report.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 50_000
        finally:
            browser.close()
    assert not failed, failed
    assert not errors, errors
    assert all(u.startswith(("file://", "data:")) for u in requests), [u[:60] for u in requests]


def test_bad_input_exits_2_and_writes_nothing(fitted_run, scenarios, tmp_path):
    out = tmp_path / "out" / "report.html"
    not_a_run = tmp_path / "run.nc"
    not_a_run.write_text("obs_id,benchmark\nx,y\n")
    cases = {
        "missing scenarios": (["--fit", str(fitted_run), "--scenarios", str(tmp_path / "nope.toml")],
                              "nope.toml"),
        "not a run file": (["--fit", str(not_a_run), "--scenarios", str(scenarios)], "run.nc"),
        "missing variant": (["--fit", str(fitted_run), "--variant", str(tmp_path / "v.nc"), "--scenarios",
                             str(scenarios)], "v.nc"),
    }
    for name, (args, names) in cases.items():
        res = report([*args, "--out", str(out), "--allow-unconverged", *FAST])
        assert res.exit_code == 2, (name, res.output)
        assert names in res.output and "Traceback" not in res.output, (name, res.output)
        assert not out.parent.exists() or not any(out.parent.iterdir()), name


def test_unconverged_fit_is_refused_like_forecast(fitted_run, scenarios, tmp_path):
    """Without --allow-unconverged the report refuses the failed fit with forecast's exit code and message."""
    res = report(["--fit", str(fitted_run), "--scenarios", str(scenarios), "--out", str(tmp_path / "r.html")])
    ref = CliRunner().invoke(main, ["forecast", "--fit", str(fitted_run), "--scenarios", str(scenarios),
                                    "--out", str(tmp_path / "forecast")])
    assert res.exit_code == ref.exit_code != 0 and res.output == ref.output
    assert "--allow-unconverged" in res.output
    assert list(tmp_path.iterdir()) == []


def test_table_cells_are_escaped():
    html = table_html(["<b>h</b>"], [["a & <i>b</i>"]], caption='"c"')
    assert "<b>" not in html and "<i>" not in html
    assert "&lt;b&gt;h&lt;/b&gt;" in html and "a &amp; &lt;i&gt;b&lt;/i&gt;" in html and "&quot;c&quot;" in html
