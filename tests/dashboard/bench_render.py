"""Page render timings on a warehouse the size of 10 million events (not collected by pytest).

    .venv/bin/python -m tests.dashboard.bench_render [--checkouts 2500000] [--out data/bench/...]

Builds a synthetic published copy at that scale (fct_checkouts ~2.5M rows, i.e. ~10M checkout events
at ~4 events per checkout; fct_orders; payment_failed events), with the dashboard marts built by the
project's own dbt model SQL, serves the dashboard and times each page in headless Chromium from
navigation until the page's content is rendered and the script has finished: cold (empty caches,
first visit after the server starts) and warm (cached).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import time
from pathlib import Path

import duckdb

from dashboards import launch
from tests.dashboard.conftest import CHROMIUM_ARGS, ROOT, free_port, require_chromium
from tests.dashboard.test_browser import wait_healthy
from tests.dashboard.warehouse_fixture import _audit, build_dashboard_marts

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


def build(path: Path, checkouts: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    con = duckdb.connect(str(path))
    con.execute("SET threads = 2")
    con.execute("CREATE SCHEMA marts; CREATE SCHEMA audit; CREATE SCHEMA meta; CREATE SCHEMA staging")
    con.execute(f"""
        CREATE TABLE marts.fct_checkouts AS
        WITH base AS (
            SELECT i, TIMESTAMP '2025-01-01' + to_seconds(CAST(hash(i) % (365 * 86400) AS BIGINT)) AS started_at,
                   (hash(i * 7) % 1000) / 1000.0 AS u
            FROM range({checkouts}) t(i))
        SELECT 'k' || i AS checkout_id, 'c' || (i % {checkouts // 2}) AS customer_id, started_at,
               hash(i * 3) % 10 < 8 AS is_new_customer,
               ['free', 'premium', 'ultimate'][CAST(1 + hash(i * 5) % 3 AS BIGINT)] AS plan,
               ['saas', 'self_managed'][CAST(1 + hash(i * 11) % 2 AS BIGINT)] AS deployment,
               ['US', 'DE', 'FR', 'GB', 'IN', 'BR', 'JP', 'CA', 'AU', 'NL', 'ES', 'IT'][CAST(1 + hash(i * 13) % 12 AS BIGINT)] AS country,
               ['desktop', 'mobile', 'tablet'][CAST(1 + hash(i * 17) % 3 AS BIGINT)] AS device,
               CAST(1 + hash(i * 19) % 50 AS INTEGER) AS seats,
               CAST(CASE WHEN u < 0.25 THEN 1 WHEN u < 0.40 THEN 2 WHEN u < 0.52 THEN 3 WHEN u < 0.62 THEN 4
                         WHEN u < 0.66 THEN 5 ELSE 6 END AS INTEGER) AS reached_step,
               u >= 0.66 AS converted,
               CASE WHEN u >= 0.66 THEN 'o' || i END AS order_id,
               CASE WHEN u >= 0.66 THEN (hash(i * 23) % 72000) / 100.0 END AS hours_to_convert
        FROM base""")
    con.execute("""
        CREATE TABLE marts.fct_orders AS
        SELECT order_id, customer_id, checkout_id, started_at + to_seconds(CAST(hours_to_convert * 3600 AS BIGINT)) AS created_at,
               'web_direct' AS channel, 'new_subscription' AS order_type, 'completed' AS status, plan, deployment, seats,
               CAST(seats * 29 AS DECIMAL(38, 6)) AS amount, 'USD' AS currency, true AS is_placed, true AS is_self_service,
               is_new_customer AS is_first_order, hash(checkout_id) % 100 < 6 AS manual_intervention,
               CASE WHEN hash(checkout_id) % 100 < 6 THEN ['tax_exemption', 'quote_required', 'fraud_review', 'po_number'][CAST(1 + hash(order_id) % 4 AS BIGINT)] END AS intervention_reason
        FROM marts.fct_checkouts WHERE converted""")
    con.execute("""
        CREATE TABLE staging.stg_checkout_events AS
        SELECT 'pf' || checkout_id AS event_id, 'payment_failed' AS event_name, started_at + INTERVAL 5 MINUTE AS event_time,
               checkout_id, customer_id, plan, deployment, seats, country, device,
               ['card_declined', 'insufficient_funds', 'expired_card', '3ds_failed'][CAST(1 + hash(checkout_id) % 4 AS BIGINT)] AS error_code
        FROM marts.fct_checkouts WHERE reached_step >= 3 AND hash(checkout_id || 'p') % 10 < 3""")
    build_dashboard_marts(con, {"fct_checkouts": "marts.fct_checkouts", "fct_orders": "marts.fct_orders",
                                "stg_checkout_events": "staging.stg_checkout_events"})
    for grain, name in (("day", "kpi_daily"), ("week", "kpi_weekly"), ("month", "kpi_monthly")):
        con.execute(f"""
            CREATE TABLE marts.{name} AS
            WITH c AS (SELECT CAST(date_trunc('{grain}', started_at) AS DATE) AS period_start, count(*) AS checkouts_started,
                              count(*) FILTER (converted) AS checkouts_converted,
                              count(*) FILTER (is_new_customer) AS new_customer_checkouts_started,
                              count(*) FILTER (is_new_customer AND converted) AS new_customer_checkouts_converted,
                              median(hours_to_convert) AS median_hours_to_convert
                       FROM marts.fct_checkouts GROUP BY 1),
                 o AS (SELECT CAST(date_trunc('{grain}', created_at) AS DATE) AS period_start,
                              count(*) FILTER (is_first_order) AS first_orders,
                              count(*) FILTER (is_first_order AND is_self_service) AS self_service_first_orders,
                              count(*) AS self_service_orders, count(*) FILTER (manual_intervention) AS manual_intervention_orders,
                              count(*) FILTER (is_first_order AND manual_intervention) AS self_service_first_orders_with_intervention
                       FROM marts.fct_orders GROUP BY 1)
            SELECT period_start, coalesce(checkouts_started, 0) AS checkouts_started, coalesce(checkouts_converted, 0) AS checkouts_converted,
                   checkouts_converted / checkouts_started AS checkout_conversion_rate,
                   coalesce(new_customer_checkouts_started, 0) AS new_customer_checkouts_started,
                   coalesce(new_customer_checkouts_converted, 0) AS new_customer_checkouts_converted,
                   new_customer_checkouts_converted / new_customer_checkouts_started AS first_order_conversion_rate,
                   coalesce(first_orders, 0) AS first_orders, coalesce(self_service_first_orders, 0) AS self_service_first_orders,
                   self_service_first_orders / first_orders AS self_service_first_order_share,
                   coalesce(self_service_orders, 0) AS self_service_orders, coalesce(manual_intervention_orders, 0) AS manual_intervention_orders,
                   manual_intervention_orders / self_service_orders AS manual_intervention_rate,
                   coalesce(self_service_first_orders_with_intervention, 0) AS self_service_first_orders_with_intervention,
                   self_service_first_orders_with_intervention / self_service_first_orders AS first_order_manual_intervention_rate,
                   median_hours_to_convert,
                   CAST(period_start + INTERVAL 1 {grain} AS DATE) AS period_end,
                   period_start + INTERVAL 1 {grain} <= TIMESTAMP '2026-01-01 06:00:00' AS period_closed,
                   period_start + INTERVAL 1 {grain} + INTERVAL 30 DAY <= TIMESTAMP '2026-01-01 06:00:00' AS cohort_complete
            FROM c FULL JOIN o USING (period_start) ORDER BY 1""")
    con.execute("CREATE TABLE marts.warehouse_as_of AS SELECT TIMESTAMP '2026-01-01 06:00:00' AS as_of, 30 AS conversion_window_days")
    con.execute(f"CREATE TABLE marts.kpi_targets AS SELECT * FROM read_csv('{ROOT / 'dbt_project' / 'seeds' / 'kpi_targets.csv'}')"
                if (ROOT / "dbt_project" / "seeds" / "kpi_targets.csv").exists() else
                "CREATE TABLE marts.kpi_targets (kpi_name VARCHAR, grain VARCHAR, target DOUBLE)")
    _audit(con, True)
    con.execute("""CREATE TABLE meta.column_descriptions AS SELECT table_schema, table_name, column_name, NULL AS description
                   FROM information_schema.columns WHERE table_schema IN ('marts', 'audit')""")
    con.execute("DROP SCHEMA staging CASCADE")
    con.execute("CHECKPOINT")
    con.close()
    return path


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
    parser.add_argument("--checkouts", type=int, default=2_500_000)
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "bench" / "dashboard.published.duckdb")
    parser.add_argument("--reuse", action="store_true")
    args = parser.parse_args()
    if not (args.reuse and args.out.exists()):
        t = time.perf_counter()
        build(args.out, args.checkouts)
        print(f"built {args.out} in {time.perf_counter() - t:.1f} s")
    con = duckdb.connect(str(args.out), read_only=True)
    for t in ("fct_checkouts", "fct_orders", "dash_funnel_daily", "dash_dropoffs", "dash_payment_failures",
              "dash_interventions", "kpi_daily"):
        print(f"  marts.{t}: {con.execute(f'SELECT count(*) FROM marts.{t}').fetchone()[0]:,} rows")
    con.close()
    for page, t in time_pages(args.out).items():
        print(f"{page:14s} navigate: cold {t['cold']:.2f} s, warm {t['warm_median']:.2f} s;"
              f" full page load (warm) {t['full_load_warm']:.2f} s")


if __name__ == "__main__":
    main()
