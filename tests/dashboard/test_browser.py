"""A real browser: headless Chromium (Debian's) loads every page of a served dashboard.

Screenshots go to $FUNNEL_SCREENSHOTS (default data/screenshots/dashboard) for people to look at, every
page at a desktop's 1440x1000 and a phone's 390x844 (`<page>.png`, `<page>-phone.png`); docs/img/ keeps
the ones taken with FUNNEL_SCREENSHOTS=docs/img.
Skips where no Chromium is installed (saying how to install it); fails instead under CI=true.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from dashboards import launch
from tests.dashboard.conftest import CHROMIUM_ARGS, ROOT, free_port, march_on_track, require_chromium

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(os.environ.get("FUNNEL_SCREENSHOTS", ROOT / "data" / "screenshots" / "dashboard"))

# page url -> texts the rendered page must hold (KPI values of the kit published by the pipeline =
# conformance figures)
PAGES = {
    "": ["Overview", "Checkout conversion", "First-order conversion", "Data as of 2026-04-03 10:00 UTC",
         "complete cohort", "off track", "Link to this view"],
    "funnel": ["Funnel", "Conversion by cohort", "Time to convert", "Converted checkouts"],
    "dropoff": ["Drop-off", "Stopped after this step", "payment_failed error codes"],
    "intervention": ["Manual intervention", "Latest intervened orders", "Intervention reasons (Pareto)"],
    "health": ["Data health", "Rejected rows by reason", "Checks failing"],
    "sql": ["SQL", "Schema", "Example queries", "Row limit"],
}


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 45) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"no dashboard at {url} after {timeout} s")


@contextlib.contextmanager
def serve(published: Path) -> Iterator[str]:
    """The dashboard served on 127.0.0.1 for `published`; its URL."""
    port = free_port()
    proc = launch.start(published, port, "127.0.0.1", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def served(published):
    with serve(published) as url:
        yield url


@pytest.fixture(scope="module")
def served_pipeline(pipeline_published):
    """`served_pipeline(kind)`: the dashboard on a warehouse built by the real pipeline (one server per
    kind, started on first use; see pipeline_warehouses.py)."""
    with contextlib.ExitStack() as stack:
        urls: dict[str, str] = {}

        def get(kind: str) -> str:
            if kind not in urls:
                urls[kind] = stack.enter_context(serve(pipeline_published(kind)))
            return urls[kind]

        yield get


@pytest.fixture(scope="module")
def browser():
    chromium = require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


VIEWPORTS = {"": (1440, 1000), "-phone": (390, 844)}  # screenshot suffix: (width, height)
# An annotation inside the kit's weeks: drawn, with its label, on every trend chart.
ANNOTATION = ("2026-03-02", "pricing page v2", "the new pricing page went live")


def open_page(browser, url: str, viewport: tuple[int, int] = VIEWPORTS[""]):
    page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
    page.set_default_timeout(30_000)
    page.goto(url)
    page.wait_for_selector('[data-testid="stApp"]')
    return page


def wait_for_texts(page, texts: list[str]) -> str:
    # Case-sensitive, on the page's text as the assertions read it: a locator's text match ignores
    # case, so "Checks failing" was met by an earlier caption's "checks failing" before the metric drew.
    for text in texts:
        page.wait_for_function("text => document.body.innerText.includes(text)", arg=text)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
                           " || !document.querySelector('[data-testid=\"stStatusWidget\"]').innerText.includes('Running')")
    page.wait_for_timeout(500)  # let Plotly draw
    return page.inner_text("body")


def show_whole_page(page) -> None:
    """Streamlit scrolls inside its main section, so a full-page screenshot holds one viewport: grow
    the viewport to the content's height (same width) first."""
    height = page.evaluate("""() => Math.max(document.body.scrollHeight, ...Array.from(
        document.querySelectorAll('[data-testid="stMain"], [data-testid="stAppScrollToBottomContainer"]'),
        e => e.scrollHeight))""")
    page.set_viewport_size({"width": page.viewport_size["width"], "height": min(int(height) + 40, 16000)})
    page.wait_for_timeout(800)  # Plotly redraws at the new size


def drawn_texts(page) -> list[str]:
    """The texts Plotly drew in its SVGs (titles, labels, annotations)."""
    return page.locator(".js-plotly-plot svg text").all_text_contents()


def check_page(browser, url: str, texts: list[str], screenshot: str,
               viewport: tuple[int, int] = VIEWPORTS[""]) -> str:
    """Open `url`, wait for every text, check no exception was shown, save a screenshot; the page's text."""
    page = open_page(browser, url, viewport)
    try:
        body = wait_for_texts(page, texts)
        for text in texts:
            assert text in body, text
        assert page.locator('[data-testid="stException"]').count() == 0, "the page raised an exception"
        assert "Traceback" not in body
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        show_whole_page(page)
        page.screenshot(path=str(SCREENSHOTS / screenshot), full_page=True)
        return body + "\n" + "\n".join(drawn_texts(page))
    finally:
        page.close()


def checks_failing(published: Path) -> str:
    """The Data health page's "Checks failing" figure, from the published file's check results."""
    with duckdb.connect(str(published), read_only=True) as con:
        failing, total = con.execute("SELECT count(*) FILTER (NOT passed), count(*) FROM audit.check_results").fetchall()[0]
    return f"{failing:,} of {total:,}"


@pytest.fixture(scope="module")
def served_annotated(published, tmp_path_factory):
    """The dashboard on a copy of the kit with one annotation (the seed is empty in the kit's build)."""
    copy = tmp_path_factory.mktemp("annotated") / "annotated.published.duckdb"
    shutil.copyfile(published, copy)
    with duckdb.connect(str(copy)) as con:
        con.execute("INSERT INTO marts.annotations VALUES (CAST(? AS DATE), ?, ?)", list(ANNOTATION))
    with serve(copy) as url:
        yield url


@pytest.mark.parametrize("suffix", list(VIEWPORTS))
@pytest.mark.parametrize("path", list(PAGES))
def test_page_in_browser(served_annotated, published, browser, path, suffix):
    texts = PAGES[path] + ([checks_failing(published)] if path == "health" else [])
    body = check_page(browser, f"{served_annotated}/{path}", texts, f"{path or 'overview'}{suffix}.png",
                      VIEWPORTS[suffix])
    if path in ("", "intervention"):
        assert ANNOTATION[1] in body  # the label drawn on the trend charts


def test_a_link_opens_the_same_view(served, browser):
    page = open_page(browser, f"{served}/funnel?dates=2026-02-01,2026-03-31&device=mobile&cohort=month")
    try:
        wait_for_texts(page, ["Conversion by cohort"])
        # the funnel drawn for the link's dates
        page.locator(".js-plotly-plot svg text", has_text="cohorts 2026-02-01 to 2026-03-31").first.wait_for()
        assert "mobile" in page.locator('[data-testid="stMultiSelect"]').nth(3).inner_text()
        assert page.get_by_role("radio", name="month").is_checked()
        # the page keeps its view in the address bar
        assert "device=mobile" in page.url and "dates=2026-02-01%2C2026-03-31" in page.url.replace(",", "%2C")
    finally:
        page.close()


def test_overview_monthly_values_in_browser(served, published, browser):
    page = open_page(browser, served)
    try:
        wait_for_texts(page, ["Checkout conversion"])
        page.get_by_text("Monthly", exact=True).click()
        body = wait_for_texts(page, ["March 2026 · closed period", "90.0%"])
        tracks = ["on track" if on else "off track" for on in march_on_track(published).values()]
        for value in ("90.0%", "9.1%", "February 2026 · complete cohort", *tracks):
            assert value in body, value
        page.screenshot(path=str(SCREENSHOTS / "overview-monthly.png"), full_page=True)
    finally:
        page.close()


@pytest.mark.parametrize("kind", ["empty", "rejected_only"])
@pytest.mark.parametrize("path", list(PAGES))
def test_page_in_browser_with_no_data(served_pipeline, browser, kind, path):
    """Every page on a warehouse with nothing loaded: no file yet, or only files rejected whole."""
    texts = ["No data yet", "landing directory", "funnel run", "No data loaded yet"]
    if kind == "rejected_only":
        texts += ["2 files have landed, but no row was loaded (2 rejected)"]
        texts += ["Files that need attention", "broken.parquet"] if path == "health" else ["Data health"]
    check_page(browser, f"{served_pipeline(kind)}/{path}", texts, f"no-data-{kind}-{path or 'overview'}.png")


def test_health_files_needing_attention_in_browser(served_pipeline, browser):
    body = check_page(browser, f"{served_pipeline('attention')}/health",
                      ["Files that need attention", "changed after load", "orders/notes.json", "events-7-empty.jsonl",
                       "file is empty (0 bytes)", "Checks failing"], "health-attention.png")
    assert body.index("Files that need attention") < body.index("Checks failing")  # first on the page
    for text in ("ignored", "rejected", "not a contract file", "file changed after it was loaded"):
        assert text in body, text
