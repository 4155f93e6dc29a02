"""Read-only access to the published DuckDB copy, enforced by DuckDB itself.

Every reader of the published copy opens it here: the SQL page and `funnel sql` through
`connect_readonly` (a short-lived connection per query; all such connections in a process share one
DuckDB configuration, as DuckDB refuses a second connection to a file with a different one), the
dashboard's data module through `open_pinned` (one long-lived connection per published version: the
file ATTACHed read-only to a private in-memory database, so it never shares DuckDB's per-path instance
cache with the others). Both are locked down the same way:

- `read_only=True` (`READ_ONLY` attach): no write or DDL reaches the file;
- `enable_external_access=false`: no file or URL can be read or written (read_csv, COPY, EXPORT,
  ATTACH, INSTALL, replacement scans of paths) and no extension loaded;
- `lock_configuration=true`: no SET/RESET/PRAGMA can undo the above;
- extension auto-install/auto-load off.

`run_readonly_query` adds a statement-type allow-list (SELECT, EXPLAIN, read-only PRAGMA) so that
what DuckDB would allow but leaves session state behind (temporary tables, variables, macros) is
refused with a clear message, a row limit and a time limit (the connection is interrupted).
"""

from __future__ import annotations

import contextlib
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa

READONLY_CONFIG: dict[str, object] = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
    "lock_configuration": True,
    "threads": 2,
    "memory_limit": "2GB",
}

ALLOWED_STATEMENTS = {"SELECT", "EXPLAIN", "PRAGMA"}
# What the allowed statement types cover, as the refusal message lists it (DESCRIBE, SHOW and
# SUMMARIZE are SELECT statements to DuckDB).
ALLOWED_TEXT = "SELECT, WITH ... SELECT, DESCRIBE, SHOW, SUMMARIZE, EXPLAIN and read-only PRAGMA only"
# Unqualified names resolve in the public schemas, so `SHOW TABLES` lists them and
# `FROM kpi_weekly` reads marts.kpi_weekly (the file's own `main` schema is empty).
SEARCH_PATH = "marts,audit,meta"

_REFUSED_HINTS = {
    "INSERT": "writes", "UPDATE": "writes", "DELETE": "writes", "MERGE_INTO": "writes",
    "CREATE": "DDL", "CREATE_FUNC": "DDL", "DROP": "DDL", "ALTER": "DDL",
    "ATTACH": "ATTACH", "DETACH": "DETACH", "COPY": "COPY", "COPY_DATABASE": "COPY",
    "EXPORT": "EXPORT", "LOAD": "INSTALL/LOAD", "EXTENSION": "INSTALL/LOAD",
    "SET": "changing settings", "VARIABLE_SET": "changing settings",
    "TRANSACTION": "transactions", "VACUUM": "maintenance", "ANALYZE": "maintenance",
    "CALL": "CALL", "PREPARE": "prepared statements", "EXECUTE": "prepared statements",
}


class QueryError(Exception):
    """A query failed (syntax, unknown table, ...): the message is DuckDB's."""


class QueryRefused(QueryError):
    """The query would write, read outside the warehouse, or change settings: refused."""


class QueryTimeout(QueryError):
    """The query ran past its time limit and was interrupted."""


class PublishedMissing(FileNotFoundError):
    """No published copy yet."""


@contextlib.contextmanager
def connect_readonly(published: Path | str) -> Iterator[duckdb.DuckDBPyConnection]:
    """A short-lived, locked-down, read-only connection to the published copy; closed on exit."""
    published = Path(published)
    if not published.is_file():
        raise PublishedMissing(
            f"no published warehouse at {published}: run `funnel run --landing DIR --warehouse FILE` first"
        )
    con = duckdb.connect(str(published), read_only=True, config=dict(READONLY_CONFIG))
    try:
        con.execute(f"SET search_path = '{SEARCH_PATH}'")
        yield con
    finally:
        con.close()


def open_pinned(published: Path | str) -> duckdb.DuckDBPyConnection:
    """A long-lived, locked-down, read-only connection to the published file as it is now; the caller
    closes it (dashboards.data keeps one per published version and closes it when the version changes).

    Not `duckdb.connect(published)`: DuckDB caches database instances by path, so while such a
    connection stayed open every later `duckdb.connect` of the same path in this process (the SQL page,
    the next version's connection) would get the *old* file back after a publish renamed a new one
    over it. Here a private in-memory database ATTACHes the file (READ_ONLY) under the name `published`
    and makes it the default, so unqualified names (`marts.kpi_weekly`) resolve as with
    `connect_readonly`; the in-memory catalog is then detached, external access disabled and the
    configuration locked, as in `connect_readonly`. The attached file stays the inode it opened: a
    publish (write a temporary file, rename it over) is never blocked, and DuckDB's shared read lock is
    on the old inode. Only the dashboard's own fixed queries run here, never user SQL (the SQL page uses
    `run_readonly_query`, a fresh connection per query).
    """
    published = Path(published)
    if not published.is_file():
        raise PublishedMissing(
            f"no published warehouse at {published}: run `funnel run --landing DIR --warehouse FILE` first"
        )
    config = {k: v for k, v in READONLY_CONFIG.items() if k not in ("enable_external_access", "lock_configuration")}
    con = duckdb.connect(":memory:", config=config)
    try:
        con.execute("ATTACH ? AS published (READ_ONLY)", [str(published)])
        con.execute("USE published")
        con.execute("DETACH memory")
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con


def _statement_types(con: duckdb.DuckDBPyConnection, sql: str) -> list[str]:
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryError(str(exc)) from None
    return [str(s.type).rsplit(".", 1)[-1] for s in statements]


def run_readonly_query(
    published: Path | str, sql: str, row_limit: int = 10_000, timeout_s: float = 30.0
) -> tuple[pa.Table, bool]:
    """Run one read-only statement on the published copy.

    Returns (at most `row_limit` rows as an Arrow table, whether more rows were cut off).
    Raises QueryRefused for anything but reading the warehouse, QueryTimeout past `timeout_s`,
    QueryError for other failures.
    """
    if not sql or not sql.strip().strip(";").strip():
        raise QueryError("the query is empty")
    with connect_readonly(published) as con:
        kinds = _statement_types(con, sql)
        if len(kinds) != 1:
            raise QueryRefused(f"one statement at a time, please (got {len(kinds)})")
        kind = kinds[0]
        if kind not in ALLOWED_STATEMENTS:
            what = _REFUSED_HINTS.get(kind, kind)
            raise QueryRefused(
                f"refused: {kind} statements ({what}) are not allowed; the warehouse is read-only here "
                f"({ALLOWED_TEXT})"
            )
        timed_out = threading.Event()

        def _interrupt() -> None:
            timed_out.set()
            con.interrupt()

        timer = threading.Timer(timeout_s, _interrupt)
        timer.start()
        try:
            con.execute(sql)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # DB-API Arrow output copies: fine for <= row_limit rows
                reader = con.to_arrow_reader(min(max(row_limit, 1), 100_000) + 1)
            batches, rows = [], 0
            truncated = False
            for batch in reader:
                if rows + batch.num_rows > row_limit:
                    batches.append(batch.slice(0, row_limit - rows))
                    rows = row_limit
                    truncated = True
                    break
                batches.append(batch)
                rows += batch.num_rows
            table = pa.Table.from_batches(batches, schema=reader.schema)
        except duckdb.InterruptException:
            if timed_out.is_set():
                raise QueryTimeout(f"the query ran longer than {timeout_s:g} s and was stopped") from None
            raise QueryError("the query was interrupted") from None
        except duckdb.PermissionException as exc:
            raise QueryRefused(f"refused: the SQL box can only read the warehouse ({exc})") from None
        except duckdb.Error as exc:
            text = str(exc)
            if "read-only" in text or "configuration has been locked" in text:
                raise QueryRefused(f"refused: the SQL box can only read the warehouse ({text})") from None
            raise QueryError(text) from None
        finally:
            timer.cancel()
    return table, truncated
