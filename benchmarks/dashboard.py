"""The dashboard's pages, timed on a published copy (`make bench`'s dashboard figures; docs/performance.md).

    python -m benchmarks.dashboard PUBLISHED [--reps 20] [--browser-rounds 3]

- server side: each page's whole script run (every query, the Python around it, the Plotly figures)
  under Streamlit's AppTest, with the data caches cleared before each run (a cold read of the
  published copy), `--reps` times: p50/p95/max per page, of the part of it spent in the queries
  of dashboards/data.py (connection, SQL, DataFrame), and of the process's CPU time during the run
  (all threads; on a shared, busy machine the wall time waits for the cores, the CPU time less so). The pages open as a new user opens them
  (default filters), so the Funnel page's conversion-window queries and the Drop-off page's list of
  who dropped off are in their runs; the Funnel page is also timed with a 1-day window.
- the new views' queries on their own (window, time between steps, who dropped off and its full CSV).
- browser: each page drawn in headless Chromium (tests/dashboard/bench_render.py: in-app navigation
  cold and warm, and a full page load), `--browser-rounds` rounds; 0 skips it.

Target: every page's server-side p95 <= TARGET_MS. Prints JSON (the last line) for benchmarks/run.py.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

from benchmarks.process import json_tail, loadavg, measure, strip_stdout

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "dashboards" / "app.py"
PAGES = ["app_pages/overview.py", "app_pages/funnel.py", "app_pages/dropoff.py", "app_pages/intervention.py",
         "app_pages/health.py", "app_pages/sql.py"]
TARGET_MS = 300


def _summary(seconds: list[float]) -> dict:
    ms = sorted(1000 * s for s in seconds)
    p95 = statistics.quantiles(ms, n=20, method="inclusive")[18] if len(ms) > 1 else ms[0]
    return {"p50_ms": statistics.median(ms), "p95_ms": p95, "max_ms": ms[-1], "runs": len(ms)}


def _quiet_streamlit() -> None:
    warnings.filterwarnings("ignore")
    for name in ["streamlit", *logging.root.manager.loggerDict]:
        if name.startswith("streamlit"):
            logging.getLogger(name).setLevel(logging.ERROR)


class _QueryClock:
    """Seconds spent in dashboards.data's queries (connection, SQL, DataFrame) since the last reset."""

    def __init__(self, data_module):
        self.seconds = 0.0
        self._query = data_module.query
        data_module.query = self._timed

    def _timed(self, *args, **kwargs):
        t0 = time.perf_counter()
        try:
            return self._query(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - t0


def page_runs(reps: int) -> dict[str, dict]:
    """Each page's script run under AppTest, caches cleared before each: {page: summary of the whole
    run, and `queries`: summary of the time its queries took}."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from dashboards import data

    clock = _QueryClock(data)
    runs: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}  # CPU seconds of the process (all threads): what the run costs without contention
    in_queries: dict[str, list[float]] = {}

    def timed(name: str, run) -> None:
        st.cache_data.clear()
        clock.seconds = 0.0
        t0, cpu0 = time.perf_counter(), time.process_time()
        at = run()
        runs.setdefault(name, []).append(time.perf_counter() - t0)
        cpu.setdefault(name, []).append(time.process_time() - cpu0)
        in_queries.setdefault(name, []).append(clock.seconds)
        if at.exception:
            raise RuntimeError(f"{name}: {[e.message for e in at.exception]}")

    at = AppTest.from_file(str(APP), default_timeout=120).run()  # imports and the session, not timed
    for _ in range(reps):
        for page in PAGES:
            at.switch_page(page)
            timed(page.removeprefix("app_pages/").removesuffix(".py"), at.run)
        # the Funnel page again with a 1-day window: the shorter window computed from the step times
        at.switch_page("app_pages/funnel.py").run()
        timed("funnel, 1-day window", at.selectbox(key="funnel_window").set_value(24).run)
    return {page: {**_summary(t), "cpu": _summary(cpu[page]), "queries": _summary(in_queries[page])}
            for page, t in runs.items()}


def query_runs(reps: int) -> dict[str, dict]:
    """The new views' queries (dashboards.data), cold, on the pages' default four weeks."""
    import streamlit as st

    from dashboards import data

    bounds = data.dimension_values()["cohort_dates"]
    end = bounds[1] if bounds else dt.date.today()
    f = data.Filters(start=end - dt.timedelta(days=27), end=end)
    built = data.status().conversion_window_days * 24
    queries = {
        "funnel_totals_within(1 day)": lambda: data.funnel_totals_within(f, 24),
        "funnel_totals_within(built)": lambda: data.funnel_totals_within(f, built),
        "funnel_by_period_within(week, 1 day)": lambda: data.funnel_by_period_within(f, "week", 24),
        "time_between_steps(week, all)": lambda: data.time_between_steps(f, "week", None, built),
        "time_between_steps(week, device, 1 day)": lambda: data.time_between_steps(f, "week", "device", 24),
        "dropped_off(step 4, shown rows)": lambda: data.dropped_off(f, 4),
        "dropped_off_csv(step 4, every row)": lambda: data.dropped_off_csv(f, 4),
    }
    times: dict[str, list[float]] = {name: [] for name in queries}
    for _ in range(reps):
        for name, call in queries.items():
            st.cache_data.clear()
            t0 = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - t0)
    rows = {"dropped_off(step 4) rows": data.dropped_off(f, 4)[0]}
    return {**{name: _summary(t) for name, t in times.items()}, **rows}


def browser_draws(published: Path, rounds: int) -> dict[str, dict[str, float]]:
    from tests.dashboard.bench_render import time_pages

    return time_pages(published, rounds)


def measure_pages(published: Path, reps: int, browser_rounds: int) -> dict:
    os.environ["FUNNEL_PUBLISHED"] = str(published.resolve())
    _quiet_streamlit()
    import duckdb

    with duckdb.connect(str(published), read_only=True) as con:
        size = {t: con.execute(f"SELECT count(*) FROM marts.{t}").fetchall()[0][0] for t in ("fct_checkouts", "fct_orders")}
    started = time.perf_counter()
    load_before = loadavg()
    result = {"published": str(published), "rows": size, "reps": reps, "target_ms": TARGET_MS,
              "server_side": page_runs(reps), "queries": query_runs(reps)}
    result["target_met"] = all(p["p95_ms"] <= TARGET_MS for p in result["server_side"].values())
    result["loadavg"] = {"before": load_before, "after_server_side": loadavg()}
    if browser_rounds:
        result["browser_seconds"] = browser_draws(published, browser_rounds)
    result["seconds"] = time.perf_counter() - started
    return result


def run_measured(published: Path, log: Path, reps: int, browser_rounds: int) -> dict:
    """benchmarks/run.py's hook: this module in its own process, its process tree measured."""
    result = measure([sys.executable, "-m", "benchmarks.dashboard", str(published), "--reps", str(reps),
                      "--browser-rounds", str(browser_rounds)], cwd=ROOT, log=log)
    return {**strip_stdout(result), **json_tail(result["stdout"])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.dashboard", description=__doc__.splitlines()[0])
    parser.add_argument("published", type=Path)
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--browser-rounds", type=int, default=3)
    args = parser.parse_args(argv)
    if not args.published.exists():
        parser.error(f"no published copy at {args.published}")
    result = measure_pages(args.published, args.reps, args.browser_rounds)
    for page, s in result["server_side"].items():
        print(f"{page:24s} server side: p50 {s['p50_ms']:.0f} ms, p95 {s['p95_ms']:.0f} ms, max {s['max_ms']:.0f} ms; "
              f"its queries p50 {s['queries']['p50_ms']:.0f} ms, p95 {s['queries']['p95_ms']:.0f} ms; "
              f"CPU p50 {s['cpu']['p50_ms']:.0f} ms, p95 {s['cpu']['p95_ms']:.0f} ms")
    for page, b in result.get("browser_seconds", {}).items():
        print(f"{page:24s} browser: navigate cold {b['cold']:.2f} s, warm {b['warm_median']:.2f} s; "
              f"full page load (warm) {b['full_load_warm']:.2f} s")
    sys.stdout.flush()
    print("\n" + json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
