"""Validated raw rows out of the DuckDB warehouse as Parquet, for engines that read files (Spark).

One folder per source under `out_dir` (`checkout_events/`, `orders/`, `load_ledger/`,
`rejected_rows/`); the raw sources are partitioned by UTC date (`event_date=YYYY-MM-DD/` from
`event_time`, `created_date=YYYY-MM-DD/` from `created_at`). Timestamps are written as UTC instants
(Parquet `isAdjustedToUTC=true`), which Spark reads as its TIMESTAMP. Written by DuckDB's COPY, set
based.

Only the rows the folders lack travel (pipelines.engines.increment): the new rows of the raw sources
are written as new files (`load_<uuid>_<n>.parquet`) moved into their date folders, beside the
files already there. A full export (asked for, or folders out of step with the warehouse) and the
audit tables write a whole folder beside the old one and swap it in, so a reader sees one or the other.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import duckdb

from pipelines.core.settings import Settings
from pipelines.engines.increment import APPENDED_TABLES, HeldRows, Published, plan_export
from pipelines.engines.schema import SOURCE_TABLES, SourceTable, quote

RAW_PARQUET_ENV = "FUNNEL_RAW_PARQUET_DIR"


def raw_parquet_dir(settings: Settings) -> Path:
    """$FUNNEL_RAW_PARQUET_DIR, else `<warehouse stem>.raw-parquet/` beside the warehouse."""
    configured = os.environ.get(RAW_PARQUET_ENV)
    if configured:
        return Path(configured).resolve()
    return settings.warehouse.with_name(f"{settings.warehouse.stem}.raw-parquet")


def export_query(table: SourceTable, condition: str = "") -> str:
    columns = []
    for name, kind in table.columns:
        if kind == "timestamp":
            columns.append(f"CAST({quote(name)} AS TIMESTAMPTZ) AS {quote(name)}")
        else:
            columns.append(quote(name))
    if table.partition:
        partition, source_column = table.partition
        columns.append(f"CAST({quote(source_column)} AS DATE) AS {quote(partition)}")
    return f"SELECT {', '.join(columns)} FROM {table.schema}.{quote(table.name)} {condition}".rstrip()


def export_raw_parquet(
    warehouse: duckdb.DuckDBPyConnection | Path | str, out_dir: Path | str, full: bool = False
) -> Published:
    """Write what the Parquet folders under `out_dir` lack of the warehouse's source tables (an open
    connection or a file, opened read-only); everything with `full`. Returns the rows written per table."""
    if isinstance(warehouse, duckdb.DuckDBPyConnection):
        return _export(warehouse, Path(out_dir), full)
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return _export(con, Path(out_dir), full)
    finally:
        con.close()


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


def held_parquet(con: duckdb.DuckDBPyConnection, out_dir: Path) -> dict[str, HeldRows]:
    """Rows and newest `_loaded_at` of each raw source's folder (a missing or empty folder holds nothing)."""
    held = {}
    for table in APPENDED_TABLES:
        folder = out_dir / table.name
        if not any(folder.rglob("*.parquet")):
            held[table.qualified] = HeldRows(0, None)
            continue
        rows, newest = con.execute(
            f"SELECT count(*), max(_loaded_at)::TIMESTAMP FROM read_parquet('{_sql_path(folder)}/**/*.parquet', "
            "hive_partitioning = false)"
        ).fetchone()
        held[table.qualified] = HeldRows(rows, newest)
    return held


def _export(con: duckdb.DuckDBPyConnection, out_dir: Path, full: bool) -> Published:
    con.execute("SET TimeZone = 'UTC'")
    out_dir.mkdir(parents=True, exist_ok=True)
    plan = plan_export(con, held_parquet(con, out_dir), full)
    counts = {}
    for table in SOURCE_TABLES:
        final = out_dir / table.name
        staging = out_dir / f".{table.name}.{uuid.uuid4().hex}.tmp"
        staging.mkdir()
        try:
            query = export_query(table, plan.condition(table))
            target = _sql_path(staging)
            if table.partition:
                options = (f"FORMAT parquet, PARTITION_BY ({quote(table.partition[0])}), OVERWRITE_OR_IGNORE, "
                           f"FILENAME_PATTERN 'load_{uuid.uuid4().hex}_{{i}}'")
            else:
                target += "/data_0.parquet"
                options = "FORMAT parquet"
            counts[table.qualified] = con.execute(f"COPY ({query}) TO '{target}' ({options})").fetchall()[0][0]
            if plan.appends(table):
                _move_files(staging, final)
            else:
                _swap(staging, final)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return Published(counts, plan.replace, plan.reason)


def _move_files(new: Path, final: Path) -> None:
    """Move the files under `new` into the same sub-folders of `final` (new names: nothing is overwritten)."""
    for path in sorted(new.rglob("*.parquet")):
        dest = final / path.relative_to(new)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, dest)


def _swap(new: Path, final: Path) -> None:
    old = final.with_name(f".{final.name}.{uuid.uuid4().hex}.old")
    if final.exists():
        os.replace(final, old)
    os.replace(new, final)
    shutil.rmtree(old, ignore_errors=True)
