"""dashboards.data keeps one read-only connection per published version: reused by every query, replaced
when a publish renames a new copy over the file (closed once no query uses it), locked down like
`connect_readonly`, and never giving an old copy to anyone after a publish (the SQL page included)."""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
from pathlib import Path

import duckdb
import pytest

from dashboards import connections, data
from pipelines.core import sql_guard
from pipelines.core.sql_guard import PublishedMissing, open_pinned, run_readonly_query


@pytest.fixture
def pool(monkeypatch):
    """Empty pool and caches; counts the connections opened."""
    connections.close_connections()
    data.st.cache_data.clear()
    opened: list[str] = []
    real = sql_guard.open_pinned

    def counting(path):
        opened.append(str(path))
        return real(path)

    monkeypatch.setattr(connections, "open_pinned", counting)
    yield opened
    connections.close_connections()
    data.st.cache_data.clear()


def _publish(source: Path, target: Path, as_of: str) -> None:
    """What pipelines/publish.py does: write a temporary file, rename it over the published one."""
    temporary = target.with_name(f".{target.name}.tmp")
    shutil.copyfile(source, temporary)
    temporary.chmod(0o644)
    con = duckdb.connect(str(temporary))
    con.execute("UPDATE marts.warehouse_as_of SET as_of = CAST(? AS TIMESTAMP)", [as_of])
    con.close()
    os.replace(temporary, target)


def _as_of(path: Path) -> str:
    return str(connections.query(path, "SELECT as_of FROM marts.warehouse_as_of").as_of[0])


def test_one_connection_per_version_reused_by_every_query(use_published, pool):
    data.status()
    data.kpis("week")
    data.funnel_totals(data.Filters(*data.dimension_values()["cohort_dates"]))
    assert connections.has_table("marts", "dash_checkout_steps") and not connections.has_table("marts", "nope")
    assert pool == [str(use_published)]


def test_a_publish_switches_to_the_new_copy_and_closes_the_old(published, tmp_path, monkeypatch, pool):
    target = tmp_path / "warehouse.published.duckdb"
    _publish(published, target, "2026-04-03 10:00:01")
    monkeypatch.setenv("FUNNEL_PUBLISHED", str(target))
    assert data.status().as_of.isoformat() == "2026-04-03T10:00:01"
    old = connections._POOL[str(target)]

    _publish(published, target, "2026-05-01 00:00:00")
    assert data.status().as_of.isoformat() == "2026-05-01T00:00:00"  # new version: cache missed, new copy read
    assert old.closed and connections._POOL[str(target)] is not old
    assert len(pool) == 2
    # the SQL page (a fresh connection per query) sees the new copy too
    table, _ = run_readonly_query(target, "SELECT CAST(as_of AS VARCHAR) AS a FROM marts.warehouse_as_of", 1, 10)
    assert table.column("a").to_pylist() == ["2026-05-01 00:00:00"]


def test_a_query_in_flight_keeps_its_version_until_it_ends(published, tmp_path, pool):
    target = tmp_path / "warehouse.published.duckdb"
    _publish(published, target, "2026-04-03 10:00:01")
    with connections._pinned(target) as held:  # a query of another session, still running
        _publish(published, target, "2026-05-01 00:00:00")
        assert _as_of(target) == "2026-05-01 00:00:00"
        # the old connection still works for its query, and the file it reads is the old inode
        assert not held.closed
        assert str(held.con.cursor().execute("SELECT as_of FROM marts.warehouse_as_of").fetchall()[0][0]) \
            == "2026-04-03 10:00:01"
        # while the old inode is held, a fresh connection by path (the SQL page) gets the new file
        table, _ = run_readonly_query(target, "SELECT CAST(as_of AS VARCHAR) AS a FROM marts.warehouse_as_of", 1, 10)
        assert table.column("a").to_pylist() == ["2026-05-01 00:00:00"]
    assert held.closed


def test_a_removed_copy_says_so_and_releases_the_file(published, tmp_path, monkeypatch, pool):
    target = tmp_path / "warehouse.published.duckdb"
    _publish(published, target, "2026-04-03 10:00:01")
    monkeypatch.setenv("FUNNEL_PUBLISHED", str(target))
    data.status()
    entry = connections._POOL[str(target)]
    target.unlink()
    with pytest.raises(PublishedMissing):
        connections.query(target, "SELECT 1")
    assert entry.closed and str(target) not in connections._POOL


def test_concurrent_sessions_across_publishes(published, tmp_path, pool):
    target = tmp_path / "warehouse.published.duckdb"
    _publish(published, target, "2026-04-03 10:00:00")
    errors: list[BaseException] = []
    seen: set[str] = set()

    def reader() -> None:
        try:
            for _ in range(40):
                seen.add(_as_of(target))
                assert len(connections.query(target, "SELECT * FROM marts.dash_funnel_daily")) > 0
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(6)]
    for t in threads:
        t.start()
    for minute in range(1, 6):
        _publish(published, target, f"2026-04-03 10:0{minute}:00")
    for t in threads:
        t.join()
    assert not errors, errors
    assert _as_of(target) == "2026-04-03 10:05:00"
    assert seen <= {f"2026-04-03 10:0{m}:00" for m in range(6)}
    assert sum(1 for e in [connections._POOL[str(target)]] if not e.closed) == 1


def _snapshot(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir()) if p.is_file()}


def test_the_pinned_connection_is_locked_down(writable_copy, tmp_path):
    """Even on a writable file, the long-lived connection cannot write, read other files or unlock.
    (In-memory session state, e.g. a TEMP table, is possible as with `connect_readonly`: this connection
    only ever runs the dashboard's own queries; user SQL goes through `run_readonly_query`.)"""
    secret = tmp_path / "secret.csv"
    secret.write_text("password\nhunter2\n")
    before = _snapshot(writable_copy.parent)
    attempts = [
        "CREATE TABLE marts.evil AS SELECT 1",
        "CREATE TABLE memory.main.evil AS SELECT 1",
        "INSERT INTO marts.kpi_targets VALUES ('x', 'week', 1, 'higher_is_better')",
        "UPDATE marts.kpi_weekly SET first_orders = 999",
        f"COPY marts.fct_orders TO '{tmp_path / 'x.csv'}'",
        f"SELECT * FROM read_csv('{secret}')",
        f"ATTACH '{tmp_path / 'y.duckdb'}' AS y",
        "DETACH published",
        "SET enable_external_access = true",
        "SET lock_configuration = false",
        "INSTALL httpfs",
        "LOAD httpfs",
    ]
    con = open_pinned(writable_copy)
    try:
        for sql in attempts:
            with pytest.raises(duckdb.Error):
                con.execute(sql).fetchall()
        con.execute("CHECKPOINT")  # allowed on a read-only attach, and a no-op: the snapshot below
        assert con.execute("SELECT count(*) FROM marts.fct_checkouts").fetchall() == [(22,)]
    finally:
        con.close()
    assert _snapshot(writable_copy.parent) == before
