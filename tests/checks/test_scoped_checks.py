"""Checks scoped to the rows of the loads being checked (docs/data-quality.md, "What each check reads").

The clean warehouse (warehouse_fixture.py: hand-made raw rows loaded by the real pipeline, whose run
checked its own load) gets a second load (`r2`) appended by `add_load` as the ingestion would write it
(raw rows with `_run_id`/`_loaded_at`, ledger rows with matching counts, loaded after the first). Rows the ingestion would
never write (a duplicate key, a bad value) are inserted directly to prove that the scoped checks still
catch what they must, and that the full audit (`loads=None`, `funnel check`) still reads everything.
"""

import dataclasses
import json
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from warehouse_fixture import EVENT_COLUMNS, NOW, ORDER_COLUMNS

from data_checks.catalog import all_checks
from data_checks.check import ERROR, LATEST_BUILD, LOAD_SCOPES, NEW_KEYS, NEW_ROWS, WHOLE_TABLE
from data_checks.ledger_checks import CONSERVATION_CHECKS
from data_checks.raw_checks import RAW_CHECKS
from data_checks.runner import (
    any_blocking_failure,
    run_all_checks,
    run_checks,
    unverified_loads,
    write_results,
)
from pipelines.checks import ASSET_CHECKS
from pipelines.resources import WarehouseResource

CHECKS = {c.name: c for c in all_checks()}
INGEST_CHECKS = RAW_CHECKS + CONSERVATION_CHECKS

# A clean second load: a new checkout (k4), a later step of a checkout started in r1 (k2), a new order
# (o4) and a new version of an order loaded in r1 (o1 refunded).
R2_EVENTS = [
    ("e10", "checkout_started", "2026-03-20 11:00:00", "k4", "c6", "premium", "saas", 3, "FR", "desktop", None),
    ("e11", "subscription_details_completed", "2026-03-20 11:05:00", "k4", "c6", "premium", "saas", 3, "FR",
     "desktop", None),
    ("e12", "billing_address_completed", "2026-03-20 11:10:00", "k2", "c2", "ultimate", "self_managed", 20, "US",
     "mobile", None),
]
R2_ORDERS = [
    ("o4", "c7", None, "2026-03-20 09:00:00", "2026-03-20 09:00:00", "web_direct", "new_subscription", "completed",
     "premium", "saas", 2, 696.0, "USD", False, None),
    ("o1", "c1", "k1", "2026-03-02 10:30:00", "2026-03-20 08:00:00", "web_direct", "new_subscription", "refunded",
     "premium", "saas", 5, 1740.0, "USD", False, None),
]


def add_load(con, run_id: str, events=R2_EVENTS, orders=R2_ORDERS) -> None:
    """Append one load as the ingestion writes it: raw rows and ledger rows under one run id, loaded 15
    minutes after the newest load in the ledger."""
    files = {"checkout_events": f"checkout_events/events-{run_id}.jsonl", "orders": f"orders/orders-{run_id}.csv"}
    [(loaded_at,)] = con.execute("SELECT max(loaded_at) + INTERVAL 15 MINUTE FROM audit.load_ledger").fetchall()
    for source, columns, rows in (("checkout_events", EVENT_COLUMNS, events), ("orders", ORDER_COLUMNS, orders)):
        if not rows:
            continue
        marks = ", ".join("?" * len(columns))
        con.executemany(
            f"INSERT INTO raw.{source} ({', '.join(columns)}, _file_path, _row_number, _loaded_at, _run_id) "
            f"VALUES ({marks}, '{files[source]}', ?, ?, '{run_id}')",
            [[*row, i + 1, loaded_at] for i, row in enumerate(rows)],
        )
        con.execute(
            "INSERT INTO audit.load_ledger (source, file_path, file_sha256, status, reason, rows_read, rows_loaded, "
            "rows_rejected, duplicates_dropped, loaded_at, run_id) VALUES (?, ?, 'sha', 'loaded', NULL, ?, ?, 0, 0, ?, ?)",
            [source, files[source], len(rows), len(rows), loaded_at, run_id],
        )


def drop_not_null(con, table: str, column: str) -> None:
    """The raw tables declare NOT NULL on required columns; the rows the checks guard against come from
    writers that do not (a table re-created by hand, another loader)."""
    con.execute(f"ALTER TABLE raw.{table} ALTER COLUMN {column} DROP NOT NULL")


@pytest.fixture
def con(warehouse_con):
    add_load(warehouse_con, "r2")
    return warehouse_con


def run_scoped(con, names, loads=("r2",)):
    return {r.check_name: r for r in run_checks(con, "test-run", [CHECKS[n] for n in names], now=NOW, loads=loads)}


def test_every_ingestion_check_declares_its_scope():
    scopes = {c.name: c.scope for c in INGEST_CHECKS}
    assert scopes["raw_events_event_id_unique"] == scopes["raw_orders_version_unique"] == NEW_KEYS
    assert scopes["raw_events_checkouts_without_start"] == NEW_KEYS
    assert scopes["raw_events_required_not_null"] == scopes["raw_orders_updated_not_before_created"] == NEW_ROWS
    for whole in ("raw_events_required_columns", "raw_events_freshness", "raw_rows_match_ledger",
                  "rejected_rows_match_ledger", "ledger_rows_conserved", "ledger_rejected_input"):
        assert scopes[whole] == WHOLE_TABLE
    # The facts' consistency checks read the latest build's rows (test_build_scoped_checks.py).
    assert {c.name: c.scope for c in all_checks() if c.asset.startswith("marts/") and c.scope != WHOLE_TABLE} == {
        "fct_checkouts_consistent": LATEST_BUILD, "fct_orders_flags_consistent": LATEST_BUILD}


def test_clean_second_load_passes_scoped_and_whole(con):
    scoped = run_checks(con, "scoped", INGEST_CHECKS, now=NOW, loads=["r2"])
    assert [r.summary() for r in scoped if not r.passed and r.blocking] == []
    whole = run_all_checks(con, "whole", now=NOW, build_docs=False)
    assert [r.summary() for r in whole if not r.passed] == []


# (a) A bad row loaded by the current run fails the scoped check.
NEW_ROW_BREAKS = {
    "raw_events_required_not_null": [
        "ALTER TABLE raw.checkout_events ALTER COLUMN customer_id DROP NOT NULL",
        "UPDATE raw.checkout_events SET customer_id = NULL WHERE event_id = 'e11'",
    ],
    "raw_events_allowed_values": "UPDATE raw.checkout_events SET event_name = 'cart_viewed' WHERE event_id = 'e11'",
    "raw_events_seats_in_range": "UPDATE raw.checkout_events SET seats = 0 WHERE event_id = 'e10'",
    "raw_events_no_future_timestamps":
        "UPDATE raw.checkout_events SET event_time = TIMESTAMP '2026-03-25 00:00:00' WHERE event_id = 'e12'",
    "raw_events_optional_value_drift": "UPDATE raw.checkout_events SET device = 'smart_tv' WHERE event_id = 'e10'",
    "raw_orders_required_not_null": [
        "ALTER TABLE raw.orders ALTER COLUMN currency DROP NOT NULL",
        "UPDATE raw.orders SET currency = NULL WHERE order_id = 'o4'",
    ],
    "raw_orders_allowed_values": "UPDATE raw.orders SET currency = 'usd' WHERE order_id = 'o4'",
    "raw_orders_seats_amount_in_range": "UPDATE raw.orders SET amount = -5 WHERE order_id = 'o4'",
    "raw_orders_updated_not_before_created":
        "UPDATE raw.orders SET updated_at = TIMESTAMP '2026-03-01 00:00:00' WHERE _run_id = 'r2' AND order_id = 'o1'",
    "raw_orders_no_future_timestamps":
        "UPDATE raw.orders SET created_at = TIMESTAMP '2026-04-01 00:00:00', updated_at = TIMESTAMP '2026-04-01 00:00:00' "
        "WHERE order_id = 'o4'",
    "raw_orders_optional_value_drift": "UPDATE raw.orders SET intervention_reason = 'other' WHERE order_id = 'o4'",
}


def test_every_row_check_has_a_new_row_break():
    assert set(NEW_ROW_BREAKS) == {c.name for c in INGEST_CHECKS if c.scope == NEW_ROWS}


@pytest.mark.parametrize("name", sorted(NEW_ROW_BREAKS))
def test_bad_row_of_the_current_load_fails_the_scoped_check(con, name):
    statements = NEW_ROW_BREAKS[name]
    for statement in [statements] if isinstance(statements, str) else statements:
        con.execute(statement)
    result = run_scoped(con, [name])[name]
    assert not result.passed, result.summary()
    assert result.blocking == (CHECKS[name].severity == ERROR)


# (b) A key whose first copy was loaded by an earlier run still fails uniqueness, probed from the new rows.
def test_duplicate_of_a_key_loaded_earlier_fails_event_id_uniqueness(con):
    con.execute("UPDATE raw.checkout_events SET event_id = 'e01' WHERE event_id = 'e11'")  # e01 is from r1
    result = run_scoped(con, ["raw_events_event_id_unique"])["raw_events_event_id_unique"]
    assert not result.passed and result.blocking and result.observed_value == "1 unexpected"
    [row] = json.loads(result.details)["expectations"][0]["unexpected_rows"]
    assert row == {"event_id": "e01", "copies": 2}


def test_duplicate_of_an_order_version_loaded_earlier_fails_version_uniqueness(con):
    # o1's r2 version gets the updated_at of its r1 version: the same (order_id, updated_at) twice.
    con.execute(
        "UPDATE raw.orders SET updated_at = TIMESTAMP '2026-03-02 10:30:00' WHERE _run_id = 'r2' AND order_id = 'o1'"
    )
    result = run_scoped(con, ["raw_orders_version_unique"])["raw_orders_version_unique"]
    assert not result.passed and result.blocking
    [row] = json.loads(result.details)["expectations"][0]["unexpected_rows"]
    assert (row["order_id"], row["copies"]) == ("o1", 2)


def test_duplicate_within_the_current_load_fails_uniqueness(con):
    con.execute("UPDATE raw.checkout_events SET event_id = 'e10' WHERE event_id = 'e11'")
    assert not run_scoped(con, ["raw_events_event_id_unique"])["raw_events_event_id_unique"].passed


def test_checkouts_without_start_look_at_the_whole_checkout(con):
    # e12 continues k2, whose checkout_started was loaded by r1: not an orphan.
    assert run_scoped(con, ["raw_events_checkouts_without_start"])["raw_events_checkouts_without_start"].passed
    con.execute("UPDATE raw.checkout_events SET checkout_id = 'k9' WHERE event_id = 'e12'")
    result = run_scoped(con, ["raw_events_checkouts_without_start"])["raw_events_checkouts_without_start"]
    assert not result.passed and not result.blocking
    [row] = json.loads(result.details)["expectations"][0]["unexpected_rows"]
    assert (row["checkout_id"], row["events"]) == ("k9", 1)


# (c) Old bad rows: the scoped checks leave them (they were checked when loaded), the full audit sees them.
OLD_ROW_BREAKS = {
    "raw_events_seats_in_range": "UPDATE raw.checkout_events SET seats = 0 WHERE event_id = 'e07'",
    "raw_events_event_id_unique": "UPDATE raw.checkout_events SET event_id = 'e01' WHERE event_id = 'e02'",
    "raw_orders_allowed_values": "UPDATE raw.orders SET channel = 'partner' WHERE order_id = 'o2'",
    "raw_orders_version_unique":
        "UPDATE raw.orders SET updated_at = created_at WHERE order_id = 'o3' AND status = 'cancelled'",
}


@pytest.mark.parametrize("name", sorted(OLD_ROW_BREAKS))
def test_old_bad_rows_are_left_to_the_full_audit(con, name):
    con.execute(OLD_ROW_BREAKS[name])
    assert run_scoped(con, [name])[name].passed
    audit = {r.check_name: r for r in run_all_checks(con, "audit", now=NOW, build_docs=False)}
    assert not audit[name].passed and any_blocking_failure(list(audit.values()))


def test_rows_added_to_the_history_fail_the_ledger_reconciliation(con):
    """Raw rows never change after their load; rows added behind the loader's back break the totals."""
    con.execute("INSERT INTO raw.checkout_events SELECT * FROM raw.checkout_events WHERE event_id = 'e01'")
    result = run_scoped(con, ["raw_rows_match_ledger"])["raw_rows_match_ledger"]
    assert not result.passed and result.blocking
    [row] = json.loads(result.details)["expectations"][0]["unexpected_rows"]
    assert row == {"source": "checkout_events", "file_path": "(all files, every load)", "rows_loaded": 12,
                   "raw_rows": 13}


def test_current_load_reconciled_file_by_file(con):
    con.execute("DELETE FROM raw.orders WHERE order_id = 'o4'")
    result = run_scoped(con, ["raw_rows_match_ledger"])["raw_rows_match_ledger"]
    rows = json.loads(result.details)["expectations"][0]["unexpected_rows"]
    assert {(r["file_path"], r["rows_loaded"], r["raw_rows"]) for r in rows} == {
        ("orders/orders-r2.csv", 2, 1),
        ("(all files, every load)", 6, 5),
    }


def test_no_load_to_check_reads_no_rows_but_still_whole_table_checks(con):
    con.execute("UPDATE raw.checkout_events SET seats = 0 WHERE event_id = 'e10'")
    results = run_checks(con, "nothing-new", INGEST_CHECKS, now=NOW, loads=[])
    by_name = {r.check_name: r for r in results}
    assert by_name["raw_events_seats_in_range"].passed  # r2 is not among the loads to check
    # Freshness reads max(event_time) of the whole table (no rows read would mean "no events": stale).
    [fresh] = run_checks(con, "nothing-new", [CHECKS["raw_events_freshness"]], now=NOW, loads=[], freshness_hours=1)
    assert fresh.passed and fresh.observed_value == "2026-03-20T11:10:00Z (0.8 h old)"


# Which loads a run checks.
def _record(con, run_id, names, passed=True):
    results = run_checks(con, run_id, [CHECKS[n] for n in names], now=NOW, write=False)
    write_results(con, [dataclasses.replace(r, passed=passed) for r in results])


def test_unverified_loads(con, clean_warehouse):
    scoped = [c for c in INGEST_CHECKS if c.scope in LOAD_SCOPES]
    names = [c.name for c in scoped]
    # The pipeline's run checked its own load (and so the older r0): only r2 is left.
    assert unverified_loads(con, scoped) == ["r2"]
    con.execute("DELETE FROM audit.check_results")
    assert unverified_loads(con, scoped) is None  # no results yet: whole tables
    _record(con, clean_warehouse.run_id, names)
    assert unverified_loads(con, scoped) == ["r2"]  # verified again in the pipeline run's name
    assert unverified_loads(con, [CHECKS["raw_events_freshness"]]) is None  # no load-scoped check

    # r2's run failed an error-level check: r2 stays to check, together with the next load.
    _record(con, "r2", ["raw_events_seats_in_range"], passed=False)
    add_load(con, "r3", events=[], orders=[("o5", *R2_ORDERS[0][1:])])
    assert unverified_loads(con, scoped) == ["r2", "r3"]
    # A warning that fired in its own run was reported: it does not hold its load back.
    _record(con, "r2", [n for n in names if n != "raw_events_seats_in_range"], passed=False)
    assert unverified_loads(con, [CHECKS["raw_events_optional_value_drift"]]) == ["r3"]
    # r3's run checked r2 and r3 and passed: both verified.
    _record(con, "r3", names)
    assert unverified_loads(con, scoped) == []


# The Dagster asset checks: the ingestion check op reads this run's load, and blocks on it.
INGEST_KEYS = ["raw/checkout_events", "raw/orders", "audit/load_ledger"]


def _ingest_stub(events):
    @dg.multi_asset(specs=[dg.AssetSpec(dg.AssetKey(k.split("/"))) for k in INGEST_KEYS], name="ingest_landing")
    def ingest(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        """Loads `events` as the ingestion would: under this Dagster run's id."""
        with warehouse.connect() as con:
            add_load(con, context.run_id, events=events, orders=[])
        for key in INGEST_KEYS:
            yield dg.MaterializeResult(asset_key=dg.AssetKey(key.split("/")))

    return ingest


@dg.asset(key=["marts", "downstream"], deps=[dg.AssetKey(k.split("/")) for k in INGEST_KEYS])
def downstream() -> None:
    """Stands in for everything after the ingestion."""


@pytest.fixture
def warehouse(warehouse_copy, monkeypatch):
    """The clean warehouse, whose load was checked, and passed, in the pipeline's run."""
    monkeypatch.setenv("FUNNEL_FRESHNESS_HOURS", str(24 * 365 * 100))
    return warehouse_copy


def _materialize(path, events):
    result = dg.materialize(
        [_ingest_stub(events), downstream, ASSET_CHECKS[0]],
        resources={"warehouse": WarehouseResource(path=str(path))},
        raise_on_error=False,
    )
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    return result, materialized


def test_asset_check_blocks_on_a_bad_row_of_its_own_load(warehouse):
    bad = [("e20", "checkout_started", "2026-03-20 11:00:00", "k20", None, None, None, None, None, None, None)]
    with duckdb.connect(str(warehouse)) as connection:
        drop_not_null(connection, "checkout_events", "customer_id")
    result, materialized = _materialize(warehouse, bad)
    assert not result.success and "marts/downstream" not in materialized
    failed = {e.check_name for e in result.get_asset_check_evaluations() if not e.passed}
    assert failed == {"raw_events_required_not_null"}


def test_asset_check_reads_its_own_load_and_the_audit_reads_everything(warehouse):
    with duckdb.connect(str(warehouse)) as connection:  # an old row, made bad behind the loader's back
        connection.execute("UPDATE raw.checkout_events SET seats = 0 WHERE event_id = 'e07'")
    result, materialized = _materialize(warehouse, R2_EVENTS)
    assert result.success and "marts/downstream" in materialized
    with duckdb.connect(str(warehouse)) as connection:
        [(loaded,)] = connection.execute(
            "SELECT count(*) FROM raw.checkout_events WHERE _run_id = ?", [result.run_id]
        ).fetchall()
        assert loaded == len(R2_EVENTS)
        assert unverified_loads(connection, RAW_CHECKS) == []  # this run's load is verified now
        audit = {r.check_name: r for r in run_all_checks(connection, "audit", now=NOW, build_docs=False)}
    assert not audit["raw_events_seats_in_range"].passed
