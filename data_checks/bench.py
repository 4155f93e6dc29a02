"""Measure the data checks at scale: `python -m data_checks.bench [--events 10000000] [--keep FILE]`.

Builds a warehouse with DuckDB SQL only (range(), no Python loop over rows): N raw checkout events
(5 per checkout), one self-service order for every fourth checkout plus sales-assisted orders, a
load ledger of 100k-row files, fct tables and KPI marts derived from them, then times
`run_all_checks` on it (GX Data Docs included unless --no-docs). Also home of `derive_marts`, the
plain-SQL mini-model the tests use to build consistent KPI tables from fct rows.

`--ops` times instead what a pipeline run pays: each Dagster check op's checks (`pipelines.checks.
CHECK_GROUPS`) on a fresh connection, over whole tables and scoped to the newest load in the ledger (as
if this run had just loaded it), nothing written. On a warehouse built by `funnel run`:
`python -m data_checks.bench --keep WAREHOUSE --ops` (a copy: --keep opens it read-write).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import duckdb

GRAIN_STEPS = {"daily": ("day", "1 DAY"), "weekly": ("week", "7 DAY"), "monthly": ("month", "1 MONTH")}


def _kpi_sql(grain: str, window_days: int = 30) -> str:
    trunc, step = GRAIN_STEPS[grain]
    return f"""
    CREATE OR REPLACE TABLE marts.kpi_{grain} AS
    WITH c AS (
        SELECT date_trunc('{trunc}', started_at)::DATE AS p, count(*) AS cs,
               count(*) FILTER (WHERE converted) AS cc,
               count(*) FILTER (WHERE is_new_customer) AS ncs,
               count(*) FILTER (WHERE is_new_customer AND converted) AS ncc,
               median(hours_to_convert) AS mh
          FROM marts.fct_checkouts GROUP BY 1),
    o AS (
        SELECT date_trunc('{trunc}', created_at)::DATE AS p,
               count(*) FILTER (WHERE is_first_order) AS fo,
               count(*) FILTER (WHERE is_first_order AND is_self_service) AS ssfo,
               count(*) FILTER (WHERE is_self_service) AS sso,
               count(*) FILTER (WHERE is_self_service AND manual_intervention) AS mio,
               count(*) FILTER (WHERE is_first_order AND is_self_service AND manual_intervention) AS ssfoi
          FROM marts.fct_orders WHERE is_placed GROUP BY 1),
    bounds AS (SELECT min(p) AS lo, max(p) AS hi FROM (SELECT p FROM c UNION ALL SELECT p FROM o)),
    periods AS (SELECT unnest(generate_series(lo, hi, INTERVAL {step}))::DATE AS period_start FROM bounds)
    SELECT period_start,
           coalesce(cs, 0) AS checkouts_started, coalesce(cc, 0) AS checkouts_converted,
           CASE WHEN coalesce(cs, 0) > 0 THEN cc / cs END AS checkout_conversion_rate,
           coalesce(ncs, 0) AS new_customer_checkouts_started, coalesce(ncc, 0) AS new_customer_checkouts_converted,
           CASE WHEN coalesce(ncs, 0) > 0 THEN ncc / ncs END AS first_order_conversion_rate,
           coalesce(fo, 0) AS first_orders, coalesce(ssfo, 0) AS self_service_first_orders,
           CASE WHEN coalesce(fo, 0) > 0 THEN ssfo / fo END AS self_service_first_order_share,
           coalesce(sso, 0) AS self_service_orders, coalesce(mio, 0) AS manual_intervention_orders,
           CASE WHEN coalesce(sso, 0) > 0 THEN mio / sso END AS manual_intervention_rate,
           coalesce(ssfoi, 0) AS self_service_first_orders_with_intervention,
           CASE WHEN coalesce(ssfo, 0) > 0 THEN ssfoi / ssfo END AS first_order_manual_intervention_rate,
           mh AS median_hours_to_convert,
           (period_start + INTERVAL {step}) <= (SELECT as_of FROM marts.warehouse_as_of) AS period_closed,
           (period_start + INTERVAL {step} + INTERVAL {window_days} DAY) <= (SELECT as_of FROM marts.warehouse_as_of)
               AS cohort_complete
      FROM periods LEFT JOIN c ON c.p = period_start LEFT JOIN o ON o.p = period_start
     ORDER BY period_start
    """


FUNNEL_SQL = """
CREATE OR REPLACE TABLE marts.funnel_steps AS
WITH steps(step_number, step_name) AS (VALUES (1, 'checkout_started'), (2, 'subscription_details_completed'),
     (3, 'billing_address_completed'), (4, 'payment_method_completed'), (5, 'order_submitted'), (6, 'order_placed')),
grains(grain) AS (VALUES ('day'), ('week'), ('month')),
reached AS (
    SELECT g.grain, date_trunc(g.grain, f.started_at)::DATE AS period_start, f.reached_step,
           count(*) AS n, count(*) FILTER (WHERE f.is_new_customer) AS n_new
      FROM marts.fct_checkouts f CROSS JOIN grains g GROUP BY ALL)
SELECT r.grain, r.period_start, s.step_number, s.step_name,
       sum(CASE WHEN r.reached_step >= s.step_number THEN r.n ELSE 0 END)::BIGINT AS checkouts,
       sum(CASE WHEN r.reached_step >= s.step_number THEN r.n_new ELSE 0 END)::BIGINT AS new_customer_checkouts
  FROM reached r CROSS JOIN steps s
 GROUP BY ALL ORDER BY 1, 2, 3
"""


def derive_marts(con: duckdb.DuckDBPyConnection) -> None:
    """(Re)derive the KPI tables and funnel_steps from the fct tables."""
    for grain in GRAIN_STEPS:
        con.execute(_kpi_sql(grain))
    con.execute(FUNNEL_SQL)



def build_large_warehouse(con: duckdb.DuckDBPyConnection, events: int) -> None:
    checkouts = events // 5
    con.execute("SET TimeZone = 'UTC'")
    for schema in ("raw", "audit", "marts"):
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    # 2024-03-01 + one checkout every ~15 s over a year; steps 5 minutes apart.
    spacing = 365 * 86400 / max(checkouts, 1)
    con.execute(
        f"""
        CREATE OR REPLACE TABLE raw.checkout_events AS
        SELECT 'e' || i AS event_id,
               ['checkout_started', 'subscription_details_completed', 'billing_address_completed',
                'payment_method_completed', 'order_submitted'][i % 5 + 1] AS event_name,
               TIMESTAMP '2025-03-01' + to_seconds(((i // 5) * {spacing})::BIGINT + (i % 5) * 300) AS event_time,
               'k' || (i // 5) AS checkout_id, 'c' || ((i // 5) % {max(checkouts * 3 // 4, 1)}) AS customer_id,
               ['premium', 'ultimate'][(i // 5) % 2 + 1] AS plan, ['saas', 'self_managed'][(i // 10) % 2 + 1] AS deployment,
               ((i // 5) % 50 + 1)::INTEGER AS seats, ['DE', 'US', 'FR', 'JP'][(i // 5) % 4 + 1] AS country,
               ['desktop', 'mobile', 'tablet'][(i // 5) % 3 + 1] AS device, NULL::VARCHAR AS error_code,
               'checkout_events/events-' || lpad((i // 100000)::VARCHAR, 5, '0') || '.jsonl' AS _file_path,
               (i % 100000 + 1)::BIGINT AS _row_number, TIMESTAMP '2026-03-02' AS _loaded_at, 'bench' AS _run_id
          FROM range({events}) t(i)
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TABLE raw.orders AS
        WITH o AS (
            SELECT 'o' || k AS order_id, 'c' || (k % {max(checkouts * 3 // 4, 1)}) AS customer_id, 'k' || k AS checkout_id,
                   TIMESTAMP '2025-03-01' + to_seconds((k * {spacing})::BIGINT + 1800) AS created_at,
                   'web_direct' AS channel, k % 10 = 0 AS manual_intervention
              FROM range(0, {checkouts}, 4) t(k)
            UNION ALL
            SELECT 'so' || k, 'sc' || k, NULL, TIMESTAMP '2025-03-01' + to_seconds((k * {spacing})::BIGINT),
                   'sales_assisted', TRUE
              FROM range(1, {checkouts}, 20) t(k))
        SELECT order_id, customer_id, checkout_id, created_at, created_at AS updated_at, channel,
               'new_subscription' AS order_type, 'completed' AS status, 'premium' AS plan, 'saas' AS deployment,
               5 AS seats, 1740.0::DECIMAL(38, 6) AS amount, 'USD' AS currency, manual_intervention,
               CASE WHEN manual_intervention THEN 'invoice_request' END AS intervention_reason,
               'orders/orders-' || lpad((row_number() OVER (ORDER BY order_id) // 100000)::VARCHAR, 5, '0') || '.csv'
                   AS _file_path,
               row_number() OVER (ORDER BY order_id) AS _row_number, TIMESTAMP '2026-03-02' AS _loaded_at,
               'bench' AS _run_id
          FROM o
        """
    )
    con.execute(
        """
        CREATE OR REPLACE TABLE audit.load_ledger AS
        SELECT source, file_path, 'sha' AS file_sha256, 'loaded' AS status, NULL::VARCHAR AS reason,
               n AS rows_read, n AS rows_loaded, 0::BIGINT AS rows_rejected, 0::BIGINT AS duplicates_dropped,
               TIMESTAMP '2026-03-02' AS loaded_at, 'bench' AS run_id
          FROM (SELECT 'checkout_events' AS source, _file_path AS file_path, count(*) AS n
                  FROM raw.checkout_events GROUP BY ALL
                UNION ALL SELECT 'orders', _file_path, count(*) FROM raw.orders GROUP BY ALL)
        """
    )
    con.execute(
        "CREATE OR REPLACE TABLE audit.rejected_rows (source VARCHAR, file_path VARCHAR, row_number BIGINT, "
        "reason VARCHAR, raw_record VARCHAR, run_id VARCHAR)"
    )
    con.execute(
        """
        CREATE OR REPLACE TABLE marts.fct_orders AS
        SELECT order_id, customer_id, checkout_id, created_at, channel, order_type, status, plan, deployment, seats,
               amount, currency, TRUE AS is_placed, channel = 'web_direct' AS is_self_service,
               row_number() OVER (PARTITION BY customer_id ORDER BY created_at, order_id) = 1 AS is_first_order,
               manual_intervention, intervention_reason
          FROM raw.orders
        """
    )
    con.execute(
        """
        CREATE OR REPLACE TABLE marts.fct_checkouts AS
        SELECT e.checkout_id, e.customer_id, e.event_time AS started_at,
               coalesce(fo.first_at >= e.event_time, TRUE) AS is_new_customer,
               e.plan, e.deployment, e.country, e.device, e.seats,
               CASE WHEN o.order_id IS NOT NULL THEN 6 ELSE 5 END AS reached_step,
               o.order_id IS NOT NULL AS converted, o.order_id,
               CASE WHEN o.order_id IS NOT NULL THEN epoch(o.created_at - e.event_time) / 3600.0 END AS hours_to_convert
          FROM raw.checkout_events e LEFT JOIN raw.orders o ON o.checkout_id = e.checkout_id
          LEFT JOIN (SELECT customer_id, min(created_at) AS first_at FROM marts.fct_orders GROUP BY 1) fo
            ON fo.customer_id = e.customer_id
         WHERE e.event_name = 'checkout_started'
        """
    )
    con.execute(
        """
        CREATE OR REPLACE TABLE marts.warehouse_as_of AS
        SELECT greatest((SELECT max(event_time) FROM raw.checkout_events), (SELECT max(updated_at) FROM raw.orders))
               AS as_of, 30 AS conversion_window_days
        """
    )
    derive_marts(con)


def time_ops(path: Path, threads: int, repeat: int = 1) -> None:
    """Seconds (wall, process CPU) per check op, whole tables vs scoped to the newest load."""
    from data_checks.runner import run_checks
    from data_checks.suites import all_checks
    from pipelines.checks import CHECK_GROUPS

    with duckdb.connect(str(path), read_only=True) as con:
        [(newest,)] = con.execute("SELECT max(event_time) FROM raw.checkout_events").fetchall()
        [(last,)] = con.execute(
            "SELECT run_id FROM audit.load_ledger ORDER BY loaded_at DESC, run_id LIMIT 1"
        ).fetchall()
    now = newest + timedelta(hours=1)
    checks = all_checks()
    print(f"newest load: {last}")
    for label, loads in (("whole tables", None), ("newest load", [last])):
        total_wall = total_cpu = 0.0
        for op, assets in CHECK_GROUPS.items():
            selected = [c for c in checks if c.asset in assets]
            best = None
            for _ in range(repeat):
                wall, cpu = time.perf_counter(), time.process_time()
                with duckdb.connect(str(path), read_only=True) as con:
                    con.execute(f"SET threads = {threads}")
                    con.execute("SET TimeZone = 'UTC'")
                    results = run_checks(con, "bench", selected, now=now, write=False, loads=loads)
                took = (time.perf_counter() - wall, time.process_time() - cpu)
                best = took if best is None or took[0] < best[0] else best
            failed = [r.check_name for r in results if not r.passed]
            print(f"{label:13s} {op:24s} {best[0]:6.2f} s wall {best[1]:6.2f} s CPU  failed: {failed or '-'}")
            total_wall += best[0]
            total_cpu += best[1]
        print(f"{label:13s} {'all 7 ops':24s} {total_wall:6.2f} s wall {total_cpu:6.2f} s CPU")


def main(argv: list[str] | None = None) -> int:
    from data_checks.runner import any_blocking_failure, format_results, run_all_checks

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--keep", help="build the warehouse in this file (kept); default: a temporary file")
    parser.add_argument("--no-docs", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--ops", action="store_true", help="time each Dagster check op, whole vs newest load")
    parser.add_argument("--repeat", type=int, default=1, help="with --ops: best of N")
    args = parser.parse_args(argv)
    if args.ops:
        if not args.keep:
            parser.error("--ops needs --keep WAREHOUSE (an existing warehouse)")
        time_ops(Path(args.keep), args.threads, args.repeat)
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.keep) if args.keep else Path(tmp) / "warehouse.duckdb"
        con = duckdb.connect(str(path))
        con.execute(f"SET threads = {args.threads}")
        started = time.perf_counter()
        if not con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'raw' AND table_name = 'checkout_events'"
        ).fetchall()[0][0]:
            build_large_warehouse(con, args.events)
        con.execute("CHECKPOINT")
        built = time.perf_counter() - started
        [(n_events,)] = con.execute("SELECT count(*) FROM raw.checkout_events").fetchall()
        [(newest,)] = con.execute("SELECT max(event_time) FROM raw.checkout_events").fetchall()
        started = time.perf_counter()
        results = run_all_checks(con, "bench", now=newest + timedelta(hours=1), build_docs=not args.no_docs,
                                 docs_dir=Path(tmp) / "gx_docs")
        elapsed = time.perf_counter() - started
        print(format_results(results))
        print(f"warehouse: {n_events:,} raw events, built in {built:.1f} s")
        print(f"run_all_checks: {len(results)} checks in {elapsed:.1f} s "
              f"({'with' if not args.no_docs else 'without'} Data Docs, {args.threads} threads)")
        con.close()
        return 1 if any_blocking_failure(results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
