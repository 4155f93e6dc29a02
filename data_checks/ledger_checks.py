"""Checks of the load ledger: conservation (every row read is loaded, rejected or a duplicate; the raw
and rejected rows match the ledger) and files changed after they were loaded."""

from __future__ import annotations

from data_checks.check import ERROR, WARNING, Check, CheckParams, load_filter, rows_expectation


# ---------------------------------------------------------------- audit.load_ledger (conservation)
def _raw_rows_match_ledger(p: CheckParams) -> list:
    """Per file, raw rows = the ledger's rows_loaded (both sides limited to the loads being checked: a
    load writes its raw rows and its ledger rows with one run id, in one transaction). Scoped to loads,
    the whole history is reconciled by totals too: sum(rows_loaded) per source = count(*) of the raw
    table (a row count, no column read), which catches raw rows added or removed after their load."""
    raw = load_filter(p.loads)
    per_file = f"""
        WITH raw_counts AS (
            SELECT 'checkout_events' AS source, _file_path AS file_path, count(*) AS raw_rows
              FROM raw.checkout_events WHERE {raw} GROUP BY _file_path
            UNION ALL
            SELECT 'orders', _file_path, count(*) FROM raw.orders WHERE {raw} GROUP BY _file_path),
        ledger AS (SELECT source, file_path, sum(rows_loaded) AS rows_loaded FROM {{batch}}
                    WHERE {load_filter(p.loads, "run_id")} GROUP BY source, file_path)
        SELECT coalesce(l.source, r.source) AS source, coalesce(l.file_path, r.file_path) AS file_path,
               coalesce(l.rows_loaded, 0) AS rows_loaded, coalesce(r.raw_rows, 0) AS raw_rows
          FROM ledger l FULL OUTER JOIN raw_counts r
            ON l.source = r.source AND l.file_path = r.file_path
         WHERE coalesce(l.rows_loaded, 0) <> coalesce(r.raw_rows, 0)
    """
    if p.loads is None:
        return [rows_expectation(per_file + " ORDER BY source, file_path")]
    totals = """
        SELECT r.source, '(all files, every load)' AS file_path, coalesce(l.rows_loaded, 0) AS rows_loaded,
               r.raw_rows
          FROM (SELECT 'checkout_events' AS source, count(*) AS raw_rows FROM raw.checkout_events
                UNION ALL SELECT 'orders', count(*) FROM raw.orders) r
          LEFT JOIN (SELECT source, sum(rows_loaded) AS rows_loaded FROM {batch} GROUP BY source) l
            ON l.source = r.source
         WHERE coalesce(l.rows_loaded, 0) <> r.raw_rows
    """
    return [rows_expectation(f"SELECT * FROM ({per_file} UNION ALL {totals}) ORDER BY source, file_path")]


def _rejected_rows_match_ledger(p: CheckParams) -> list:
    """Per file, audit.rejected_rows keeps what the ledger counts: a loaded file's `rows_rejected` rows,
    each with its row number, and one row without a row number (the reason) for a file rejected whole.
    Scoped to the loads being checked (the ledger and the rejected rows of a load share its run id),
    plus, per source, the same counts over the whole history: rejected rows deleted after their load
    still fail."""

    def mismatches(keys: str, where: str, file_path: str) -> str:
        join = " AND ".join(f"l.{key} = k.{key}" for key in keys.split(", "))
        return f"""
            SELECT coalesce(l.source, k.source) AS source, {file_path} AS file_path,
                   coalesce(l.rows_rejected, 0) AS rows_rejected, coalesce(k.rows_kept, 0) AS rows_kept,
                   coalesce(l.files_rejected, 0) AS files_rejected, coalesce(k.file_reasons_kept, 0) AS file_reasons_kept
              FROM (SELECT {keys}, sum(rows_rejected) FILTER (WHERE status <> 'rejected') AS rows_rejected,
                           count(*) FILTER (WHERE status = 'rejected') AS files_rejected
                      FROM {{batch}} WHERE {where} GROUP BY {keys}) l
              FULL OUTER JOIN
                   (SELECT {keys}, count(row_number) AS rows_kept, count(*) - count(row_number) AS file_reasons_kept
                      FROM audit.rejected_rows WHERE {where} GROUP BY {keys}) k ON {join}
             WHERE coalesce(l.rows_rejected, 0) <> coalesce(k.rows_kept, 0)
                OR coalesce(l.files_rejected, 0) <> coalesce(k.file_reasons_kept, 0)
        """

    per_file = mismatches("source, file_path", load_filter(p.loads, "run_id"), "coalesce(l.file_path, k.file_path)")
    if p.loads is None:
        return [rows_expectation(per_file + " ORDER BY source, file_path")]
    totals = mismatches("source", "TRUE", "'(all files, every load)'")
    return [rows_expectation(f"SELECT * FROM ({per_file} UNION ALL {totals}) ORDER BY source, file_path")]


CONSERVATION_CHECKS = [
    Check(
        "ledger_rows_conserved", "audit/load_ledger", "audit.load_ledger", ERROR,
        "for every landed file, rows read = loaded + rejected + duplicates dropped",
        "rows_read = rows_loaded + rows_rejected + duplicates_dropped on every ledger row",
        lambda p: [
            rows_expectation(
                "SELECT source, file_path, status, rows_read, rows_loaded, rows_rejected, duplicates_dropped "
                "FROM {batch} WHERE rows_read IS NULL OR rows_loaded IS NULL OR rows_rejected IS NULL "
                "OR duplicates_dropped IS NULL OR rows_read <> rows_loaded + rows_rejected + duplicates_dropped "
                "OR least(rows_read, rows_loaded, rows_rejected, duplicates_dropped) < 0 "
                "OR (status = 'rejected' AND rows_loaded <> 0) ORDER BY source, file_path"
            )
        ],
    ),
    Check(
        "raw_rows_match_ledger", "audit/load_ledger", "audit.load_ledger", ERROR,
        "the raw tables hold exactly the rows the ledger says were loaded, file by file",
        "count(raw rows of file) = rows_loaded for every file; no raw row from a file missing in the ledger; "
        "per source, raw rows = sum(rows_loaded)",
        _raw_rows_match_ledger,
        reads=("raw.checkout_events", "raw.orders"),
    ),
    Check(
        "rejected_rows_match_ledger", "audit/load_ledger", "audit.load_ledger", ERROR,
        "every rejected row and every file rejected whole is kept in audit.rejected_rows, as the ledger counts them",
        "per file: rows with a row number = rows_rejected of a loaded file, one row without a row number for a "
        "file rejected whole; per source, the same over every load",
        _rejected_rows_match_ledger,
        reads=("audit.rejected_rows",),
    ),
    Check(
        "ledger_rejected_input", "audit/load_ledger", "audit.load_ledger", WARNING,
        "input rejected by the latest load: files rejected whole and rows rejected, with reasons "
        "(bad input is rejected and counted, never an error)",
        "0 files and 0 rows rejected in the latest load",
        lambda p: [
            rows_expectation(
                """
                SELECT l.source, l.file_path, l.status, l.reason AS file_reason, l.rows_read, l.rows_rejected,
                       (SELECT string_agg(DISTINCT r.reason, '; ' ORDER BY r.reason) FROM audit.rejected_rows r
                         WHERE r.source = l.source AND r.file_path = l.file_path) AS row_reasons
                  FROM (SELECT * FROM {batch}) l
                 WHERE l.loaded_at = (SELECT max(loaded_at) FROM audit.load_ledger)
                   AND (l.status = 'rejected' OR l.rows_rejected > 0)
                 ORDER BY l.source, l.file_path
                """
            )
        ],
        reads=("audit.rejected_rows",),
        observe_sql=lambda p: (
            "SELECT count(*) FILTER (WHERE status = 'rejected') || ' file(s) rejected whole, ' || "
            "coalesce(sum(rows_rejected), 0) || ' row(s) rejected, ' || coalesce(sum(rows_loaded), 0) || "
            "' row(s) loaded in the latest load' FROM audit.load_ledger "
            "WHERE loaded_at = (SELECT max(loaded_at) FROM audit.load_ledger)"
        ),
    ),
    Check(
        "files_changed_after_load", "audit/load_ledger", "audit.load_ledger", WARNING,
        "no landed file was changed after it was loaded (a changed version is rejected and nothing of it "
        "loads: corrections land as new files)",
        "no ledger row rejected because its file changed after it was loaded",
        lambda p: [rows_expectation(_changed_files_query("{batch}"))],
        observe_sql=lambda p: (
            "SELECT count(*) || ' file(s) changed after they were loaded' || coalesce(': ' || "
            f"string_agg(file_path || ' (' || versions || ' version(s))', ', ' ORDER BY file_path), '') "
            f"FROM ({_changed_files_query('audit.load_ledger')})"
        ),
    ),
]


def _changed_files_query(ledger_table: str) -> str:
    """Files with a version rejected because it changed after an earlier version was loaded, whole ledger."""
    from pipelines.core.contract import CHANGED_AFTER_LOADED, REJECTED

    return (
        "SELECT source, file_path, count(*) AS versions, min(loaded_at) AS first_seen, max(loaded_at) AS last_seen, "
        f"arg_max(file_sha256, loaded_at) AS latest_sha256 FROM {ledger_table} "
        f"WHERE status = '{REJECTED}' AND starts_with(reason, '{CHANGED_AFTER_LOADED}') "
        "GROUP BY source, file_path ORDER BY source, file_path"
    )
