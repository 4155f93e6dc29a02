"""What `funnel run` prints: the run's ledger and the headline KPIs, each read with one query."""

from __future__ import annotations

import duckdb

from pipelines.core.kpis import KPIS, Kpi


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


def headline_kpis(con: duckdb.DuckDBPyConnection) -> list[tuple[Kpi, str, object]]:
    """(KPI, period label, value) for every KPI of the registry in "the latest week" of the spec:
    the latest complete weekly cohort for cohort-dated KPIs, the latest closed week for the others
    (the marts' `cohort_complete` / `period_closed`)."""
    rows = []
    for final_column, label in (("cohort_complete", "cohort week of"), ("period_closed", "week of")):
        kpis = [k for k in KPIS if k.final_column == final_column]
        found = con.execute(
            f"SELECT period_start, {', '.join(k.name for k in kpis)} FROM marts.kpi_weekly "
            f"WHERE {final_column} ORDER BY period_start DESC LIMIT 1"
        ).fetchall()
        if found:
            period, *values = found[0]
            rows += [(k, f"{label} {period}", value) for k, value in zip(kpis, values, strict=True)]
    return sorted(rows, key=lambda row: KPIS.index(row[0]))
