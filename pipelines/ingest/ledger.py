"""DDL of the raw and audit tables the ingestion writes, and the ledger lookups."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb

from pipelines.ingest.contract import SOURCES

SQL_TYPES = {
    "string": "VARCHAR",
    "timestamp": "TIMESTAMP",
    "integer": "INTEGER",
    "decimal": "DECIMAL(38, 6)",
    "boolean": "BOOLEAN",
    "currency": "VARCHAR",
}

LINEAGE_COLUMNS = "_file_path VARCHAR NOT NULL, _row_number BIGINT NOT NULL, _loaded_at TIMESTAMP NOT NULL, _run_id VARCHAR"

AUDIT_DDL = """
CREATE SCHEMA IF NOT EXISTS audit;
CREATE TABLE IF NOT EXISTS audit.load_ledger (
  source VARCHAR NOT NULL, file_path VARCHAR NOT NULL, file_sha256 VARCHAR, status VARCHAR NOT NULL,
  reason VARCHAR, rows_read BIGINT NOT NULL, rows_loaded BIGINT NOT NULL, rows_rejected BIGINT NOT NULL,
  duplicates_dropped BIGINT NOT NULL, loaded_at TIMESTAMP NOT NULL, run_id VARCHAR
);
CREATE TABLE IF NOT EXISTS audit.rejected_rows (
  source VARCHAR NOT NULL, file_path VARCHAR NOT NULL, row_number BIGINT, reason VARCHAR NOT NULL,
  raw_record VARCHAR, rejected_at TIMESTAMP NOT NULL, run_id VARCHAR
);
CREATE TABLE IF NOT EXISTS audit.pipeline_runs (
  run_id VARCHAR NOT NULL, started_at TIMESTAMP NOT NULL, finished_at TIMESTAMP, status VARCHAR NOT NULL,
  message VARCHAR, files_loaded BIGINT, files_rejected BIGINT, rows_loaded BIGINT, rows_rejected BIGINT,
  build_fingerprint VARCHAR
);
"""


def raw_table_ddl(source_name: str) -> str:
    source = SOURCES[source_name]
    columns = []
    for c in source.columns:
        not_null = " NOT NULL" if c.required or c.name == "updated_at" else ""
        columns.append(f"{c.name} {SQL_TYPES[c.kind]}{not_null}")
    return f"CREATE TABLE IF NOT EXISTS raw.{source.name} ({', '.join(columns)}, {LINEAGE_COLUMNS})"


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS raw")
    for name in SOURCES:
        con.execute(raw_table_ddl(name))
    con.execute(AUDIT_DDL)


def ledgered_paths(con: duckdb.DuckDBPyConnection) -> set[str]:
    """Files already recorded: loaded or rejected, they are never read again."""
    return {row[0] for row in con.execute("SELECT file_path FROM audit.load_ledger").fetchall()}


def last_published_fingerprint(con: duckdb.DuckDBPyConnection) -> str | None:
    """The dbt build fingerprint of the last successful, published run."""
    rows = con.execute(
        "SELECT build_fingerprint FROM audit.pipeline_runs WHERE status = 'success' ORDER BY finished_at DESC LIMIT 1"
    ).fetchall()
    return rows[0][0] if rows else None


def record_successful_run(con: duckdb.DuckDBPyConnection, run_id: str, message: str, build_fingerprint: str) -> None:
    """One audit.pipeline_runs row for a finished run, its counts taken from the run's ledger rows."""
    now = datetime.now(UTC).replace(tzinfo=None)
    con.execute(
        """
        INSERT INTO audit.pipeline_runs
        SELECT ?, coalesce(min(loaded_at), ?), ?, 'success', ?, count(*) FILTER (WHERE status = 'loaded'),
               count(*) FILTER (WHERE status = 'rejected'), coalesce(sum(rows_loaded), 0),
               coalesce(sum(rows_rejected), 0), ?
        FROM audit.load_ledger WHERE run_id = ?
        """,
        [run_id, now, now, message, build_fingerprint, run_id],
    )
