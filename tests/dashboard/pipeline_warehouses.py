"""Published copies built by the real pipeline (`pipelines.run.run_pipeline`) from small landing
directories: every dashboard test reads one of them.

- `kit`: the conformance kit's landing with bad rows (its public tables are those of the clean
  landing; its ledger and rejected rows give Data health something to show), plus a file of
  payment_failed events the kit lacks, for the drop-off page (`PAYMENT_FAILURES`).
- `interventions`: one orders file of `INTERVENTION_ORDERS` orders, most of them self-service with
  a manual intervention, three to a `created_at`: more than the latest-interventions mart keeps, with ties.
- `empty`: an empty landing directory (no file yet).
- `rejected_only`: only files rejected whole: a corrupt Parquet file and an orders CSV missing
  required columns.
- `attention`: the conformance kit's landing with bad rows, plus a file the contract ignores in a
  source folder (`orders/notes.json`), one outside the source folders (`README.txt`), an empty file,
  and, in a second run, a loaded file changed after it was loaded.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from pipelines.core.contract import CHECKOUT_EVENTS, ORDERS
from tests.dashboard.conftest import ROOT

DIRTY_LANDING = ROOT / "tests" / "fixtures" / "conformance" / "landing-with-bad-rows"

CORRUPT_PARQUET = "checkout_events/broken.parquet"
MISSING_COLUMNS_CSV = "orders/missing-columns.csv"
IGNORED_JSON = "orders/notes.json"
IGNORED_OUTSIDE = "README.txt"
EMPTY_FILE = "checkout_events/events-7-empty.jsonl"
CHANGED_FILE = "orders/orders-1.csv"

PAYMENT_FAILURES_FILE = "checkout_events/payment-failures.jsonl"
# payment_failed events beside the kit's one (k20, card_declined): (event_id, event_time, checkout_id,
# customer_id, error_code). pf5 comes before k24 started, so the drop-off marts do not count it.
PAYMENT_FAILURES = [
    ("pf2", "2026-03-02T11:20:00Z", "k02", "c02", "insufficient_funds"),
    ("pf3", "2026-03-02T11:21:00Z", "k02", "c02", "insufficient_funds"),
    ("pf4", "2026-03-05T08:30:00Z", "k07", "c07", "card_declined"),
    ("pf5", "2026-03-19T09:00:00Z", "k24", "c24", "before_start_not_counted"),
    ("pf6", "2026-03-19T10:05:00Z", "k24", "c24", "expired_card"),
]


def run(landing: Path, warehouse: Path) -> Path:
    """One `funnel run` of `landing` into `warehouse`; the published copy's path."""
    from pipelines.core.settings import Settings
    from pipelines.run import run_pipeline

    settings = Settings.from_env(landing_dir=landing, warehouse=warehouse)
    run_pipeline(settings)
    return settings.published


def land_rejected_only(landing: Path) -> None:
    (landing / "checkout_events").mkdir(parents=True, exist_ok=True)
    (landing / "orders").mkdir(parents=True, exist_ok=True)
    (landing / CORRUPT_PARQUET).write_bytes(b"PAR1 not a parquet file at all")
    (landing / MISSING_COLUMNS_CSV).write_text("order_id,customer_id,created_at\no1,c1,2026-03-02T10:00:00Z\n")
INTERVENTION_ORDERS = 1080


def land_intervention_orders(landing: Path) -> None:
    """INTERVENTION_ORDERS orders: every 7th sales-assisted, every 5th without intervention."""
    import duckdb

    (landing / "orders").mkdir(parents=True)
    columns = ", ".join(ORDERS.column_names)
    duckdb.sql(f"""
        SELECT 'o' || i AS order_id, 'c' || i AS customer_id, 'k' || i AS checkout_id,
               strftime(TIMESTAMP '2026-01-01' + INTERVAL (i // 3) HOUR, '%Y-%m-%dT%H:%M:%SZ') AS created_at,
               NULL AS updated_at, CASE WHEN i % 7 = 0 THEN 'sales_assisted' ELSE 'web_direct' END AS channel,
               'new_subscription' AS order_type, 'completed' AS status, 'premium' AS plan, 'saas' AS deployment,
               5 AS seats, 100.0 AS amount, 'USD' AS currency, i % 5 <> 0 AS manual_intervention,
               CASE WHEN i % 5 <> 0 THEN 'tax_exemption' END AS intervention_reason
        FROM range({INTERVENTION_ORDERS}) t(i)""").select(columns).write_csv(str(landing / "orders" / "orders.csv"))


def land_payment_failures(landing: Path) -> None:
    """PAYMENT_FAILURES as a JSON-lines file of checkout events with every column of the contract."""
    columns = CHECKOUT_EVENTS.column_names
    lines = []
    for event_id, event_time, checkout_id, customer_id, error_code in PAYMENT_FAILURES:
        event = dict.fromkeys(columns)
        event.update(event_id=event_id, event_name="payment_failed", event_time=event_time,
                     checkout_id=checkout_id, customer_id=customer_id, error_code=error_code)
        lines.append(json.dumps(event))
    (landing / PAYMENT_FAILURES_FILE).write_text("\n".join(lines) + "\n")


def build(kind: str, root: Path) -> Path:
    """The published copy of warehouse `kind` (kit, empty, rejected_only, attention) under `root`."""
    landing = root / "landing"
    warehouse = root / "warehouse.duckdb"
    if kind == "kit":
        shutil.copytree(DIRTY_LANDING, landing)
        land_payment_failures(landing)
        return run(landing, warehouse)
    if kind == "interventions":
        land_intervention_orders(landing)
        return run(landing, warehouse)
    if kind == "empty":
        landing.mkdir(parents=True)
        return run(landing, warehouse)
    if kind == "rejected_only":
        land_rejected_only(landing)
        return run(landing, warehouse)
    if kind == "attention":
        shutil.copytree(DIRTY_LANDING, landing)
        (landing / IGNORED_JSON).write_text('{"note": "not a contract file"}\n')
        (landing / IGNORED_OUTSIDE).write_text("landing notes\n")
        (landing / EMPTY_FILE).write_bytes(b"")
        run(landing, warehouse)
        with (landing / CHANGED_FILE).open("a") as f:  # a correction written into a loaded file
            f.write("o99,c99,k99,2026-03-05T10:00:00Z,,web_direct,new_subscription,completed,premium,saas,"
                    "5,1740.0,USD,false,,\n")
        return run(landing, warehouse)
    raise ValueError(kind)


if __name__ == "__main__":  # python -m tests.dashboard.pipeline_warehouses KIND ROOT: prints the published path
    import sys

    print(build(sys.argv[1], Path(sys.argv[2])))
