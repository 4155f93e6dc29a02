"""The floor: benchmarks/floor.sql over one landing directory, in one DuckDB connection.

    python -m benchmarks.floor LANDING_DIR OUT.duckdb [--window-days 30] [--threads N] [--memory-limit 4GB]

Only the reading of the files depends on their format; the rest is the one script. See floor.sql.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import duckdb

FLOOR_SQL = Path(__file__).with_name("floor.sql")
PUBLIC_MARTS = ("kpi_daily", "kpi_weekly", "kpi_monthly", "funnel_steps", "fct_checkouts", "fct_orders")

_EVENT_TEXT_COLUMNS = ("event_id", "event_name", "event_time", "checkout_id", "customer_id", "plan", "deployment",
                       "seats", "country", "device", "error_code")
_ORDER_COLUMNS = ("order_id", "customer_id", "checkout_id", "created_at", "updated_at", "channel", "order_type",
                  "status", "plan", "deployment", "seats", "amount", "currency", "manual_intervention",
                  "intervention_reason")


def _q(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _utc(expr: str) -> str:
    """A text or TIMESTAMP(TZ) value as a naive UTC TIMESTAMP (the session runs in UTC)."""
    return f"CAST(CAST({expr} AS TIMESTAMPTZ) AS TIMESTAMP)"


def _has(folder: Path, suffix: str) -> bool:
    return any(p.name.endswith(suffix) for p in folder.rglob(f"*{suffix}"))


def events_source(landing: Path) -> str:
    folder = landing / "checkout_events"
    parts = []
    typed = (f"event_id, event_name, {_utc('event_time')} AS event_time, checkout_id, customer_id, plan, deployment, "
             "CAST(CAST(seats AS DOUBLE) AS INTEGER) AS seats, country, device")
    if _has(folder, ".parquet"):
        parts.append(f"SELECT {typed} FROM read_parquet({_q(str(folder / '**' / '*.parquet'))}, union_by_name = true)")
    for suffix in (".jsonl", ".jsonl.gz"):
        if _has(folder, suffix):
            columns = "{" + ", ".join(f"{c!r}: 'VARCHAR'" for c in _EVENT_TEXT_COLUMNS) + "}"
            parts.append(
                f"SELECT {typed} FROM read_json({_q(str(folder / '**' / ('*' + suffix)))}, "
                f"format = 'newline_delimited', columns = {columns})"
            )
    if not parts:
        raise FileNotFoundError(f"no checkout event files under {folder}")
    return " UNION ALL ".join(parts)


def orders_source(landing: Path) -> str:
    folder = landing / "orders"
    parts = []
    if _has(folder, ".parquet"):
        parts.append(
            "SELECT order_id, customer_id, checkout_id, "
            f"{_utc('created_at')} AS created_at, {_utc('coalesce(updated_at, created_at)')} AS updated_at, "
            "channel, order_type, status, plan, deployment, CAST(seats AS INTEGER) AS seats, "
            "CAST(amount AS DECIMAL(38, 6)) AS amount, upper(currency) AS currency, "
            "CAST(manual_intervention AS BOOLEAN) AS manual_intervention, intervention_reason "
            f"FROM read_parquet({_q(str(folder / '**' / '*.parquet'))}, union_by_name = true)"
        )
    if _has(folder, ".csv"):
        parts.append(
            "SELECT order_id, customer_id, checkout_id, "
            f"{_utc('created_at')} AS created_at, {_utc('coalesce(updated_at, created_at)')} AS updated_at, "
            "channel, order_type, status, plan, deployment, CAST(seats AS INTEGER) AS seats, "
            "CAST(amount AS DECIMAL(38, 6)) AS amount, upper(currency) AS currency, "
            "lower(manual_intervention) IN ('true', '1') AS manual_intervention, intervention_reason "
            f"FROM read_csv({_q(str(folder / '**' / '*.csv'))}, header = true, all_varchar = true, "
            "union_by_name = true)"
        )
    if not parts:
        raise FileNotFoundError(f"no order files under {folder}")
    return " UNION ALL ".join(parts)


def floor_sql(landing: Path, window_days: int = 30) -> str:
    text = FLOOR_SQL.read_text()
    for name, value in {
        "{events_source}": events_source(landing),
        "{orders_source}": orders_source(landing),
        "{window_days}": str(int(window_days)),
    }.items():
        text = text.replace(name, value)
    return text


def run_floor(landing: Path | str, out: Path | str, *, window_days: int = 30, threads: int = 2,
              memory_limit: str = "4GB") -> float:
    """Compute the public marts into `out` (replaced). Returns the wall seconds of the script."""
    landing, out = Path(landing).resolve(), Path(out)
    out.unlink(missing_ok=True)
    Path(str(out) + ".wal").unlink(missing_ok=True)
    sql = floor_sql(landing, window_days)
    started = time.perf_counter()
    con = duckdb.connect(str(out))
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"SET threads = {int(threads)}")
        con.execute(f"SET memory_limit = '{memory_limit}'")
        con.execute("SET preserve_insertion_order = false")
        con.execute(sql)
        con.execute("CHECKPOINT")
    finally:
        con.close()
    return time.perf_counter() - started


# The columns kpi-definitions.md promises (the pipeline's marts may have more).
KPI_COLUMNS = (
    "period_start", "checkouts_started", "checkouts_converted", "checkout_conversion_rate",
    "new_customer_checkouts_started", "new_customer_checkouts_converted", "first_order_conversion_rate",
    "first_orders", "self_service_first_orders", "self_service_first_order_share", "self_service_orders",
    "manual_intervention_orders", "manual_intervention_rate", "self_service_first_orders_with_intervention",
    "first_order_manual_intervention_rate", "median_hours_to_convert", "cohort_complete",
)
SPEC_COLUMNS = {
    "kpi_daily": KPI_COLUMNS,
    "kpi_weekly": KPI_COLUMNS,
    "kpi_monthly": KPI_COLUMNS,
    "funnel_steps": ("grain", "period_start", "step_number", "step_name", "checkouts", "new_customer_checkouts"),
    "fct_checkouts": ("checkout_id", "customer_id", "started_at", "is_new_customer", "plan", "deployment", "country",
                      "device", "seats", "reached_step", "converted", "order_id", "hours_to_convert"),
    "fct_orders": ("order_id", "customer_id", "checkout_id", "created_at", "channel", "order_type", "status", "plan",
                   "deployment", "seats", "amount", "currency", "is_placed", "is_self_service", "is_first_order",
                   "manual_intervention", "intervention_reason"),
}
DOUBLE_COLUMNS = {"checkout_conversion_rate", "first_order_conversion_rate", "self_service_first_order_share",
                  "manual_intervention_rate", "first_order_manual_intervention_rate", "median_hours_to_convert",
                  "hours_to_convert"}


def compare_marts(pipeline_db: Path | str, floor_db: Path | str) -> dict[str, dict]:
    """Per public mart: rows on each side and rows only on one side (spec columns; doubles to 1e-9)."""
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"ATTACH {_q(str(pipeline_db))} AS p (READ_ONLY)")
        con.execute(f"ATTACH {_q(str(floor_db))} AS f (READ_ONLY)")
        out = {}
        for table, columns in SPEC_COLUMNS.items():
            cols = ", ".join(f"round(CAST({c} AS DOUBLE), 9) AS {c}" if c in DOUBLE_COLUMNS else c for c in columns)
            p_sql, f_sql = f"SELECT {cols} FROM p.marts.{table}", f"SELECT {cols} FROM f.marts.{table}"
            only_p = con.execute(f"SELECT count(*) FROM ({p_sql} EXCEPT ALL {f_sql})").fetchall()[0][0]
            only_f = con.execute(f"SELECT count(*) FROM ({f_sql} EXCEPT ALL {p_sql})").fetchall()[0][0]
            rows_p = con.execute(f"SELECT count(*) FROM p.marts.{table}").fetchall()[0][0]
            rows_f = con.execute(f"SELECT count(*) FROM f.marts.{table}").fetchall()[0][0]
            out[table] = {"rows_pipeline": rows_p, "rows_floor": rows_f, "only_in_pipeline": only_p,
                          "only_in_floor": only_f, "equal": only_p == 0 and only_f == 0}
        return out
    finally:
        con.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.floor")
    parser.add_argument("landing", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--window-days", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--memory-limit", default="4GB")
    args = parser.parse_args(argv)
    seconds = run_floor(args.landing, args.out, window_days=args.window_days, threads=args.threads,
                        memory_limit=args.memory_limit)
    print(json.dumps({"seconds": seconds}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
