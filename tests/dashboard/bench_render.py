"""Page render timings on a warehouse the size of 10 million events (not collected by pytest).

    .venv/bin/python -m tests.dashboard.bench_render [--events 10000000] [--out data/bench/dashboard.duckdb] [--reuse]

Builds the warehouse the way production does (`benchmarks.checks.build_warehouse`: `funnel generate`
data, Parquet over 90 days, loaded by the real pipeline, `pipelines.run.run_pipeline`; the generated
landing directory is kept beside it and reused), serves the dashboard on its published copy and times
each page in headless Chromium from navigation until the page's content is rendered and the script
has finished: cold (empty caches, first visit after the server starts) and warm (cached). --reuse
times an existing published copy without building.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import time
from pathlib import Path

import duckdb

from benchmarks.checks import build_warehouse
from dashboards import launch
from pipelines.core.settings import published_path
from tests.dashboard.conftest import CHROMIUM_ARGS, ROOT, free_port, require_chromium
from tests.dashboard.test_browser import wait_healthy

PAGES = {  # url path: (navigation title, text that marks the page as rendered)
    "": ("Overview", "Trends"), "funnel": ("Funnel", "Time to convert"),
    "dropoff": ("Drop-off", "Stopped after this step"), "intervention": ("Manual intervention", "Latest intervened orders"),
    "health": ("Data health", "Rejected rows by reason"), "sql": ("SQL", "Example queries"),
}
IDLE = ("() => { const s = document.querySelector('[data-testid=\"stStatusWidget\"]');"
        " return !s || !s.innerText.includes('Running'); }")


def _wait(page, marker: str) -> None:
    page.get_by_text(marker, exact=False).first.wait_for(state="attached")
    page.wait_for_function(IDLE)
    page.wait_for_selector(".js-plotly-plot .main-svg", state="attached") if page.locator(".js-plotly-plot").count() else None


def time_pages(published: Path, rounds: int = 3) -> dict[str, dict[str, float]]:
    from playwright.sync_api import sync_playwright

    port = free_port()
    proc = launch.start(published, port, "127.0.0.1", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    results: dict[str, dict[str, float]] = {}
    try:
        wait_healthy(url, proc)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(require_chromium()), args=CHROMIUM_ARGS, headless=True)
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            page.set_default_timeout(60_000)
            # warm the server process itself (imports) on a page that reads nothing heavy
            page.goto(f"{url}/sql")
            page.get_by_text("Example queries").first.wait_for()
            times: dict[str, list[float]] = {p: [] for p in PAGES}
            loads: dict[str, list[float]] = {p: [] for p in PAGES}
            for _ in range(rounds + 1):  # round 0 = cold caches
                for path, (title, marker) in PAGES.items():
                    # in-app navigation (what a user does): click the page in the sidebar
                    t0 = time.perf_counter()
                    page.locator('[data-testid="stSidebarNav"]').get_by_text(title, exact=True).click()
                    _wait(page, marker)
                    times[path].append(time.perf_counter() - t0)
                    # full page load (a fresh tab on the URL): includes the app's JS and websocket set-up
                    t0 = time.perf_counter()
                    page.goto(f"{url}/{path}")
                    _wait(page, marker)
                    loads[path].append(time.perf_counter() - t0)
            for path in PAGES:
                results[path or "overview"] = {"cold": times[path][0], "warm_median": statistics.median(times[path][1:]),
                                               "full_load_warm": statistics.median(loads[path][1:])}
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "bench" / "dashboard.duckdb",
                        help="the warehouse (its published copy is timed)")
    parser.add_argument("--reuse", action="store_true")
    args = parser.parse_args()
    published = published_path(args.out)
    if not (args.reuse and published.exists()):
        args.out.parent.mkdir(parents=True, exist_ok=True)
        t = time.perf_counter()
        build_warehouse(args.out, args.events)
        print(f"built {published} in {time.perf_counter() - t:.1f} s")
    con = duckdb.connect(str(published), read_only=True)
    for t in ("fct_checkouts", "fct_orders", "dash_funnel_daily", "dash_dropoffs", "dash_payment_failures",
              "dash_interventions", "kpi_daily"):
        print(f"  marts.{t}: {con.execute(f'SELECT count(*) FROM marts.{t}').fetchone()[0]:,} rows")
    con.close()
    for page, t in time_pages(published).items():
        print(f"{page:14s} navigate: cold {t['cold']:.2f} s, warm {t['warm_median']:.2f} s;"
              f" full page load (warm) {t['full_load_warm']:.2f} s")


if __name__ == "__main__":
    main()
