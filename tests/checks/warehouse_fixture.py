"""A small, hand-made, internally consistent warehouse (raw, audit, marts) for the data-check tests.

Built with plain DuckDB DDL per docs/architecture.md and kpi-definitions.md. The marts are derived
from the hand-made fct rows with plain SQL so the KPI tables agree with the facts; each test then
breaks one rule with one statement.
"""

from __future__ import annotations

from datetime import datetime

import duckdb

from data_checks.bench import derive_marts as rebuild_marts

NOW = datetime(2026, 3, 20, 12, 0, 0)  # the checks' "now" in tests (naive UTC)
AS_OF = datetime(2026, 3, 20, 10, 0, 0)
LOADED_AT = "TIMESTAMP '2026-03-20 11:00:00'"

EVENTS_FILE = "checkout_events/events-1.jsonl"
ORDERS_FILE = "orders/orders-1.csv"

# event_id, event_name, event_time, checkout_id, customer_id, plan, deployment, seats, country, device, error_code
EVENTS = [
    ("e01", "checkout_started", "2026-03-02 10:00:00", "k1", "c1", "premium", "saas", 5, "DE", "desktop", None),
    ("e02", "subscription_details_completed", "2026-03-02 10:05:00", "k1", "c1", "premium", "saas", 5, "DE", "desktop", None),
    ("e03", "billing_address_completed", "2026-03-02 10:10:00", "k1", "c1", "premium", "saas", 5, "DE", "desktop", None),
    ("e04", "payment_failed", "2026-03-02 10:12:00", "k1", "c1", "premium", "saas", 5, "DE", "desktop", "card_declined"),
    ("e05", "payment_method_completed", "2026-03-02 10:15:00", "k1", "c1", "premium", "saas", 5, "DE", "desktop", None),
    ("e06", "order_submitted", "2026-03-02 10:20:00", "k1", "c1", "premium", "saas", 5, "DE", "desktop", None),
    ("e07", "checkout_started", "2026-03-03 11:00:00", "k2", "c2", "ultimate", "self_managed", 20, "US", "mobile", None),
    ("e08", "subscription_details_completed", "2026-03-03 11:05:00", "k2", "c2", "ultimate", "self_managed", 20, "US", "mobile", None),
    ("e09", "checkout_started", "2026-03-20 10:00:00", "k3", "c3", None, None, None, None, "tablet", None),
]

# order_id, customer_id, checkout_id, created_at, updated_at, channel, order_type, status, plan, deployment,
# seats, amount, currency, manual_intervention, intervention_reason
ORDERS = [
    ("o1", "c1", "k1", "2026-03-02 10:30:00", "2026-03-02 10:30:00", "web_direct", "new_subscription", "completed",
     "premium", "saas", 5, 1740.0, "USD", False, None),
    ("o2", "c4", None, "2026-03-04 09:00:00", "2026-03-04 09:00:00", "sales_assisted", "new_subscription", "completed",
     "ultimate", "self_managed", 50, 60000.0, "EUR", True, "invoice_request"),
    ("o3", "c5", None, "2026-03-05 09:00:00", "2026-03-05 09:00:00", "web_direct", "new_subscription", "completed",
     "premium", "saas", 1, 348.0, "USD", False, None),
    ("o3", "c5", None, "2026-03-05 09:00:00", "2026-03-06 09:00:00", "web_direct", "new_subscription", "cancelled",
     "premium", "saas", 1, 348.0, "USD", False, None),
]

# checkout_id, customer_id, started_at, is_new_customer, plan, deployment, country, device, seats, reached_step,
# converted, order_id, hours_to_convert
FCT_CHECKOUTS = [
    ("k1", "c1", "2026-03-02 10:00:00", True, "premium", "saas", "DE", "desktop", 5, 6, True, "o1", 0.5),
    ("k2", "c2", "2026-03-03 11:00:00", True, "ultimate", "self_managed", "US", "mobile", 20, 2, False, None, None),
    ("k3", "c3", "2026-03-20 10:00:00", True, None, None, None, "tablet", None, 1, False, None, None),
]

# order_id, customer_id, checkout_id, created_at, channel, order_type, status, plan, deployment, seats, amount,
# currency, is_placed, is_self_service, is_first_order, manual_intervention, intervention_reason
FCT_ORDERS = [
    ("o1", "c1", "k1", "2026-03-02 10:30:00", "web_direct", "new_subscription", "completed", "premium", "saas", 5,
     1740.0, "USD", True, True, True, False, None),
    ("o2", "c4", None, "2026-03-04 09:00:00", "sales_assisted", "new_subscription", "completed", "ultimate",
     "self_managed", 50, 60000.0, "EUR", True, False, True, True, "invoice_request"),
    ("o3", "c5", None, "2026-03-05 09:00:00", "web_direct", "new_subscription", "cancelled", "premium", "saas", 1,
     348.0, "USD", False, False, False, False, None),
]

def build_clean_warehouse(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("SET TimeZone = 'UTC'")
    for schema in ("raw", "audit", "marts"):
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    con.execute(
        """CREATE TABLE raw.checkout_events (event_id VARCHAR, event_name VARCHAR, event_time TIMESTAMP,
           checkout_id VARCHAR, customer_id VARCHAR, plan VARCHAR, deployment VARCHAR, seats INTEGER,
           country VARCHAR, device VARCHAR, error_code VARCHAR, _file_path VARCHAR, _row_number BIGINT,
           _loaded_at TIMESTAMP, _run_id VARCHAR)"""
    )
    con.executemany(
        f"INSERT INTO raw.checkout_events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '{EVENTS_FILE}', ?, {LOADED_AT}, 'r1')",
        [[*row, i + 1] for i, row in enumerate(EVENTS)],
    )
    con.execute(
        """CREATE TABLE raw.orders (order_id VARCHAR, customer_id VARCHAR, checkout_id VARCHAR,
           created_at TIMESTAMP, updated_at TIMESTAMP, channel VARCHAR, order_type VARCHAR, status VARCHAR,
           plan VARCHAR, deployment VARCHAR, seats INTEGER, amount DECIMAL(38, 6), currency VARCHAR,
           manual_intervention BOOLEAN, intervention_reason VARCHAR, _file_path VARCHAR, _row_number BIGINT,
           _loaded_at TIMESTAMP, _run_id VARCHAR)"""
    )
    con.executemany(
        f"INSERT INTO raw.orders VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '{ORDERS_FILE}', ?, {LOADED_AT}, 'r1')",
        [[*row, i + 1] for i, row in enumerate(ORDERS)],
    )
    con.execute(
        """CREATE TABLE audit.load_ledger (source VARCHAR, file_path VARCHAR, file_sha256 VARCHAR, status VARCHAR,
           reason VARCHAR, rows_read BIGINT, rows_loaded BIGINT, rows_rejected BIGINT, duplicates_dropped BIGINT,
           loaded_at TIMESTAMP, run_id VARCHAR)"""
    )
    con.execute(
        f"""INSERT INTO audit.load_ledger VALUES
            ('checkout_events', '{EVENTS_FILE}', 'aa', 'loaded', NULL, 11, 9, 0, 2, {LOADED_AT}, 'r1'),
            ('orders', '{ORDERS_FILE}', 'bb', 'loaded', NULL, 4, 4, 0, 0, {LOADED_AT}, 'r1'),
            ('orders', 'orders/orders-0-corrupt.parquet', 'cc', 'rejected', 'not a Parquet file', 0, 0, 0, 0,
             TIMESTAMP '2026-03-10 11:00:00', 'r0'),
            ('orders', 'orders/orders-0-bad.csv', 'dd', 'loaded', NULL, 1, 0, 1, 0,
             TIMESTAMP '2026-03-10 11:00:00', 'r0')"""
    )
    con.execute(
        """CREATE TABLE audit.rejected_rows (source VARCHAR, file_path VARCHAR, row_number BIGINT, reason VARCHAR,
           raw_record VARCHAR, run_id VARCHAR)"""
    )
    con.execute(
        """INSERT INTO audit.rejected_rows VALUES
            ('orders', 'orders/orders-0-bad.csv', 1, 'amount < 0', 'o9,c9,...', 'r0'),
            ('orders', 'orders/orders-0-corrupt.parquet', NULL, 'not a Parquet file', NULL, 'r0')"""
    )
    con.execute(
        """CREATE TABLE marts.fct_checkouts (checkout_id VARCHAR, customer_id VARCHAR, started_at TIMESTAMP,
           is_new_customer BOOLEAN, plan VARCHAR, deployment VARCHAR, country VARCHAR, device VARCHAR,
           seats INTEGER, reached_step INTEGER, converted BOOLEAN, order_id VARCHAR, hours_to_convert DOUBLE)"""
    )
    con.executemany("INSERT INTO marts.fct_checkouts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", FCT_CHECKOUTS)
    con.execute(
        """CREATE TABLE marts.fct_orders (order_id VARCHAR, customer_id VARCHAR, checkout_id VARCHAR,
           created_at TIMESTAMP, channel VARCHAR, order_type VARCHAR, status VARCHAR, plan VARCHAR,
           deployment VARCHAR, seats INTEGER, amount DECIMAL(38, 6), currency VARCHAR, is_placed BOOLEAN,
           is_self_service BOOLEAN, is_first_order BOOLEAN, manual_intervention BOOLEAN,
           intervention_reason VARCHAR)"""
    )
    con.executemany(
        "INSERT INTO marts.fct_orders VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", FCT_ORDERS
    )
    con.execute(
        f"CREATE TABLE marts.warehouse_as_of AS SELECT TIMESTAMP '{AS_OF}' AS as_of, 30 AS conversion_window_days"
    )
    rebuild_marts(con)
