"""Validated raw rows out of the DuckDB warehouse as Parquet, for engines that read files (Spark).

One folder per source under `out_dir` (`checkout_events/`, `orders/`, `load_ledger/`,
`rejected_rows/`); the raw sources are partitioned by UTC date (`event_date=YYYY-MM-DD/` from
`event_time`, `created_date=YYYY-MM-DD/` from `created_at`). Timestamps are written as UTC instants
(Parquet `isAdjustedToUTC=true`), which Spark reads as its TIMESTAMP. Written by DuckDB's COPY, set
based; each folder is written beside the old one and swapped in, so a reader sees one or the other.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import duckdb

from pipelines.core.settings import Settings
from pipelines.engines.schema import SOURCE_TABLES, SourceTable, quote

RAW_PARQUET_ENV = "FUNNEL_RAW_PARQUET_DIR"


def raw_parquet_dir(settings: Settings) -> Path:
    """$FUNNEL_RAW_PARQUET_DIR, else `<warehouse stem>.raw-parquet/` beside the warehouse."""
    configured = os.environ.get(RAW_PARQUET_ENV)
    if configured:
        return Path(configured).resolve()
    return settings.warehouse.with_name(f"{settings.warehouse.stem}.raw-parquet")


def export_query(table: SourceTable) -> str:
    columns = []
    for name, kind in table.columns:
        if kind == "timestamp":
            columns.append(f"CAST({quote(name)} AS TIMESTAMPTZ) AS {quote(name)}")
        else:
            columns.append(quote(name))
    if table.partition:
        partition, source_column = table.partition
        columns.append(f"CAST({quote(source_column)} AS DATE) AS {quote(partition)}")
    return f"SELECT {', '.join(columns)} FROM {table.schema}.{quote(table.name)}"


def export_raw_parquet(warehouse: duckdb.DuckDBPyConnection | Path | str, out_dir: Path | str) -> dict[str, int]:
    """Write every source table of the warehouse (an open connection or a file, opened read-only) as
    Parquet under `out_dir`. Returns the rows written per table (`raw.checkout_events`: n, ...)."""
    if isinstance(warehouse, duckdb.DuckDBPyConnection):
        return _export(warehouse, Path(out_dir))
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        return _export(con, Path(out_dir))
    finally:
        con.close()


def _export(con: duckdb.DuckDBPyConnection, out_dir: Path) -> dict[str, int]:
    con.execute("SET TimeZone = 'UTC'")
    out_dir.mkdir(parents=True, exist_ok=True)
    counts = {}
    for table in SOURCE_TABLES:
        final = out_dir / table.name
        staging = out_dir / f".{table.name}.{uuid.uuid4().hex}.tmp"
        staging.mkdir()
        try:
            query = export_query(table)
            target = str(staging).replace("'", "''")
            if table.partition:
                options = f"FORMAT parquet, PARTITION_BY ({quote(table.partition[0])}), OVERWRITE_OR_IGNORE"
            else:
                target += "/data_0.parquet"
                options = "FORMAT parquet"
            counts[table.qualified] = con.execute(f"COPY ({query}) TO '{target}' ({options})").fetchall()[0][0]
            _swap(staging, final)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return counts


def _swap(new: Path, final: Path) -> None:
    old = final.with_name(f".{final.name}.{uuid.uuid4().hex}.old")
    if final.exists():
        os.replace(final, old)
    os.replace(new, final)
    shutil.rmtree(old, ignore_errors=True)
