"""pipelines/publish.py: the published copy equals the warehouse's public tables (watermarks left out),
whether it was written afresh or brought up to date from the last copy, and it falls back to a fresh
copy whenever the last one cannot be trusted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from pipelines.core.settings import published_path
from pipelines.core.warehouse import connect
from pipelines.publish import WHOLE_COPY_SHARE, publish, spare_path

FACTS = ("marts.fct_orders", "marts.fct_checkouts")


@pytest.fixture
def manifest(tmp_path) -> Path:
    """The two facts as incremental models with their unique keys, the way dbt's manifest has them."""
    nodes = {
        f"model.p.{name}": {
            "resource_type": "model", "name": name, "schema": "marts", "description": f"{name} rows",
            "config": {"schema": "marts", "materialized": "incremental", "unique_key": key},
            "columns": {"status": {"name": "status", "description": "current status"}},
        }
        for name, key in (("fct_orders", "order_id"), ("fct_checkouts", ["checkout_id"]))
    }
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({"nodes": nodes, "sources": {}}))
    return path


@pytest.fixture
def warehouse(tmp_path) -> Path:
    path = tmp_path / "warehouse.duckdb"
    with connect(path) as con:
        con.execute("CREATE SCHEMA marts")
        con.execute("CREATE SCHEMA audit")
        # 100 orders and 100 checkouts built by the first load; a small KPI table; an audit table.
        for table, key in (("fct_orders", "order_id"), ("fct_checkouts", "checkout_id")):
            con.execute(
                f"CREATE TABLE marts.{table} AS SELECT 'k' || i AS {key}, 'completed' AS status, "
                "TIMESTAMP '2026-01-01 00:00:00' AS _inputs_loaded_at FROM range(100) t(i)"
            )
        con.execute("CREATE TABLE marts.kpi_daily AS SELECT DATE '2026-01-01' AS period_start, 0.5 AS rate")
        con.execute("CREATE TABLE audit.pipeline_runs AS SELECT 'r1' AS run_id")
    return path


def _publish(warehouse: Path, manifest: Path, fingerprint: str = "build-1"):
    with connect(warehouse) as con:
        return publish(con, warehouse, manifest, fingerprint)


def _rewrite(warehouse: Path, table: str, key: str, keys: list[int], status: str, loaded_at: str) -> None:
    """What a dbt delete+insert does: the keys' rows replaced, stamped with the newer load."""
    listed = ", ".join(f"'k{i}'" for i in keys)
    with connect(warehouse) as con:
        con.execute(f"DELETE FROM {table} WHERE {key} IN ({listed})")
        con.execute(
            f"INSERT INTO {table} SELECT 'k' || i, ?, CAST(? AS TIMESTAMP) FROM range(200) t(i) "
            f"WHERE 'k' || i IN ({listed})",
            [status, loaded_at],
        )


def _assert_copy_equals_warehouse(warehouse: Path) -> None:
    con = duckdb.connect()
    con.execute(f"ATTACH '{warehouse}' AS w (READ_ONLY)")
    con.execute(f"ATTACH '{published_path(warehouse)}' AS p (READ_ONLY)")
    for table in (*FACTS, "marts.kpi_daily", "audit.pipeline_runs"):
        published = f"p.{table}"
        columns = [r[0] for r in con.execute(f"SELECT * FROM {published} LIMIT 0").description]
        assert "_inputs_loaded_at" not in columns
        listed = ", ".join(columns)
        for a, b in ((f"w.{table}", published), (published, f"w.{table}")):
            assert con.execute(f"SELECT {listed} FROM {a} EXCEPT ALL SELECT {listed} FROM {b}").fetchall() == [], table
    con.close()


def test_first_publish_copies_every_table_and_records_the_watermarks(warehouse, manifest):
    summary = _publish(warehouse, manifest)
    assert sorted(summary.copied) == ["audit.pipeline_runs", *sorted(FACTS), "marts.kpi_daily"]
    assert summary.updated == {}
    _assert_copy_equals_warehouse(warehouse)
    con = duckdb.connect(str(published_path(warehouse)), read_only=True)
    recorded = con.execute("SELECT table_name, inputs_loaded_at FROM meta.published_tables ORDER BY ALL").fetchall()
    described = con.execute("SELECT count(*) FROM meta.column_descriptions WHERE table_name = 'fct_orders'").fetchall()
    con.close()
    assert [(t, str(w)) for t, w in recorded] == [
        ("fct_checkouts", "2026-01-01 00:00:00"), ("fct_orders", "2026-01-01 00:00:00"),
        ("kpi_daily", "None"), ("pipeline_runs", "None"),
    ]
    assert described == [(2,)]


def test_next_publish_replaces_only_the_rewritten_keys(warehouse, manifest):
    _publish(warehouse, manifest)
    # A later load rewrites 3 orders (one of them new) and 1 checkout; the KPI table is rebuilt.
    _rewrite(warehouse, "marts.fct_orders", "order_id", [5, 6, 150], "refunded", "2026-01-02 00:00:00")
    _rewrite(warehouse, "marts.fct_checkouts", "checkout_id", [7], "abandoned", "2026-01-02 00:00:00")
    with connect(warehouse) as con:
        con.execute("UPDATE marts.kpi_daily SET rate = 0.75")
        con.execute("INSERT INTO audit.pipeline_runs VALUES ('r2')")

    summary = _publish(warehouse, manifest)

    assert summary.updated == {"marts.fct_orders": 3, "marts.fct_checkouts": 1}
    assert sorted(summary.copied) == ["audit.pipeline_runs", "marts.kpi_daily"]
    _assert_copy_equals_warehouse(warehouse)
    con = duckdb.connect(str(published_path(warehouse)), read_only=True)
    assert con.execute("SELECT count(*) FROM marts.fct_orders WHERE status = 'refunded'").fetchall() == [(3,)]
    assert con.execute("SELECT max(inputs_loaded_at)::VARCHAR FROM meta.published_tables").fetchall() == [
        ("2026-01-02 00:00:00",)
    ]
    con.close()


def test_a_full_refresh_writes_the_copy_afresh(warehouse, manifest):
    _publish(warehouse, manifest)
    share = int(100 * WHOLE_COPY_SHARE) + 1
    _rewrite(warehouse, "marts.fct_orders", "order_id", list(range(share)), "refunded", "2026-01-02 00:00:00")
    summary = _publish(warehouse, manifest)
    assert summary.updated == {}
    assert len(summary.copied) == 4
    _assert_copy_equals_warehouse(warehouse)


def test_a_build_by_another_dbt_project_writes_the_copy_afresh(warehouse, manifest):
    _publish(warehouse, manifest)
    # Another conversion window rebuilt every row from the same inputs: the watermarks did not move.
    with connect(warehouse) as con:
        con.execute("UPDATE marts.fct_checkouts SET status = 'converted_in_7_days'")
    summary = _publish(warehouse, manifest, fingerprint="build-2")
    assert summary.updated == {}
    _assert_copy_equals_warehouse(warehouse)
    con = duckdb.connect(str(published_path(warehouse)), read_only=True)
    assert con.execute("SELECT build_fingerprint FROM meta.published").fetchall() == [("build-2",)]
    con.close()


def test_changed_columns_write_the_copy_afresh(warehouse, manifest):
    _publish(warehouse, manifest)
    with connect(warehouse) as con:
        con.execute("ALTER TABLE marts.fct_checkouts ADD COLUMN device VARCHAR DEFAULT 'mobile'")
    summary = _publish(warehouse, manifest)
    assert summary.updated == {}
    _assert_copy_equals_warehouse(warehouse)


def test_a_key_gone_from_the_warehouse_is_not_left_in_the_copy(warehouse, manifest):
    _publish(warehouse, manifest)
    # A row deleted without a rewrite cannot be seen through the watermark: the row counts differ,
    # so the copy is written afresh rather than published with a row the warehouse no longer has.
    with connect(warehouse) as con:
        con.execute("DELETE FROM marts.fct_orders WHERE order_id = 'k9'")
    _rewrite(warehouse, "marts.fct_orders", "order_id", [1], "refunded", "2026-01-02 00:00:00")
    summary = _publish(warehouse, manifest)
    assert summary.updated == {}
    _assert_copy_equals_warehouse(warehouse)


def test_a_table_dropped_from_the_warehouse_leaves_the_copy(warehouse, manifest):
    _publish(warehouse, manifest)
    with connect(warehouse) as con:
        con.execute("DROP TABLE marts.kpi_daily")
    _publish(warehouse, manifest)
    con = duckdb.connect(str(published_path(warehouse)), read_only=True)
    tables = con.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts'").fetchall()
    con.close()
    assert sorted(tables) == [("fct_checkouts",), ("fct_orders",)]


def _two_publishes_with_a_rewrite(warehouse: Path, manifest: Path) -> None:
    """Publish, rewrite 2 orders, publish again: the first copy is now the spare."""
    assert _publish(warehouse, manifest).started_from == "nothing"
    _rewrite(warehouse, "marts.fct_orders", "order_id", [1, 2], "refunded", "2026-01-02 00:00:00")
    assert _publish(warehouse, manifest).started_from == "last copy"
    assert spare_path(published_path(warehouse)).exists()


def _spare_watermark(warehouse: Path) -> str:
    con = duckdb.connect(str(spare_path(published_path(warehouse))), read_only=True)
    try:
        return con.execute("SELECT max(inputs_loaded_at)::VARCHAR FROM meta.published_tables").fetchall()[0][0]
    finally:
        con.close()


def test_the_next_publish_updates_the_spare_in_place(warehouse, manifest):
    _two_publishes_with_a_rewrite(warehouse, manifest)
    assert _spare_watermark(warehouse) == "2026-01-01 00:00:00"  # the first copy
    _rewrite(warehouse, "marts.fct_orders", "order_id", [3], "refunded", "2026-01-03 00:00:00")
    _rewrite(warehouse, "marts.fct_checkouts", "checkout_id", [4], "abandoned", "2026-01-03 00:00:00")

    summary = _publish(warehouse, manifest)

    # The spare (the first copy) caught up with both builds: the orders of both, the checkout of the last.
    assert summary.started_from == "spare"
    assert summary.updated == {"marts.fct_orders": 3, "marts.fct_checkouts": 1}
    _assert_copy_equals_warehouse(warehouse)
    assert _spare_watermark(warehouse) == "2026-01-02 00:00:00"  # the second copy is the spare now


def test_a_spare_another_process_reads_is_not_written(warehouse, manifest):
    _two_publishes_with_a_rewrite(warehouse, manifest)
    spare = spare_path(published_path(warehouse))
    # A reader that opened the published copy before it was replaced still reads that file (the spare).
    reader = subprocess.Popen(
        [sys.executable, "-c", (
            "import duckdb, sys; con = duckdb.connect(sys.argv[1], read_only=True); print('ready', flush=True); "
            "sys.stdin.readline(); "
            "print(con.execute(\"SELECT count(*) FROM marts.fct_orders WHERE status = 'refunded'\").fetchall()[0][0])"
        ), str(spare)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert reader.stdout.readline().strip() == "ready"
        _rewrite(warehouse, "marts.fct_orders", "order_id", [3], "refunded", "2026-01-03 00:00:00")
        summary = _publish(warehouse, manifest)
        assert summary.started_from == "last copy"
        _assert_copy_equals_warehouse(warehouse)
        out, _ = reader.communicate("go\n", timeout=60)
        assert out.strip() == "0"  # the reader's copy (the first) is intact: no refunded order yet
    finally:
        reader.kill()


def test_a_spare_this_process_has_open_is_not_written(warehouse, manifest):
    _two_publishes_with_a_rewrite(warehouse, manifest)
    reader = duckdb.connect(str(spare_path(published_path(warehouse))), read_only=True)
    try:
        _rewrite(warehouse, "marts.fct_orders", "order_id", [3], "refunded", "2026-01-03 00:00:00")
        assert _publish(warehouse, manifest).started_from == "last copy"
        _assert_copy_equals_warehouse(warehouse)
        assert reader.execute("SELECT count(*) FROM marts.fct_orders WHERE status = 'refunded'").fetchall() == [(0,)]
    finally:
        reader.close()


def test_a_spare_from_another_build_is_not_updated(warehouse, manifest):
    _two_publishes_with_a_rewrite(warehouse, manifest)
    with connect(warehouse) as con:
        con.execute("UPDATE marts.fct_checkouts SET status = 'converted_in_7_days'")
    summary = _publish(warehouse, manifest, fingerprint="build-2")
    assert (summary.started_from, summary.updated) == ("nothing", {})
    _assert_copy_equals_warehouse(warehouse)
