"""Only the rows an engine lacks travel (pipelines.engines.increment), shown on the Parquet export
(DuckDB only, no engine needed): a first export sends everything, a later one only the rows loaded
since, a full export or a folder out of step with the warehouse gets everything again.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from pipelines.engines.export import export_raw_parquet
from pipelines.engines.increment import HeldRows, plan_export
from pipelines.ingest.ledger import ensure_tables

FIRST_LOAD = datetime(2026, 3, 20, 6, 0, 0, 123456)
SECOND_LOAD = datetime(2026, 3, 21, 6, 0, 0)


def _load(con: duckdb.DuckDBPyConnection, loaded_at: datetime, first: int, count: int, day: str) -> None:
    """`count` checkout_started events (ids first..) on `day` and one order each, loaded at `loaded_at`."""
    con.execute(
        "INSERT INTO raw.checkout_events (event_id, event_name, event_time, checkout_id, customer_id, _file_path, "
        "_row_number, _loaded_at) SELECT 'e' || i, 'checkout_started', $day::TIMESTAMP + i * INTERVAL 1 MINUTE, "
        "'k' || i, 'c' || i, 'f', i, $at FROM range($first, $first + $count) AS r(i)",
        {"day": day, "at": loaded_at, "first": first, "count": count},
    )
    con.execute(
        "INSERT INTO raw.orders (order_id, customer_id, created_at, updated_at, channel, order_type, status, amount, "
        "currency, manual_intervention, _file_path, _row_number, _loaded_at) SELECT 'o' || i, 'c' || i, "
        "$day::TIMESTAMP, $day::TIMESTAMP, 'web_direct', 'new_subscription', 'completed', 10, 'USD', false, 'f', i, "
        "$at FROM range($first, $first + $count) AS r(i)",
        {"day": day, "at": loaded_at, "first": first, "count": count},
    )


@pytest.fixture
def warehouse() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    ensure_tables(con)
    _load(con, FIRST_LOAD, 0, 30, "2026-03-19")
    return con


def _parquet_ids(folder: Path, column: str) -> list[str]:
    return sorted(r[0] for r in duckdb.sql(f"SELECT {column} FROM read_parquet('{folder}/**/*.parquet')").fetchall())


def _warehouse_ids(con: duckdb.DuckDBPyConnection, table: str, column: str) -> list[str]:
    return sorted(r[0] for r in con.execute(f"SELECT {column} FROM raw.{table}").fetchall())


def _assert_copy_equals_warehouse(con: duckdb.DuckDBPyConnection, out: Path) -> None:
    assert _parquet_ids(out / "checkout_events", "event_id") == _warehouse_ids(con, "checkout_events", "event_id")
    assert _parquet_ids(out / "orders", "order_id") == _warehouse_ids(con, "orders", "order_id")


def test_a_later_export_sends_only_the_rows_loaded_since(warehouse, tmp_path):
    first = export_raw_parquet(warehouse, tmp_path)
    assert not first.replaced and first.rows["raw.checkout_events"] == 30 and first.rows["raw.orders"] == 30
    assert export_raw_parquet(warehouse, tmp_path).rows["raw.checkout_events"] == 0  # nothing new
    # One more day, plus a late event of an earlier day (into a date folder that exists already).
    _load(warehouse, SECOND_LOAD, 30, 5, "2026-03-20")
    _load(warehouse, SECOND_LOAD, 35, 1, "2026-03-19")
    second = export_raw_parquet(warehouse, tmp_path)
    assert not second.replaced
    assert second.rows["raw.checkout_events"] == 6 and second.rows["raw.orders"] == 6
    assert second.rows["audit.load_ledger"] == 0  # the audit tables are replaced whole (empty here)
    _assert_copy_equals_warehouse(warehouse, tmp_path)
    days = sorted(p.name for p in (tmp_path / "checkout_events").iterdir())
    assert days == ["event_date=2026-03-19", "event_date=2026-03-20"]
    assert len(list((tmp_path / "checkout_events" / "event_date=2026-03-19").glob("*.parquet"))) == 2


def test_a_full_export_sends_everything_again(warehouse, tmp_path):
    export_raw_parquet(warehouse, tmp_path)
    again = export_raw_parquet(warehouse, tmp_path, full=True)
    assert again.replaced and again.rows["raw.checkout_events"] == 30
    _assert_copy_equals_warehouse(warehouse, tmp_path)


def test_a_copy_out_of_step_with_the_warehouse_is_replaced(warehouse, tmp_path):
    export_raw_parquet(warehouse, tmp_path)
    # The warehouse rebuilt from the same files at another time: its rows are not the copy's.
    rebuilt = duckdb.connect()
    ensure_tables(rebuilt)
    _load(rebuilt, SECOND_LOAD, 0, 20, "2026-03-19")
    replaced = export_raw_parquet(rebuilt, tmp_path)
    assert replaced.replaced and "not the warehouse's rows" in replaced.reason
    assert replaced.rows["raw.checkout_events"] == 20
    _assert_copy_equals_warehouse(rebuilt, tmp_path)


def test_a_half_written_copy_is_out_of_step(warehouse):
    # 29 of the 30 rows of the first load: a copy that failed half-way gets everything again.
    assert plan_export(warehouse, {"raw.checkout_events": HeldRows(29, FIRST_LOAD)}, full=False).replace
    assert not plan_export(warehouse, {"raw.checkout_events": HeldRows(30, FIRST_LOAD)}, full=False).replace
    # An engine holding nothing is in step with nothing: every row is new to it.
    empty = plan_export(warehouse, {}, full=False)
    assert not empty.replace and empty.since == {"raw.checkout_events": None, "raw.orders": None}


def test_a_full_export_follows_a_changed_dbt_project_or_window_or_no_build_on_the_target(tmp_path):
    """The publish step asks for everything when the models will be rebuilt from scratch by other rules
    (pipelines.engines.dagster.full_refresh_reason_on, read by the publish and the dbt step alike; the
    dbt step also rebuilds after a build that did not succeed: tests/engines/test_engines.py)."""
    from pipelines.core.settings import Settings
    from pipelines.core.warehouse import connect
    from pipelines.dbt_build import build_fingerprint
    from pipelines.engines.dagster import full_refresh_reason_on
    from pipelines.ingest.ledger import ensure_tables, record_successful_run
    from pipelines.resources import WarehouseResource

    settings = Settings.from_env(None, tmp_path / "warehouse.duckdb")
    warehouse = WarehouseResource.from_settings(settings)

    def needs_full_refresh_on(target: str, window: int) -> bool:
        return full_refresh_reason_on(target, warehouse, window, unsucceeded_builds=False) is not None

    assert needs_full_refresh_on("postgres", 30)  # nothing built on the target yet
    with connect(settings.warehouse) as con:
        ensure_tables(con)
        record_successful_run(con, "r1", "built on postgres", f"postgres:{build_fingerprint(30)}")
        record_successful_run(con, "r2", "published", build_fingerprint(30))  # a DuckDB run, later
    assert not needs_full_refresh_on("postgres", 30)
    assert needs_full_refresh_on("postgres", 14)  # another conversion window
    assert needs_full_refresh_on("spark", 30)  # another target
