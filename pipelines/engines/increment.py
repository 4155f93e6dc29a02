"""Which raw rows an engine still lacks, so that only those travel (docs/engines.md "One more day").

Raw rows are only ever added to the warehouse, one load at a time: every row of a load carries the
load's `_loaded_at` (the ledger's `loaded_at`), and a later load has a later one (the order the
incremental models' watermarks rely on too). An engine whose copy of a raw table holds n rows, the
newest loaded at m, is *in step* when the warehouse has exactly n rows loaded at or before m, m
among them: then it lacks exactly the rows loaded after m, and only those are sent.

Everything is sent again (the engine's copy replaced) when the caller asks for it (a changed dbt
project or conversion window: pipelines.engines.dagster.full_refresh_reason_on) or when a copy is out
of step (the warehouse was rebuilt or restored from a backup, an earlier copy failed half-way). An
empty engine is in step with nothing: every row is new to it. The audit tables (the ledger, the
rejected rows) are small and change in place: they are always replaced.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import duckdb

from pipelines.engines.schema import SOURCE_TABLES, SourceTable, quote

# The tables whose rows are only added, with `_loaded_at`: the raw sources (partitioned in Parquet).
APPENDED_TABLES = tuple(t for t in SOURCE_TABLES if t.schema == "raw")


@dataclass(frozen=True)
class HeldRows:
    """What an engine's copy of one raw table holds."""

    rows: int
    newest_loaded_at: datetime | None


@dataclass
class ExportPlan:
    """Per raw table, the `_loaded_at` after which rows are sent (None: every row); or replace all."""

    replace: bool
    reason: str
    since: dict[str, datetime | None] = field(default_factory=dict)

    def condition(self, table: SourceTable) -> str:
        """The WHERE clause selecting the rows of `table` to send ('' for every row)."""
        since = None if self.replace else self.since.get(table.qualified)
        if since is None:
            return ""
        return f"WHERE {quote('_loaded_at')} > TIMESTAMP '{since.isoformat(sep=' ')}'"

    def appends(self, table: SourceTable) -> bool:
        """True when the engine keeps its rows of `table` and gets the new ones beside them."""
        return not self.replace and table in APPENDED_TABLES


def _in_step(duck: duckdb.DuckDBPyConnection, table: SourceTable, held: HeldRows) -> bool:
    if held.newest_loaded_at is None:
        return held.rows == 0
    up_to, at_newest = duck.execute(
        f"SELECT count(*) FILTER (WHERE _loaded_at <= $m), count(*) FILTER (WHERE _loaded_at = $m) "
        f"FROM {table.schema}.{quote(table.name)}",
        {"m": held.newest_loaded_at},
    ).fetchone()
    return up_to == held.rows and at_newest > 0


def plan_export(duck: duckdb.DuckDBPyConnection, held: dict[str, HeldRows], full: bool) -> ExportPlan:
    """What to send to an engine holding `held` (per raw table; a table it lacks holds nothing)."""
    if full:
        return ExportPlan(replace=True, reason="full export requested (dbt project or window changed, or first build)")
    since = {}
    for table in APPENDED_TABLES:
        copy = held.get(table.qualified, HeldRows(0, None))
        if not _in_step(duck, table, copy):
            return ExportPlan(
                replace=True,
                reason=f"the engine's {table.qualified} ({copy.rows} rows up to {copy.newest_loaded_at}) "
                "is not the warehouse's rows up to then",
            )
        since[table.qualified] = copy.newest_loaded_at
    return ExportPlan(replace=False, reason="only the rows loaded since the last export", since=since)


@dataclass
class Published:
    """What one publish sent: rows per table, and whether the engine's copy was replaced."""

    rows: dict[str, int]
    replaced: bool
    reason: str
