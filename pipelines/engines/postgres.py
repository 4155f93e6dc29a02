"""PostgreSQL: connection from the libpq variables, bulk load of the raw rows with COPY, read-only queries.

Connection settings are the standard libpq environment variables (`PGHOST`, `PGPORT`, `PGUSER`,
`PGPASSWORD`, `PGDATABASE`, also `PGSSLMODE`, `PGPASSFILE`, ...): nothing is stored in the
repository. Every session is pinned to UTC (`-c timezone=UTC`).

The load is set based: DuckDB writes each source table as CSV once, and PostgreSQL reads it with
`COPY ... FROM STDIN`; the whole load is one transaction (tables truncated and refilled), so dbt and
readers see the previous rows or the new ones, never a half-loaded table.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from pipelines.engines.schema import KINDS, SOURCE_TABLES, SourceTable, quote

UTC_OPTIONS = "-c timezone=UTC"


@contextmanager
def connect(readonly: bool = False, **overrides) -> Iterator:
    """A psycopg2 connection from the libpq variables (plus `overrides`), in UTC; closed on exit."""
    import psycopg2

    params = {"options": UTC_OPTIONS, "connect_timeout": 10, **overrides}
    if "dbname" not in params and not os.environ.get("PGDATABASE"):
        params["dbname"] = "funnel"  # the profile's default too
    con = psycopg2.connect(**params)
    try:
        if readonly:
            con.set_session(readonly=True)
        yield con
    finally:
        con.close()


def create_table_ddl(table: SourceTable) -> str:
    columns = ", ".join(f"{quote(name)} {KINDS[kind][0]}" for name, kind in table.columns)
    return f"CREATE TABLE IF NOT EXISTS {table.schema}.{quote(table.name)} ({columns})"


def load_raw_postgres(warehouse: duckdb.DuckDBPyConnection | Path | str, **connect_args) -> dict[str, int]:
    """Copy every source table of the DuckDB warehouse (a connection, or a file opened read-only)
    into PostgreSQL (schemas `raw` and `audit`). Returns the rows loaded per table."""
    if isinstance(warehouse, duckdb.DuckDBPyConnection):
        return _load(warehouse, connect_args)
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return _load(con, connect_args)
    finally:
        con.close()


def _load(duck: duckdb.DuckDBPyConnection, connect_args: dict) -> dict[str, int]:
    duck.execute("SET TimeZone = 'UTC'")
    counts = {}
    # `with pg`: one transaction, committed at the end, rolled back on any error.
    with (
        tempfile.TemporaryDirectory(prefix="funnel-pg-load-") as folder,
        connect(**connect_args) as pg,
        pg,
        pg.cursor() as cur,
    ):
        for schema in sorted({t.schema for t in SOURCE_TABLES}):
            cur.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        for table in SOURCE_TABLES:
            names = ", ".join(quote(name) for name, _ in table.columns)
            csv_path = Path(folder) / f"{table.schema}.{table.name}.csv"
            duck.execute(
                f"COPY (SELECT {names} FROM {table.schema}.{quote(table.name)}) "
                f"TO '{csv_path}' (FORMAT csv, HEADER false)"
            )
            cur.execute(create_table_ddl(table))
            cur.execute(f"TRUNCATE {table.schema}.{quote(table.name)}")
            with csv_path.open("rb") as handle:
                cur.copy_expert(
                    f"COPY {table.schema}.{quote(table.name)} ({names}) FROM STDIN WITH (FORMAT csv)", handle
                )
            counts[table.qualified] = cur.rowcount
            csv_path.unlink()
        for table in SOURCE_TABLES:
            cur.execute(f"ANALYZE {table.schema}.{quote(table.name)}")
    return counts
