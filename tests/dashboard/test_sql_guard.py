"""The SQL page's executor: reads only; every forbidden kind of statement is refused and leaves no trace."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import duckdb
import pytest

from pipelines.core.sql_guard import (
    QueryError,
    QueryRefused,
    QueryTimeout,
    connect_readonly,
    run_readonly_query,
)


def _snapshot(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir()) if p.is_file()}


@pytest.fixture
def sandbox(writable_copy, tmp_path, monkeypatch):
    """A writable copy of the published file (so a write would succeed if it were let through), a secret
    file outside the warehouse, and the working directory in the sandbox (relative paths land there)."""
    secret = tmp_path / "secret.csv"
    secret.write_text("password\nhunter2-outside-the-warehouse\n")
    monkeypatch.chdir(tmp_path)
    return writable_copy, secret


def forbidden(secret: Path, out: Path) -> dict[str, str]:
    return {
        "insert": "INSERT INTO marts.kpi_targets VALUES ('x', 'week', 1, 'higher_is_better')",
        "update": "UPDATE marts.kpi_weekly SET first_orders = 999",
        "delete": "DELETE FROM marts.fct_orders",
        "create table": "CREATE TABLE marts.evil AS SELECT 1",
        "create temp table": "CREATE TEMP TABLE scratch AS SELECT 1",
        "create view": "CREATE VIEW marts.v AS SELECT 1",
        "create macro": "CREATE MACRO m(x) AS x",
        "drop": "DROP TABLE marts.kpi_weekly",
        "alter": "ALTER TABLE marts.kpi_weekly ADD COLUMN x INTEGER",
        "attach file": f"ATTACH '{out.with_suffix('.duckdb')}' AS other",
        "attach memory": "ATTACH ':memory:' AS scratch",
        "detach": "DETACH marts",
        "copy to": f"COPY marts.fct_orders TO '{out}'",
        "copy from": f"COPY marts.kpi_targets FROM '{secret}'",
        "copy select": f"COPY (SELECT 1) TO '{out}' (FORMAT parquet)",
        "export": f"EXPORT DATABASE '{out.parent / 'export'}'",
        "install": "INSTALL httpfs",
        "load": "LOAD httpfs",
        "set": "SET enable_external_access = true",
        "reset": "RESET lock_configuration",
        "set variable": "SET VARIABLE v = 1",
        "pragma setting": "PRAGMA threads = 1",
        "checkpoint": "CHECKPOINT",
        "vacuum": "VACUUM",
        "read file": f"SELECT * FROM read_csv('{secret}')",
        "read text": f"SELECT * FROM read_text('{secret}')",
        "replacement scan": f"SELECT * FROM '{secret}'",
        "glob": f"SELECT * FROM glob('{secret.parent}/*')",
        "url": "SELECT * FROM read_parquet('https://example.com/x.parquet')",
        "write via multi": f"SELECT 1; COPY (SELECT 1) TO '{out}'",
        "transaction": "BEGIN TRANSACTION",
    }


def test_every_forbidden_statement_is_refused_and_leaves_no_trace(sandbox):
    published, secret = sandbox
    directory = published.parent
    out = directory / "written.csv"
    before_files = _snapshot(directory)
    before_tables = _read_all(published)
    for name, sql in forbidden(secret, out).items():
        with pytest.raises(QueryRefused) as refused:
            run_readonly_query(published, sql, row_limit=100, timeout_s=10)
        message = str(refused.value)
        assert message.startswith(("refused", "one statement")), (name, message)
        assert "hunter2" not in message, name
    assert _snapshot(directory) == before_files  # no file written or changed, the warehouse included
    assert not out.exists() and not (directory / "export").exists()
    assert _read_all(published) == before_tables


def test_enforced_by_duckdb_not_only_by_the_statement_check(sandbox):
    """Bypassing run_readonly_query's statement-type check, the connection itself still refuses."""
    published, secret = sandbox
    before = _snapshot(published.parent)
    attempts = [
        "CREATE TABLE marts.evil AS SELECT 1",
        "INSERT INTO marts.kpi_targets VALUES ('x', 'week', 1, 'higher_is_better')",
        f"COPY marts.fct_orders TO '{published.parent / 'x.csv'}'",
        f"SELECT * FROM read_csv('{secret}')",
        f"ATTACH '{published.parent / 'y.duckdb'}' AS y",
        "SET enable_external_access = true",
        "SET lock_configuration = false",
        "INSTALL httpfs",
        "LOAD httpfs",
    ]
    for sql in attempts:
        with connect_readonly(published) as con, pytest.raises(duckdb.Error):
            con.execute(sql).fetchall()
    assert _snapshot(published.parent) == before


def test_reads_work_with_row_limit(published):
    table, truncated = run_readonly_query(published, "SELECT * FROM marts.kpi_daily ORDER BY period_start", 5, 10)
    assert table.num_rows == 5 and truncated
    table, truncated = run_readonly_query(published, "SELECT count(*) AS n FROM marts.fct_checkouts", 5, 10)
    assert table.column("n").to_pylist() == [22] and not truncated
    for sql in ("DESCRIBE marts.kpi_weekly", "SHOW TABLES", "SUMMARIZE marts.kpi_monthly",
                "EXPLAIN SELECT * FROM marts.kpi_weekly", "WITH x AS (SELECT 1 AS a) SELECT * FROM x",
                "PRAGMA database_list"):
        run_readonly_query(published, sql, 100, 10)


def test_time_limit_interrupts(published):
    with pytest.raises(QueryTimeout):
        run_readonly_query(published, "SELECT count(*) FROM range(100000000000) a", 10, 0.5)


def test_errors_are_clear(published, tmp_path):
    with pytest.raises(QueryError, match="does not exist"):
        run_readonly_query(published, "SELECT * FROM marts.nope", 10, 10)
    with pytest.raises(QueryError, match="empty"):
        run_readonly_query(published, "  ;", 10, 10)
    with pytest.raises(FileNotFoundError, match="no published warehouse"):
        run_readonly_query(tmp_path / "missing.duckdb", "SELECT 1", 10, 10)


def _read_all(path: Path) -> dict:
    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = con.execute("SELECT table_schema, table_name FROM information_schema.tables ORDER BY 1, 2").fetchall()
        return {f"{s}.{t}": con.execute(f'SELECT * FROM "{s}"."{t}" ORDER BY ALL').fetchall() for s, t in tables}
    finally:
        con.close()


def test_the_published_file_is_never_opened_for_writing(published):
    assert not os.access(published, os.W_OK) or os.geteuid() == 0  # the fixture is chmod 444
    run_readonly_query(published, "SELECT 1", 1, 5)
