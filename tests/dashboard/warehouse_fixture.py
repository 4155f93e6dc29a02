"""A fixture published DuckDB for the dashboard tests, built from the conformance kit's expected figures.

- marts.kpi_daily|weekly|monthly: the kit's rows, with the empty periods between them filled with
  zero counts and NULL rates (as the real tables hold them); cohort_complete recomputed for the
  filled rows from as_of and the 30-day window.
- marts.funnel_steps, fct_checkouts, fct_orders: the kit's rows (fct_orders gets plan, deployment and
  seats, which the kit leaves out).
- marts.dash_*: built by rendering the project's own dbt models (dbt_project/models/marts/dashboard)
  with a minimal Jinja shim (`ref`, `config`, `byte_order`) and running them on the fixture tables.
- Small hand-made rows for warehouse_as_of, kpi_targets, audit.* and meta.column_descriptions.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import jinja2

ROOT = Path(__file__).resolve().parents[2]
EXPECTED = ROOT / "tests" / "fixtures" / "conformance" / "expected"
DASHBOARD_MODELS = ROOT / "dbt_project" / "models" / "marts" / "dashboard"
INTERMEDIATE_MODELS = ROOT / "dbt_project" / "models" / "intermediate"
SEEDS = ROOT / "dbt_project" / "seeds"

AS_OF = dt.datetime(2026, 4, 3, 10, 0, 1)
WINDOW_DAYS = 30
LAST_RUN_ID = "run-0002"

KPI_COLUMNS = [
    "period_start", "checkouts_started", "checkouts_converted", "checkout_conversion_rate",
    "new_customer_checkouts_started", "new_customer_checkouts_converted", "first_order_conversion_rate",
    "first_orders", "self_service_first_orders", "self_service_first_order_share", "self_service_orders",
    "manual_intervention_orders", "manual_intervention_rate", "self_service_first_orders_with_intervention",
    "first_order_manual_intervention_rate", "median_hours_to_convert", "period_end", "period_closed",
    "cohort_complete",
]
COUNT_COLUMNS = [
    "checkouts_started", "checkouts_converted", "new_customer_checkouts_started",
    "new_customer_checkouts_converted", "first_orders", "self_service_first_orders", "self_service_orders",
    "manual_intervention_orders", "self_service_first_orders_with_intervention",
]

TARGETS = [
    # kpi_name, grain, target
    ("checkout_conversion_rate", "week", 0.45),
    ("checkout_conversion_rate", "month", 0.45),
    ("first_order_conversion_rate", "week", 0.40),
    ("first_order_conversion_rate", "month", 0.40),
    ("self_service_first_order_share", "week", 0.80),
    ("self_service_first_order_share", "month", 0.80),
    ("manual_intervention_rate", "week", 0.05),
    ("manual_intervention_rate", "month", 0.05),
    ("first_orders", "week", 5),
    ("first_orders", "month", 20),
    ("median_hours_to_convert", "week", 2.0),
    ("median_hours_to_convert", "month", 2.0),
]

# payment_failed events (hand-made, plus the kit's k20 one), for the drop-off marts.
PAYMENT_FAILURES = [
    ("pf1", "2026-03-16 11:14:00", "k20", "c20", "card_declined"),
    ("pf2", "2026-03-02 11:20:00", "k02", "c02", "insufficient_funds"),
    ("pf3", "2026-03-02 11:21:00", "k02", "c02", "insufficient_funds"),
    ("pf4", "2026-03-05 08:30:00", "k07", "c07", "card_declined"),
    ("pf5", "2026-03-19 10:05:00", "k24", "c24", "expired_card"),
    ("pf6", "2026-03-19 09:00:00", "k24", "c24", "before_start_not_counted"),
]


def render_model(sql: str, refs: dict[str, str]) -> str:
    """Render a dbt model with the macros the dashboard marts use (`ref`, `config`, and the project's
    `byte_order` as dbt renders it on DuckDB)."""
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    return env.from_string(sql).render(ref=lambda name: refs[name], config=lambda **_: "",
                                       byte_order=lambda expr: f'{expr} collate "binary"')


def build_dashboard_marts(con: duckdb.DuckDBPyConnection, refs: dict[str, str]) -> list[str]:
    """The dashboard marts from `refs` (fct tables and staging events), with the intermediate model
    and the seed they read (the intermediate one in schema staging, which the callers drop)."""
    con.execute("CREATE OR REPLACE TABLE marts.time_to_convert_buckets AS SELECT * FROM read_csv(?, header=true, "
                "columns={'hours_bucket': 'INTEGER', 'label': 'VARCHAR', 'from_hours': 'DOUBLE', 'to_hours': 'DOUBLE'})",
                [str(SEEDS / "time_to_convert_buckets.csv")])
    refs = {**refs, "int_checkouts_funnelled": refs["fct_checkouts"],
            "int_payment_failures_counted": "staging.int_payment_failures_counted",
            "time_to_convert_buckets": "marts.time_to_convert_buckets"}
    con.execute("CREATE OR REPLACE TABLE staging.int_payment_failures_counted AS "
                + render_model((INTERMEDIATE_MODELS / "int_payment_failures_counted.sql").read_text(), refs))
    built = []
    for model in sorted(DASHBOARD_MODELS.glob("*.sql")):
        sql = render_model(model.read_text(), refs)
        con.execute(f"CREATE OR REPLACE TABLE marts.{model.stem} AS {sql}")
        built.append(model.stem)
    return built


def _kpi_table(con: duckdb.DuckDBPyConnection, grain: str, name: str) -> None:
    csv = EXPECTED / f"{name}.csv"
    con.execute(f"CREATE TEMP TABLE kit AS SELECT * FROM read_csv('{csv}', header=true, auto_detect=true)")
    first, last = con.execute("SELECT min(period_start), max(period_start) FROM kit").fetchall()[0]
    step = {"day": "1 DAY", "week": "7 DAY", "month": "1 MONTH"}[grain]
    con.execute(
        "CREATE TEMP TABLE periods AS SELECT CAST(p AS DATE) AS period_start, "
        f"CAST(p + INTERVAL {step} AS DATE) AS period_end FROM generate_series(?::DATE, ?::DATE, INTERVAL {step}) t(p)",
        [first, last],
    )
    select = []
    for col in KPI_COLUMNS:
        if col == "period_start":
            select.append("p.period_start")
        elif col in COUNT_COLUMNS:
            select.append(f"CAST(coalesce(k.{col}, 0) AS BIGINT) AS {col}")
        elif col == "period_end":
            select.append("p.period_end")
        elif col == "period_closed":
            select.append(f"CAST(p.period_end AS TIMESTAMP) <= TIMESTAMP '{AS_OF}' AS period_closed")
        elif col == "cohort_complete":
            select.append(
                "coalesce(CAST(k.cohort_complete AS BOOLEAN), "
                f"CAST(p.period_end AS TIMESTAMP) + INTERVAL {WINDOW_DAYS} DAY <= TIMESTAMP '{AS_OF}') "
                "AS cohort_complete"
            )
        else:
            select.append(f"CAST(k.{col} AS DOUBLE) AS {col}")
    con.execute(
        f"CREATE TABLE marts.{name} AS SELECT {', '.join(select)} FROM periods p "
        "LEFT JOIN kit k ON k.period_start = p.period_start ORDER BY p.period_start"
    )
    con.execute("DROP TABLE kit; DROP TABLE periods")


def build_published(path: Path, with_check_results: bool = True) -> Path:
    """Write a fixture published copy at `path` (replaced if present)."""
    path = Path(path)
    path.unlink(missing_ok=True)
    con = duckdb.connect(str(path))
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute("CREATE SCHEMA marts; CREATE SCHEMA audit; CREATE SCHEMA meta; CREATE SCHEMA staging")
        for grain, name in (("day", "kpi_daily"), ("week", "kpi_weekly"), ("month", "kpi_monthly")):
            _kpi_table(con, grain, name)
        con.execute(f"""
            CREATE TABLE marts.funnel_steps AS
            SELECT grain, CAST(period_start AS DATE) AS period_start, CAST(step_number AS INTEGER) AS step_number,
                   step_name, CAST(checkouts AS BIGINT) AS checkouts,
                   CAST(new_customer_checkouts AS BIGINT) AS new_customer_checkouts
            FROM read_csv('{EXPECTED / "funnel_steps.csv"}', header=true, auto_detect=true)""")
        con.execute(f"""
            CREATE TABLE marts.fct_checkouts AS
            SELECT checkout_id, customer_id,
                   CAST(replace(CAST(started_at AS VARCHAR), 'Z', '') AS TIMESTAMP) AS started_at,
                   CAST(is_new_customer AS BOOLEAN) AS is_new_customer, plan, deployment, country, device,
                   CAST(seats AS INTEGER) AS seats, CAST(reached_step AS INTEGER) AS reached_step,
                   CAST(converted AS BOOLEAN) AS converted, CAST(order_id AS VARCHAR) AS order_id,
                   CAST(hours_to_convert AS DOUBLE) AS hours_to_convert
            FROM read_csv('{EXPECTED / "fct_checkouts.csv"}', header=true, all_varchar=true)""")
        con.execute(f"""
            CREATE TABLE marts.fct_orders AS
            SELECT order_id, customer_id, checkout_id,
                   CAST(replace(created_at, 'Z', '') AS TIMESTAMP) AS created_at, channel, order_type, status,
                   CASE WHEN order_id IN ('o16', 'o21') THEN 'ultimate' ELSE 'premium' END AS plan,
                   CASE WHEN order_id = 'o16' THEN 'self_managed' ELSE 'saas' END AS deployment,
                   5 AS seats, CAST(amount AS DECIMAL(38, 6)) AS amount, currency,
                   CAST(is_placed AS BOOLEAN) AS is_placed, CAST(is_self_service AS BOOLEAN) AS is_self_service,
                   CAST(is_first_order AS BOOLEAN) AS is_first_order,
                   CAST(manual_intervention AS BOOLEAN) AS manual_intervention, intervention_reason
            FROM read_csv('{EXPECTED / "fct_orders.csv"}', header=true, all_varchar=true)""")
        con.execute(
            "CREATE TABLE marts.warehouse_as_of AS SELECT CAST(? AS TIMESTAMP) AS as_of, "
            "CAST(? AS INTEGER) AS conversion_window_days",
            [AS_OF, WINDOW_DAYS],
        )
        con.execute("CREATE TABLE marts.kpi_targets (kpi_name VARCHAR, grain VARCHAR, target DOUBLE)")
        con.executemany("INSERT INTO marts.kpi_targets VALUES (?, ?, ?)", TARGETS)

        con.execute("""CREATE TABLE staging.stg_checkout_events (event_id VARCHAR, event_name VARCHAR,
            event_time TIMESTAMP, checkout_id VARCHAR, customer_id VARCHAR, plan VARCHAR, deployment VARCHAR,
            seats INTEGER, country VARCHAR, device VARCHAR, error_code VARCHAR)""")
        con.executemany(
            "INSERT INTO staging.stg_checkout_events VALUES (?, 'payment_failed', ?, ?, ?, NULL, NULL, NULL, NULL, NULL, ?)",
            PAYMENT_FAILURES,
        )
        build_dashboard_marts(
            con,
            {
                "fct_checkouts": "marts.fct_checkouts",
                "fct_orders": "marts.fct_orders",
                "stg_checkout_events": "staging.stg_checkout_events",
            },
        )
        con.execute("DROP SCHEMA staging CASCADE")

        _audit(con, with_check_results)
        con.execute("""CREATE TABLE meta.column_descriptions AS
            SELECT table_schema, table_name, column_name,
                   'Description of ' || table_name || '.' || column_name AS description
            FROM information_schema.columns WHERE table_schema IN ('marts', 'audit')""")
        con.execute("UPDATE meta.column_descriptions SET description = 'Checkouts started (step 1) in the cohort.' "
                    "WHERE table_name = 'kpi_weekly' AND column_name = 'checkouts_started'")
        con.execute("CHECKPOINT")
    finally:
        con.close()
    return path


def _audit(con: duckdb.DuckDBPyConnection, with_check_results: bool) -> None:
    con.execute(f"""
        CREATE TABLE audit.load_ledger AS
        SELECT source, file_path, sha256(file_path) AS file_sha256, status,
               CASE WHEN status = 'rejected' THEN 'file cannot be read' END AS reason,
               CAST(rows_read AS BIGINT) AS rows_read, CAST(rows_loaded AS BIGINT) AS rows_loaded,
               CAST(rows_rejected AS BIGINT) AS rows_rejected, CAST(duplicates_dropped AS BIGINT) AS duplicates_dropped,
               TIMESTAMP '2026-04-03 11:00:00' AS loaded_at, '{LAST_RUN_ID}' AS run_id
        FROM read_csv('{EXPECTED / "load_ledger-with-bad-rows.csv"}', header=true, auto_detect=true)""")
    con.execute(f"""
        CREATE TABLE audit.rejected_rows AS
        SELECT source, file_path, CAST(row_number AS BIGINT) AS row_number, rule AS reason,
               '{{"masked": true}}' AS raw_record, '{LAST_RUN_ID}' AS run_id
        FROM read_csv('{EXPECTED / "rejected_rows-with-bad-rows.csv"}', header=true, auto_detect=true)""")
    con.execute("""CREATE TABLE audit.pipeline_runs (run_id VARCHAR, started_at TIMESTAMP, finished_at TIMESTAMP,
        status VARCHAR, message VARCHAR, files_loaded BIGINT, files_rejected BIGINT, rows_loaded BIGINT,
        rows_rejected BIGINT)""")
    con.execute(f"""INSERT INTO audit.pipeline_runs VALUES
        ('run-0001', '2026-04-02 06:00:00', '2026-04-02 06:01:10', 'failure', 'dbt build failed', 0, 0, 0, 0),
        ('{LAST_RUN_ID}', '2026-04-03 10:58:00', '2026-04-03 11:00:05', 'success', NULL, 8, 3, 107, 26)""")
    if with_check_results:
        con.execute("""CREATE TABLE audit.check_results (check_name VARCHAR, asset VARCHAR, severity VARCHAR,
            passed BOOLEAN, observed_value VARCHAR, expected VARCHAR, run_id VARCHAR, checked_at TIMESTAMP)""")
        con.execute(f"""INSERT INTO audit.check_results VALUES
            ('checkouts_without_start', 'raw/checkout_events', 'warn', false, '1', '0', '{LAST_RUN_ID}', '2026-04-03 11:00:00'),
            ('kpi_rates_between_0_and_1', 'marts/kpi_daily', 'error', true, '0', '0', '{LAST_RUN_ID}', '2026-04-03 11:00:01')""")
