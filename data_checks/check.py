"""What a data check is: GX 1.x expectations over one of the warehouse's tables, with a severity and a scope.

The checks themselves: data_checks/raw_checks.py, ledger_checks.py, mart_checks.py, movement.py;
all of them: data_checks/catalog.py.

A `Check` is one named rule on one table with one severity. Its expectations are GX 1.x
expectation objects; checks of the same table are grouped into one GX suite per run (see
`data_checks.runner`). Checks that need SQL no column expectation can say (conservation, funnel order,
period gaps, drift counts) use `UnexpectedRowsExpectation`: the query returns the offending rows, so
it runs in DuckDB and GX only receives the first rows as evidence.

Severity: "error" means the KPIs would be wrong (a raw table breaks the contract the ingestion
enforces, conservation is broken, a mart invariant is broken, keys are not unique): blocking.
"warning" means strange or late but not wrong (freshness, drift of optional values, checkouts without
a start, KPI movement): recorded and shown, never blocking.

Scope (docs/data-quality.md, "What each check reads"): raw rows are written once by the ingestion and
never change, so a check about single rows only needs the rows of the loads not yet checked
(`CheckParams.loads`, ingestion run ids = `_run_id`); key uniqueness probes the whole history with
those rows' keys, within their key range (`in_key_range`); checks about a whole table read metadata, an
aggregate or the small ledger. The facts' consistency checks read the rows of the latest dbt build
(`CheckParams.latest_build`). `loads=None` (the on-demand audit, `funnel check`) reads every row.
"""


from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from pipelines.core.settings import Settings, prepare_process
from pipelines.core.warehouse import BUILD_WATERMARK


class _ExpectationClasses:
    """`great_expectations.expectations`, imported when a check first builds its expectations.

    Importing GX takes ~2.6 s; the checks are listed (for Dagster's definitions, the docs, the CLI)
    in processes that may never run one (`dagster dev`, sensors, `funnel sql`)."""

    def __getattr__(self, name: str):
        prepare_process()  # GX analytics off before great_expectations is imported
        import great_expectations.expectations

        return getattr(great_expectations.expectations, name)


gxe = _ExpectationClasses()

ERROR = "error"
WARNING = "warning"

# What a check reads (its `scope`); the reasons per check are in docs/data-quality.md.
NEW_ROWS = "new rows"  # the rows of the loads being checked; raw rows never change once loaded
NEW_KEYS = "new keys vs history"  # the loads' keys, probed against the whole table (a semi join)
WHOLE_TABLE = "whole table"  # metadata, one aggregate, or a small table (the ledger, a mart)
LOAD_SCOPES = (NEW_ROWS, NEW_KEYS)  # the GX batch is the rows of the loads being checked
# The rows the latest dbt build wrote (its `_inputs_loaded_at`); a rule across rows probes the table
# with their keys. Sound because the build after a run that failed rebuilds every row.
LATEST_BUILD = "rows of the latest build"


@dataclass(frozen=True)
class CheckParams:
    """What a run of the checks depends on besides the data."""

    now: datetime  # naive UTC
    freshness_hours: float = Settings.freshness_hours
    # The ingestion runs (raw `_run_id`, ledger `run_id`) whose rows the load-scoped checks read;
    # None: every row (the on-demand audit). `data_checks.runner.unverified_loads` says which.
    loads: tuple[str, ...] | None = None
    # (table, column) -> (min, max) of that column over the rows of `loads` (`data_checks.runner`
    # reads it), None when it cannot be read; None: the probes read the whole key column.
    key_range: Callable[[str, str], tuple | None] | None = None
    # True in a pipeline run's check step: LATEST_BUILD checks read the latest build's rows only.
    latest_build: bool = False


def load_filter(loads: tuple[str, ...] | list[str] | None, column: str = "_run_id") -> str:
    """SQL condition selecting the rows of `loads` (TRUE for None: every row)."""
    if loads is None:
        return "TRUE"
    return f"{column} IN ({in_list(sorted(loads))})" if loads else "FALSE"


@dataclass(frozen=True)
class Check:
    name: str
    asset: str  # Dagster asset key, "/"-separated
    table: str  # schema.table the check's GX batch reads
    severity: str  # ERROR or WARNING
    description: str
    expected: str
    expectations: Callable[[CheckParams], list] | None = None
    # Extra tables the check's SQL reads (besides `table`); the check reports them missing otherwise.
    reads: tuple[str, ...] = ()
    # A SQL query (one row, one column) whose value is the check's observed value; default: the count
    # of unexpected rows or values.
    observe_sql: Callable[[CheckParams], str] | None = None
    # Checks computed outside GX (statistics): fn(con, params) -> (passed, observed, details).
    custom: Callable | None = None
    tags: dict = field(default_factory=dict)
    # What the check reads: NEW_ROWS / NEW_KEYS (its GX batch is the rows of `CheckParams.loads`,
    # or the whole table when loads is None) or WHOLE_TABLE.
    scope: str = WHOLE_TABLE

    @property
    def blocking(self) -> bool:
        return self.severity == ERROR


def latest_build_filter(table: str) -> str:
    """SQL condition selecting the rows the latest dbt build wrote into `table` (every row of a build
    carries its stamp; the build's rows are appended, so the scan skips the older row groups)."""
    return f"{BUILD_WATERMARK} = (SELECT max({BUILD_WATERMARK}) FROM {table})"


def in_key_range(p: CheckParams, table: str, column: str, alias: str) -> str:
    """SQL condition: `alias.column` lies within the range of the new rows' keys, as literals, so that
    DuckDB skips the history's row groups whose zone maps lie outside it (a join does not prune them:
    DuckDB compresses short string keys before the join, which stops its join filter reaching the
    scan). Prunes when keys grow with time (sequences, ULIDs, the generator's ids); with random keys
    every row group is read, as without it. TRUE when every row is read."""
    bounds = p.key_range(table, column) if p.loads is not None and p.key_range is not None else None
    if bounds is None:
        return "TRUE"
    low, high = bounds
    if low is None:  # no new rows: nothing to probe
        return "FALSE"
    return f"{alias}.{column} BETWEEN {sql_literal(low)} AND {sql_literal(high)}"


def sql_literal(value) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, datetime):
        return timestamp_literal(value)
    return repr(value)


def in_list(values: list[str]) -> str:
    return ", ".join(sql_literal(v) for v in values)


def timestamp_literal(value: datetime) -> str:
    return f"TIMESTAMP '{value.strftime('%Y-%m-%d %H:%M:%S.%f')}'"


def rows_expectation(query: str, **meta) -> gxe.UnexpectedRowsExpectation:
    """Fails when `query` (over `{batch}`) returns rows; the rows are the evidence. The query runs once
    (`UnexpectedRowsQueriedOnce`), not twice as with GX's own class."""
    prepare_process()  # GX analytics off before great_expectations is imported
    from data_checks.expectations import UnexpectedRowsQueriedOnce

    return UnexpectedRowsQueriedOnce(unexpected_rows_query=query, meta=meta or None)


def unique_expectation(*columns: str, not_null: bool = False) -> gxe.UnexpectedRowsExpectation:
    """Uniqueness as one GROUP BY in DuckDB (GX's own column-uniqueness expectation compiles to a
    NOT IN (subquery) that took ~18 s on 10M event ids). With `not_null`, a NULL key is reported by
    the same scan (its group), instead of a second expectation reading the column again."""
    cols = ", ".join(columns)
    nulls = "".join(f" OR {c} IS NULL" for c in columns) if not_null else ""
    return rows_expectation(
        f"SELECT {cols}, count(*) AS copies FROM {{batch}} GROUP BY {cols} HAVING count(*) > 1{nulls} ORDER BY {cols}"
    )


def unique_in_history(table: str, *columns: str) -> Callable[[CheckParams], list]:
    """Uniqueness of `columns` across the whole `table`, driven by the rows being checked.

    Whole table (loads None): one GROUP BY. Scoped to loads: the history is probed with the new keys
    only (a semi join whose hash table holds the new rows' keys; one pass over the key columns within
    the new keys' ranges, no aggregate over the history), so a key repeated within the new rows, or one
    whose first copy was loaded by an earlier run, is found. Keys repeated only among old rows were
    found when loaded.
    """

    def build(p: CheckParams) -> list:
        if p.loads is None:
            return [unique_expectation(*columns)]
        cols = ", ".join(f"h.{c}" for c in columns)
        on = " AND ".join(f"h.{c} = n.{c}" for c in columns)
        # Every key column's range: one alone can stop DuckDB's join filter pruning the others' row
        # groups (order_id's range alone read all of raw.orders' 48 where updated_at's read 1).
        ranges = " AND ".join(in_key_range(p, table, c, "h") for c in columns)
        return [
            rows_expectation(
                f"SELECT {cols}, count(*) AS copies FROM {table} h SEMI JOIN {{batch}} n ON {on} "
                f"WHERE {ranges} GROUP BY {cols} HAVING count(*) > 1 ORDER BY {cols}"
            )
        ]

    return build
