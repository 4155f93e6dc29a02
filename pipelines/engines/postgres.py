"""PostgreSQL: connection from the libpq variables, bulk load of the raw rows with COPY, read-only queries.

Connection settings are the standard libpq environment variables (`PGHOST`, `PGPORT`, `PGUSER`,
`PGPASSWORD`, `PGDATABASE`, also `PGSSLMODE`, `PGPASSFILE`, ...); those unset take LIBPQ_DEFAULTS
(below), for this module and dbt's profile alike, and no credential is stored in the repository.
Every session runs with SESSION_OPTIONS (below): UTC, no JIT.

The load is set based: DuckDB writes the rows to send as CSV once, and PostgreSQL reads them with
`COPY ... FROM STDIN`. Only the raw rows the server lacks travel (pipelines.engines.increment); the
audit tables, and every table in a full load, are truncated and refilled. A full load also empties
the tables that carry a watermark (`_inputs_loaded_at`, the incremental models): they were built
from the rows it replaces, and an empty incremental table is rebuilt from all rows by the next build.
The whole load is one transaction, so dbt and readers see the previous rows or the new ones, never
a half-loaded table.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from pipelines.core.contract import CHECKOUT_EVENTS, ORDERS
from pipelines.dbt_build import WATERMARKED_TABLES
from pipelines.engines.increment import APPENDED_TABLES, HeldRows, Published, plan_export
from pipelines.engines.schema import KINDS, SOURCE_TABLES, SourceTable, quote

# What every session the pipeline opens on PostgreSQL sets (libpq `options`: the loader, `funnel sql`,
# dbt, the semantic layer): UTC, and no JIT compilation. The incremental models' queries touch few
# rows, but the planner cannot estimate their CTEs and subqueries, its costs pass `jit_above_cost`,
# and compiling took longer than running: int_checkouts_funnelled, one more day at 1M events,
# 2,028 ms with JIT (2,039 ms of it compiling) against 282 ms without (docs/engines.md).
SESSION_OPTIONS = "-c timezone=UTC -c jit=off"
# The libpq variables' values when unset, the one home of these defaults: the loader and `funnel sql`
# (connect) and dbt's profile (libpq_environment; profiles.yml has no fallbacks of its own) reach
# the same server with them.
LIBPQ_DEFAULTS = {"PGHOST": "127.0.0.1", "PGPORT": "5432", "PGUSER": "postgres", "PGDATABASE": "funnel"}
# What the incremental models look raw rows up by: a build's new rows by `_loaded_at`, the history of
# the checkouts and orders they touch by key and, for the events, from the earliest start on by
# `event_time`. PostgreSQL has no zone maps: without an index each lookup reads the whole table.
INDEXED_COLUMNS = {CHECKOUT_EVENTS.name: ("_loaded_at", "event_time", "checkout_id"), ORDERS.name: ("_loaded_at", "order_id")}


def session_options() -> str:
    """SESSION_OPTIONS, then the user's PGOPTIONS, which win where they set the same parameter (a
    PGOPTIONS that already starts with them, as the semantic layer leaves it, is returned as is)."""
    given = os.environ.get("PGOPTIONS", "")
    return given if given.startswith(SESSION_OPTIONS) else f"{SESSION_OPTIONS} {given}".strip()


def libpq_environment() -> dict[str, str]:
    """What dbt's PostgreSQL profile reads: the libpq variables of this process, LIBPQ_DEFAULTS for
    those unset, and PGOPTIONS with the session's settings (session_options)."""
    defaults = {name: os.environ.get(name, default) for name, default in LIBPQ_DEFAULTS.items()}
    return {**defaults, "PGOPTIONS": session_options()}


@contextmanager
def connect(readonly: bool = False, **overrides) -> Iterator:
    """A psycopg2 connection from the libpq variables (plus `overrides`), with the session's settings
    (session_options: UTC, no JIT); closed on exit.
    The password comes from PGPASSWORD or the password file, as libpq finds it."""
    import psycopg2

    env = libpq_environment()
    params = {"host": env["PGHOST"], "port": env["PGPORT"], "user": env["PGUSER"], "dbname": env["PGDATABASE"],
              "options": env["PGOPTIONS"], "connect_timeout": 10, **overrides}
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


def load_raw_postgres(
    warehouse: duckdb.DuckDBPyConnection | Path | str, full: bool = False, **connect_args
) -> Published:
    """Copy what PostgreSQL (schemas `raw` and `audit`) lacks of the DuckDB warehouse's source tables
    (a connection, or a file opened read-only); everything with `full`. Returns the rows sent per table."""
    if isinstance(warehouse, duckdb.DuckDBPyConnection):
        return _load(warehouse, full, connect_args)
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return _load(con, full, connect_args)
    finally:
        con.close()


def held_postgres(cur) -> dict[str, HeldRows]:
    """Rows and newest `_loaded_at` of each raw table on the server."""
    held = {}
    for table in APPENDED_TABLES:
        cur.execute(f"SELECT count(*), max(_loaded_at) FROM {table.schema}.{quote(table.name)}")
        rows, newest = cur.fetchone()
        held[table.qualified] = HeldRows(rows, newest)
    return held


def _empty_watermarked_tables(cur) -> None:
    cur.execute(WATERMARKED_TABLES)
    for schema, name in cur.fetchall():
        cur.execute(f"TRUNCATE {quote(schema)}.{quote(name)}")


def _load(duck: duckdb.DuckDBPyConnection, full: bool, connect_args: dict) -> Published:
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
            cur.execute(create_table_ddl(table))
            for column in INDEXED_COLUMNS.get(table.name, ()) if table.schema == "raw" else ():
                cur.execute(f"CREATE INDEX IF NOT EXISTS {quote(f'{table.name}_{column}')} "
                            f"ON {table.schema}.{quote(table.name)} ({quote(column)})")
        plan = plan_export(duck, held_postgres(cur), full)
        if plan.replace:
            _empty_watermarked_tables(cur)
        for table in SOURCE_TABLES:
            names = ", ".join(quote(name) for name, _ in table.columns)
            csv_path = Path(folder) / f"{table.schema}.{table.name}.csv"
            duck.execute(
                f"COPY (SELECT {names} FROM {table.schema}.{quote(table.name)} {plan.condition(table)}) "
                f"TO '{csv_path}' (FORMAT csv, HEADER false)"
            )
            if not plan.appends(table):
                cur.execute(f"TRUNCATE {table.schema}.{quote(table.name)}")
            with csv_path.open("rb") as handle:
                cur.copy_expert(
                    f"COPY {table.schema}.{quote(table.name)} ({names}) FROM STDIN WITH (FORMAT csv)", handle
                )
            counts[table.qualified] = cur.rowcount
            csv_path.unlink()
        for table in SOURCE_TABLES:
            cur.execute(f"ANALYZE {table.schema}.{quote(table.name)}")
    return Published(counts, plan.replace, plan.reason)
