"""A real browser: headless Chromium (Debian's) loads every page of a served dashboard.

Screenshots go to $FUNNEL_SCREENSHOTS (default data/screenshots/dashboard) for people to look at.
Skips where no Chromium is installed (saying how to install it); fails instead under CI=true.
"""

from __future__ import annotations

import os
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from dashboards import launch
from tests.dashboard.conftest import CHROMIUM_ARGS, ROOT, free_port, require_chromium

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(os.environ.get("FUNNEL_SCREENSHOTS", ROOT / "data" / "screenshots" / "dashboard"))

# page url -> texts the rendered page must hold (KPI values from the fixture = conformance figures)
PAGES = {
    "": ["Overview", "Checkout conversion", "First-order conversion", "Data as of 2026-04-03 10:00 UTC",
         "complete cohort", "off track"],
    "funnel": ["Funnel", "Conversion by cohort", "Time to convert", "Converted checkouts", "Incomplete cohorts"],
    "dropoff": ["Drop-off", "Stopped after this step", "payment_failed error codes"],
    "intervention": ["Manual intervention", "Latest intervened orders", "Intervention reasons (Pareto)"],
    "health": ["Data health", "Rejected rows by reason", "Checks failing", "1 of 2"],
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


@pytest.fixture(scope="module")
def served(published):
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
def browser():
    chromium = require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


def open_page(browser, url: str):
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    page.set_default_timeout(30_000)
    page.goto(url)
    page.wait_for_selector('[data-testid="stApp"]')
    return page


def wait_for_texts(page, texts: list[str]) -> str:
    for text in texts:
        page.get_by_text(text, exact=False).first.wait_for(state="attached")
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
                           " || !document.querySelector('[data-testid=\"stStatusWidget\"]').innerText.includes('Running')")
    page.wait_for_timeout(500)  # let Plotly draw
    return page.inner_text("body")


@pytest.mark.parametrize("path", list(PAGES))
def test_page_in_browser(served, browser, path):
    page = open_page(browser, f"{served}/{path}")
    try:
        body = wait_for_texts(page, PAGES[path])
        for text in PAGES[path]:
            assert text in body, text
        assert page.locator('[data-testid="stException"]').count() == 0, "the page raised an exception"
        assert "Traceback" not in body
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{path or 'overview'}.png"), full_page=True)
    finally:
        page.close()


def test_overview_monthly_values_in_browser(served, browser):
    page = open_page(browser, served)
    try:
        wait_for_texts(page, ["Checkout conversion"])
        page.get_by_text("Monthly", exact=True).click()
        body = wait_for_texts(page, ["March 2026 · closed period", "90.0%"])
        for value in ("90.0%", "9.1%", "February 2026 · complete cohort", "on track", "off track"):
            assert value in body, value
        page.screenshot(path=str(SCREENSHOTS / "overview-monthly.png"), full_page=True)
    finally:
        page.close()
