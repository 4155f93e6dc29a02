"""What `funnel run` prints: the run's ledger and the headline KPIs, each read with one query."""

from __future__ import annotations

import duckdb

COHORT_KPIS = ("first_order_conversion_rate", "checkout_conversion_rate", "median_hours_to_convert")
CLOSED_PERIOD_KPIS = (
    "first_orders",
    "self_service_first_order_share",
    "manual_intervention_rate",
    "first_order_manual_intervention_rate",
)


def run_ledger(con: duckdb.DuckDBPyConnection, run_id: str) -> list[tuple]:
    return con.execute(
        """
        SELECT source, count(*) AS files, count(*) FILTER (WHERE status = 'rejected') AS files_rejected,
               sum(rows_read), sum(rows_loaded), sum(rows_rejected), sum(duplicates_dropped)
        FROM audit.load_ledger WHERE run_id = ? GROUP BY source ORDER BY source
        """,
        [run_id],
    ).fetchall()


def ledger_lines(con: duckdb.DuckDBPyConnection, run_id: str, max_files: int = 50) -> list[str]:
    """What a run loaded: one line per source, the count of files per ledger status, and every file it
    rejected whole, ignored or found empty with its reason (or that it saw no new file)."""
    ledger = run_ledger(con, run_id)
    if not ledger:
        return ["No new files: nothing loaded."]
    lines = [
        f"{source}: {files} new files ({files_rejected} rejected whole), {read:,} rows read, "
        f"{loaded:,} loaded, {rejected:,} rejected, {duplicates:,} duplicates dropped"
        for source, files, files_rejected, read, loaded, rejected, duplicates in ledger
        if source  # files outside the source folders are only ignored: listed below
    ]
    statuses = con.execute(
        """
        SELECT status, count(*) FROM audit.load_ledger WHERE run_id = ?
        GROUP BY status ORDER BY array_position(['loaded', 'rejected', 'empty', 'ignored'], status), status
        """,
        [run_id],
    ).fetchall()
    lines.append("Files: " + ", ".join(f"{count:,} {status}" for status, count in statuses))
    unread = con.execute(
        """
        SELECT status, file_path, reason FROM audit.load_ledger WHERE run_id = ? AND status <> 'loaded'
        ORDER BY array_position(['rejected', 'empty', 'ignored'], status), status, file_path
        """,
        [run_id],
    ).fetchall()
    lines += [f"  {status} {file_path}: {reason}" for status, file_path, reason in unread[:max_files]]
    if len(unread) > max_files:
        lines.append(f"  ... and {len(unread) - max_files:,} more files (audit.load_ledger, run_id {run_id})")
    return lines


def rejection_reasons(con: duckdb.DuckDBPyConnection, run_id: str, limit: int = 10) -> list[tuple]:
    """(reason, rows) of the rows a run rejected; files rejected whole are named by `ledger_lines`."""
    return con.execute(
        """
        SELECT reason, count(*) AS rows FROM audit.rejected_rows WHERE run_id = ? AND row_number IS NOT NULL
        GROUP BY reason ORDER BY rows DESC, reason LIMIT ?
        """,
        [run_id, limit],
    ).fetchall()


def headline_kpis(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, object]]:
    """(kpi, period label, value): cohort KPIs for the latest complete weekly cohort, the others for
    the latest closed week, as the spec's "latest week" says."""
    as_of = con.execute("SELECT as_of FROM marts.warehouse_as_of").fetchall()[0][0]
    if as_of is None:
        return []
    cohort = con.execute(
        f"SELECT period_start, {', '.join(COHORT_KPIS)} FROM marts.kpi_weekly "
        "WHERE cohort_complete ORDER BY period_start DESC LIMIT 1"
    ).fetchall()
    closed = con.execute(
        f"SELECT period_start, {', '.join(CLOSED_PERIOD_KPIS)} FROM marts.kpi_weekly "
        "WHERE period_start + INTERVAL 7 DAY <= ? ORDER BY period_start DESC LIMIT 1",
        [as_of],
    ).fetchall()
    rows = []
    for names, found, label in ((COHORT_KPIS, cohort, "cohort week of"), (CLOSED_PERIOD_KPIS, closed, "week of")):
        if found:
            period, *values = found[0]
            rows += [(name, f"{label} {period}", value) for name, value in zip(names, values, strict=True)]
    return rows


def format_value(kpi: str, value: object) -> str:
    if value is None:
        return "n/a"
    if kpi.endswith(("_rate", "_share")):
        return f"{value:.1%}"
    if kpi.startswith("median_hours"):
        return f"{value:.1f} h"
    return f"{value:,}"
