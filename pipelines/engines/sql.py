"""`funnel sql`: an analyst's read-only query against the public tables of a target.

- duckdb: the published copy, through pipelines.core.sql_guard (the dashboard's SQL page): DuckDB
  opens it read-only with external access off and its configuration locked; one SELECT-like
  statement; row and time limits.
- postgres: a READ ONLY transaction (the server refuses any write or DDL in it), a statement
  timeout, one statement; the transaction is rolled back at the end. Connection from the libpq
  variables. Grant the analysts' role SELECT on the marts schema only, for defence in depth.
- spark: Spark has no read-only session. This command parses the statement with Spark's own
  parser and refuses anything but a query (SELECT / WITH / VALUES / TABLE, plus SHOW, DESCRIBE,
  EXPLAIN): no DDL, DML, SET, CACHE, ADD JAR; row and time limits (the job group is cancelled).
  On a shared cluster enforce it with the catalog's permissions (e.g. SELECT-only grants).
"""

from __future__ import annotations

import csv
import io
import json
import re
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pipelines.core.settings import Settings
from pipelines.engines import resolve_target


class SqlError(Exception):
    """The query failed or was refused; the message says why."""


@dataclass
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    truncated: bool


def run_sql(target: str, query: str, settings: Settings, row_limit: int = 10_000, timeout_s: float = 60.0) -> QueryResult:
    target = resolve_target(target)
    if not query or not query.strip().strip(";").strip():
        raise SqlError("the query is empty")
    if target == "duckdb":
        return _duckdb(query, settings, row_limit, timeout_s)
    if target == "postgres":
        return _postgres(query, row_limit, timeout_s)
    return _spark(query, settings, row_limit, timeout_s)


def _duckdb(query: str, settings: Settings, row_limit: int, timeout_s: float) -> QueryResult:
    from pipelines.core.sql_guard import PublishedMissing, QueryError, run_readonly_query

    try:
        table, truncated = run_readonly_query(settings.published, query, row_limit=row_limit, timeout_s=timeout_s)
    except (QueryError, PublishedMissing) as failed:
        raise SqlError(str(failed)) from None
    columns = table.column_names
    data = table.to_pylist()
    return QueryResult(columns, [tuple(row[c] for c in columns) for row in data], truncated)


def _postgres(query: str, row_limit: int, timeout_s: float) -> QueryResult:
    import psycopg2

    from pipelines.engines.postgres import connect

    try:
        with connect(readonly=True) as con:
            try:
                with con.cursor() as cur:
                    cur.execute(f"SET LOCAL statement_timeout = {int(timeout_s * 1000)}")
                    cur.execute(query)
                    if cur.description is None:
                        raise SqlError("the statement returned no rows (only queries are allowed here)")
                    columns = [d[0] for d in cur.description]
                    rows = cur.fetchmany(row_limit + 1)
            finally:
                con.rollback()
    except psycopg2.Error as failed:
        text = (failed.pgerror or str(failed)).strip()
        if getattr(failed, "pgcode", None) == "25006":  # read_only_sql_transaction
            text = f"refused: the query can only read ({text})"
        raise SqlError(text) from None
    return QueryResult(columns, [tuple(r) for r in rows[:row_limit]], len(rows) > row_limit)


_SPARK_ALLOWED_FIRST_WORDS = {"select", "with", "values", "table", "show", "describe", "desc", "explain", "from", "("}
_SPARK_REFUSED_PLANS = re.compile(
    r"Insert|Create|Drop|Alter|Delete|Update|Merge|Truncate|Replace|Rename|Set|Reset|Cache|Refresh|Load|Repair|"
    r"Add|Use|Overwrite|Analyze|Comment|Recover|Unset|Write|Append"
)


def check_spark_query(session, query: str) -> None:
    """Raise SqlError unless `query` is one read-only statement (Spark's parser decides)."""
    stripped = query.strip().rstrip(";").strip()
    first = re.split(r"\s+", stripped, maxsplit=1)[0].lower() if stripped else ""
    if first not in _SPARK_ALLOWED_FIRST_WORDS:
        raise SqlError(f"refused: {first.upper()} statements are not allowed (queries only)")
    try:
        plan = session._jsparkSession.sessionState().sqlParser().parsePlan(stripped)
    except Exception as failed:  # noqa: BLE001 (a ParseException, through py4j)
        raise SqlError(str(failed).splitlines()[0]) from None
    nodes = str(plan.treeString())
    names = set(re.findall(r"(?:^|[\s+:-])'?([A-Z][A-Za-z]+)", nodes))
    refused = sorted(n for n in names if _SPARK_REFUSED_PLANS.search(n))
    if refused:
        raise SqlError(f"refused: the query can only read (plan has {', '.join(refused)})")


def _spark(query: str, settings: Settings, row_limit: int, timeout_s: float) -> QueryResult:
    from pipelines.engines.spark import spark_session

    session = spark_session(settings)
    check_spark_query(session, query)
    group = f"funnel-sql-{threading.get_ident()}"
    context = session.sparkContext
    timed_out = threading.Event()

    def _cancel() -> None:
        timed_out.set()
        context.cancelJobGroup(group)

    context.setJobGroup(group, "funnel sql", interruptOnCancel=True)
    timer = threading.Timer(timeout_s, _cancel)
    timer.start()
    try:
        frame = session.sql(query.strip().rstrip(";"))
        columns = frame.columns
        rows = frame.limit(row_limit + 1).collect()
    except Exception as failed:  # noqa: BLE001 (Spark's errors come through py4j)
        if timed_out.is_set():
            raise SqlError(f"the query ran longer than {timeout_s:g} s and was stopped") from None
        raise SqlError(str(failed).splitlines()[0]) from None
    finally:
        timer.cancel()
    return QueryResult(columns, [tuple(r) for r in rows[:row_limit]], len(rows) > row_limit)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if hasattr(value, "isoformat"):
        return value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    return str(value)


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return _text(value)


def format_result(columns: list[str], rows: list[tuple], fmt: str = "table") -> str:
    """Rows as an aligned text table, CSV (NULL as empty) or JSON (one object per row, in a list)."""
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([[_text(v) for v in row] for row in rows])
        return buffer.getvalue()
    if fmt == "json":
        return json.dumps([{c: _json_value(v) for c, v in zip(columns, row, strict=True)} for row in rows], indent=1) + "\n"
    cells = [[("NULL" if v is None else _text(v)) for v in row] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    lines = [" | ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines.append("-+-".join("-" * w for w in widths))
    lines += [" | ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    lines.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(lines) + "\n"
