"""DDL of the raw and audit tables the ingestion writes (from their columns in pipelines/core/contract.py),
and the ledger lookups."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import duckdb
import pyarrow as pa

from pipelines.core.contract import AUDIT_TABLES, LOADED, SOURCES, TableColumn

# DuckDB's type of each kind of the contract.
SQL_TYPES = {
    "string": "VARCHAR",
    "timestamp": "TIMESTAMP",
    "integer": "INTEGER",
    "bigint": "BIGINT",
    "decimal": "DECIMAL(38, 6)",
    "boolean": "BOOLEAN",
    "currency": "VARCHAR",
}


def _columns_ddl(columns: tuple[TableColumn, ...]) -> str:
    return ", ".join(f"{c.name} {SQL_TYPES[c.kind]}{' NOT NULL' if c.not_null else ''}" for c in columns)


def raw_table_ddl(source_name: str) -> str:
    source = SOURCES[source_name]
    return f"CREATE TABLE IF NOT EXISTS raw.{source.name} ({_columns_ddl(source.raw_columns)})"


def audit_ddl() -> str:
    statements = ["CREATE SCHEMA IF NOT EXISTS audit"]
    for name, columns in AUDIT_TABLES.items():
        statements.append(f"CREATE TABLE IF NOT EXISTS audit.{name} ({_columns_ddl(columns)})")
    # Warehouses created before file versions were recorded.
    statements += [
        "ALTER TABLE audit.load_ledger ADD COLUMN IF NOT EXISTS file_size BIGINT",
        "ALTER TABLE audit.load_ledger ADD COLUMN IF NOT EXISTS file_modified_at TIMESTAMP",
    ]
    return ";\n".join(statements)


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS raw")
    for name in SOURCES:
        con.execute(raw_table_ddl(name))
    con.execute(audit_ddl())


@dataclass
class PathHistory:
    """The versions of one landed path the ledger holds."""

    sha256s: set[str] = field(default_factory=set)
    # (file_size, file_modified_at in epoch microseconds) of each recorded version: a file whose size
    # and modification time match one of them is that version, and is not hashed again.
    stats: set[tuple[int, int]] = field(default_factory=set)
    loaded_sha256: str | None = None  # the version that was loaded, if one was


def ledger_history(con: duckdb.DuckDBPyConnection) -> dict[str, PathHistory]:
    """Every recorded path with its versions (one small query over the ledger)."""
    history: dict[str, PathHistory] = {}
    rows = con.execute(
        "SELECT file_path, file_sha256, status, file_size, epoch_us(file_modified_at) FROM audit.load_ledger"
    ).fetchall()
    for path, sha256, status, size, modified_us in rows:
        versions = history.setdefault(path, PathHistory())
        if sha256 is not None:
            versions.sha256s.add(sha256)
        if size is not None and modified_us is not None:
            versions.stats.add((size, modified_us))
        if status == LOADED:
            versions.loaded_sha256 = sha256 or ""
    return history


def record_file_stats(con: duckdb.DuckDBPyConnection, files: list[tuple[str, str, int, datetime]]) -> None:
    """Size and modification time of recorded versions whose rows lack them (rows written before these
    columns existed), from files found to hold those bytes: an upgraded warehouse hashes each file once,
    not on every run. Rows that have them keep them (a touched file is hashed again on the next run)."""
    stats = pa.table(
        {
            "file_path": pa.array([f[0] for f in files], pa.string()),
            "file_sha256": pa.array([f[1] for f in files], pa.string()),
            "file_size": pa.array([f[2] for f in files], pa.int64()),
            "file_modified_at": pa.array([f[3] for f in files], pa.timestamp("us")),
        }
    )
    con.register("file_stats", stats)
    try:
        con.execute(
            """
            UPDATE audit.load_ledger l SET file_size = s.file_size, file_modified_at = s.file_modified_at
            FROM file_stats s
            WHERE l.file_path = s.file_path AND l.file_sha256 = s.file_sha256 AND l.file_size IS NULL
            """
        )
    finally:
        con.unregister("file_stats")


def build_label(target: str, fingerprint: str) -> str:
    """What audit.pipeline_runs records of a build: the fingerprint, prefixed by the engine unless DuckDB,
    so a build on one engine is never taken for a build on another."""
    return fingerprint if target == "duckdb" else f"{target}:{fingerprint}"


def last_successful_build(con: duckdb.DuckDBPyConnection, target: str = "duckdb") -> tuple[str, datetime] | None:
    """(build label, finished_at) of the last successful run that built the models on `target`."""
    on_target = "build_fingerprint NOT LIKE '%:%'" if target == "duckdb" else "starts_with(build_fingerprint, ?)"
    rows = con.execute(
        f"SELECT build_fingerprint, finished_at FROM audit.pipeline_runs WHERE status = 'success' AND {on_target} "
        "ORDER BY finished_at DESC LIMIT 1",
        [] if target == "duckdb" else [f"{target}:"],
    ).fetchall()
    return rows[0] if rows else None


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
