"""DDL of the raw and audit tables the ingestion writes, the ledger's statuses and reasons, and the
ledger lookups."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import duckdb
import pyarrow as pa

from pipelines.ingest.contract import SOURCES

# Ledger statuses (the spec's "Every file accounted for"): one ledger row per version of a file.
LOADED = "loaded"  # read: its rows are loaded, rejected row by row, or dropped as duplicates
REJECTED = "rejected"  # rejected whole: unreadable, a required column missing, or changed after it was loaded
EMPTY = "empty"  # 0 bytes: nothing to read; a later version with bytes is read like a new file
IGNORED = "ignored"  # not a contract file (another extension, or outside the source folders)

# Reasons the dashboard and the data checks match on: keep these texts stable.
CHANGED_AFTER_LOADED = "file changed after it was loaded"
EMPTY_REASON = "file is empty (0 bytes)"
NOT_A_CONTRACT_FILE = "not a contract file:"
# `source` of a file outside the two source folders (the ledger column is NOT NULL, so '' and not NULL).
NO_SOURCE = ""


def changed_reason(loaded_sha256: str, this_sha256: str) -> str:
    return (
        f"{CHANGED_AFTER_LOADED} (loaded version sha256 {loaded_sha256[:12]}..., this version "
        f"{this_sha256[:12]}...): land corrections as a new file"
    )


def ignored_reason(source: str) -> str:
    """Why a file is ignored: the suffixes its source folder accepts, or that it is outside them."""
    if source in SOURCES:
        return f"{NOT_A_CONTRACT_FILE} {source} accepts {', '.join(SOURCES[source].suffixes)}"
    return f"{NOT_A_CONTRACT_FILE} outside the source folders {' and '.join(f'{s}/' for s in SOURCES)}"


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
  duplicates_dropped BIGINT NOT NULL, loaded_at TIMESTAMP NOT NULL, run_id VARCHAR,
  file_size BIGINT, file_modified_at TIMESTAMP
);
-- Warehouses created before file versions were recorded.
ALTER TABLE audit.load_ledger ADD COLUMN IF NOT EXISTS file_size BIGINT;
ALTER TABLE audit.load_ledger ADD COLUMN IF NOT EXISTS file_modified_at TIMESTAMP;
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
