"""Are two targets' public tables the same, value for value? (tests/engines, docs/engines.md)

`fetch_table` reads a whole table of a target into plain Python values (timestamps as naive UTC
datetimes, dates, ints, floats, Decimals, bools, strings); `compare_tables` matches the rows of two
reads as multisets: every non-float value exactly (counts, ids, dates, timestamps, decimals, flags),
floats (rates, medians, hours) to 1e-9, NULL only with NULL.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pipelines.core.settings import Settings
from pipelines.engines import resolve_target

FLOAT_TOLERANCE = 1e-9
WATERMARK_COLUMNS = ("_inputs_loaded_at",)
# The public tables of kpi-definitions.md, the dashboard marts, the seed and the as-of row.
PUBLIC_TABLES = (
    "kpi_daily", "kpi_weekly", "kpi_monthly", "funnel_steps", "fct_checkouts", "fct_orders", "warehouse_as_of",
    "kpi_targets", "dash_funnel_daily", "dash_dropoffs", "dash_payment_failures", "dash_interventions",
    "dash_latest_interventions", "dash_checkout_steps",
)


def _normal(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.replace(tzinfo=None) if value.tzinfo is None else value.astimezone(tz=None).replace(tzinfo=None)
    if isinstance(value, (bool, int, str, date, Decimal)) or value is None:
        return value
    if isinstance(value, float):
        return None if math.isnan(value) else value
    return value


def fetch_table(target: str, settings: Settings, table: str, schema: str = "marts") -> tuple[list[str], list[tuple]]:
    """(column names, rows) of `schema.table` on `target` (DuckDB: the warehouse file, read-only)."""
    target = resolve_target(target)
    if target == "duckdb":
        import duckdb

        con = duckdb.connect(str(settings.warehouse), read_only=True)
        try:
            con.execute("SET TimeZone = 'UTC'")
            cursor = con.execute(f'SELECT * FROM {schema}."{table}"')
            columns = [d[0] for d in cursor.description]
            rows = cursor.fetchall()
        finally:
            con.close()
    elif target == "postgres":
        from pipelines.engines.postgres import connect

        with connect(readonly=True) as con, con.cursor() as cur:
            cur.execute(f'SELECT * FROM {schema}."{table}"')
            columns = [d[0] for d in cur.description]
            rows = cur.fetchall()
    else:
        from pipelines.engines.spark import spark_session

        session = spark_session(settings)
        frame = session.table(f"{schema}.{table}")
        # Timestamps as text: PySpark would turn them into the Python process's local time.
        selected = [
            f"cast(`{f.name}` as string) as `{f.name}`" if f.dataType.typeName() == "timestamp" else f"`{f.name}`"
            for f in frame.schema.fields
        ]
        stamps = {f.name for f in frame.schema.fields if f.dataType.typeName() == "timestamp"}
        columns = [f.name for f in frame.schema.fields]
        rows = [
            tuple(datetime.fromisoformat(v) if (c in stamps and v is not None) else v for c, v in zip(columns, r, strict=True))
            for r in frame.selectExpr(*selected).collect()
        ]
    return [c.lower() for c in columns], [tuple(_normal(v) for v in row) for row in rows]


def without_watermarks(read: tuple[list[str], list[tuple]]) -> tuple[list[str], list[tuple]]:
    """A table's read without its build watermark (`_inputs_loaded_at`): an incremental build keeps
    the older watermark on the rows it did not touch, a full rebuild stamps every row anew."""
    columns, rows = read
    keep = [i for i, c in enumerate(columns) if c not in WATERMARK_COLUMNS]
    return [columns[i] for i in keep], [tuple(row[i] for i in keep) for row in rows]


def _sort_key(row: tuple) -> tuple:
    # Floats last and rounded, so rows equal within the tolerance sort alike.
    return tuple(
        (0, "") if v is None else (1, f"{round(v, 6):.6f}") if isinstance(v, float) else (1, repr(v)) for v in row
    )


def _same(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) or isinstance(b, float):
        if isinstance(a, bool) or isinstance(b, bool):
            return False
        return math.isclose(float(a), float(b), rel_tol=FLOAT_TOLERANCE, abs_tol=FLOAT_TOLERANCE)
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return a == b


def compare_tables(
    expected: tuple[list[str], list[tuple]], actual: tuple[list[str], list[tuple]], max_differences: int = 10
) -> list[str]:
    """The differences between two reads of a table (empty when they are the same)."""
    (e_cols, e_rows), (a_cols, a_rows) = expected, actual
    if sorted(e_cols) != sorted(a_cols):
        return [f"columns differ: {e_cols} vs {a_cols}"]
    order = [a_cols.index(c) for c in e_cols]
    a_rows = [tuple(row[i] for i in order) for row in a_rows]
    if len(e_rows) != len(a_rows):
        return [f"{len(e_rows)} rows expected, {len(a_rows)} found"]
    differences = []
    for e_row, a_row in zip(sorted(e_rows, key=_sort_key), sorted(a_rows, key=_sort_key), strict=True):
        for column, e, a in zip(e_cols, e_row, a_row, strict=True):
            if not _same(e, a):
                differences.append(f"{column}: expected {e!r}, found {a!r} (row {dict(zip(e_cols, e_row, strict=True))})")
                break
        if len(differences) >= max_differences:
            break
    return differences


def compare_public_tables(
    reference: str, target: str, settings: Settings, tables: tuple[str, ...] = PUBLIC_TABLES
) -> dict[str, list[str]]:
    """{table: differences} between two targets built from the same raw rows (empty lists: equal)."""
    return {t: compare_tables(fetch_table(reference, settings, t), fetch_table(target, settings, t)) for t in tables}
