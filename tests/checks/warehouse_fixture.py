"""The data-check tests' warehouse: a few hand-made raw rows, built by the real pipeline.

EVENTS and ORDERS are written as landing files (a JSON-lines file with two duplicate lines, a CSV
file; DuckDB COPY, set-based) and loaded by `pipelines.run.run_pipeline` (ingestion, dbt, the data
checks, publishing). A load before it, `r0` (the real ingestion, at 2026-03-10 11:00), finds a
corrupt Parquet file and a CSV whose only row is bad, so the audit tables hold a file rejected whole
and a rejected row. `build_clean_warehouse` runs once per session (tests/checks/conftest.py); each
test breaks one rule in its own copy of the file. FCT_CHECKOUTS and FCT_ORDERS are what the marts
must hold (test_data_checks.py checks them), not where the marts come from.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa

NOW = datetime(2026, 3, 20, 12, 0, 0)  # the checks' "now" in tests (naive UTC)
AS_OF = datetime(2026, 3, 20, 10, 0, 0)  # the newest event (e09): marts.warehouse_as_of
R0_LOADED_AT = datetime(2026, 3, 10, 11, 0, 0)

EVENTS_FILE = "checkout_events/events-1.jsonl"
ORDERS_FILE = "orders/orders-1.csv"

EVENT_COLUMNS = ("event_id", "event_name", "event_time", "checkout_id", "customer_id", "plan", "deployment", "seats",
                 "country", "device", "error_code")
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

ORDER_COLUMNS = ("order_id", "customer_id", "checkout_id", "created_at", "updated_at", "channel", "order_type",
                 "status", "plan", "deployment", "seats", "amount", "currency", "manual_intervention",
                 "intervention_reason")
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

DUPLICATED_EVENTS = ("e01", "e05")  # repeated at the end of the file: 11 lines read, 9 loaded, 2 dropped
R0_BAD_ORDER = "o9,c9,,2026-03-09 09:00:00,,web_direct,new_subscription,completed,,,1,-1,USD,false,\n"


def _table(columns: tuple[str, ...], rows: list[tuple]) -> pa.Table:
    return pa.table({name: list(values) for name, values in zip(columns, zip(*rows, strict=True), strict=True)})


def write_landing(landing: Path) -> None:
    """EVENTS as `checkout_events/events-1.jsonl` (then copies of DUPLICATED_EVENTS), ORDERS as
    `orders/orders-1.csv`."""
    (landing / "checkout_events").mkdir(parents=True, exist_ok=True)
    (landing / "orders").mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    try:
        events = _table(EVENT_COLUMNS, EVENTS)
        con.register("events", events.append_column("line", pa.array(range(events.num_rows))))
        con.register("orders", _table(ORDER_COLUMNS, ORDERS))
        con.execute(
            f"""COPY (SELECT * EXCLUDE (line) FROM (
                    SELECT * FROM events
                    UNION ALL SELECT * REPLACE (line + 100 AS line) FROM events WHERE event_id IN {DUPLICATED_EVENTS})
                  ORDER BY line)
                TO '{landing / EVENTS_FILE}' (FORMAT json)"""
        )
        con.execute(f"COPY orders TO '{landing / ORDERS_FILE}' (FORMAT csv, HEADER)")
    finally:
        con.close()


@dataclass(frozen=True)
class CleanWarehouse:
    path: Path
    run_id: str  # the pipeline run that loaded EVENTS and ORDERS (the ledger's and raw rows' run id)


def build_clean_warehouse(root: Path) -> CleanWarehouse:
    """Load `r0` (two bad files) with the ingestion, then EVENTS and ORDERS with `run_pipeline`."""
    from pipelines.core.settings import Settings
    from pipelines.core.warehouse import connect
    from pipelines.ingest.load import ingest_landing
    from pipelines.run import run_pipeline

    landing = root / "landing"
    (landing / "orders").mkdir(parents=True)
    (landing / "orders" / "orders-0-bad.csv").write_text(",".join(ORDER_COLUMNS) + "\n" + R0_BAD_ORDER)
    (landing / "orders" / "orders-0-corrupt.parquet").write_bytes(b"not a Parquet file")
    settings = Settings.from_env(landing_dir=landing, warehouse=root / "warehouse.duckdb")
    with connect(settings.warehouse) as con:
        ingest_landing(con, landing, run_id="r0", load_time=R0_LOADED_AT)
    write_landing(landing)
    outcome = run_pipeline(settings)
    return CleanWarehouse(path=settings.warehouse, run_id=outcome.run_id)
