"""The last run's outcome, beside the published copy, for readers.

When a run fails (a blocking data check, a dbt error), the published copy keeps the last good data,
and the failure cannot be written into it; this small JSON file tells readers (the dashboard's Data
health page, through pipelines/core/run_status.py) why the copy is not newer. It is written inside the Dagster job only, by one function
for each outcome: `published_warehouse` writes the success when it has replaced the copy
(pipelines/assets/publish.py), and the failure hook `pipelines.hooks.record_failed_run` calls
`record_failure` when a step of the run fails (a run from `funnel run`, the Dagster UI, the sensor or
the schedule alike).
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

from pipelines.core.run_status import read_status_file, status_path_of_published
from pipelines.core.settings import published_path


def status_path(warehouse: Path | str) -> Path:
    return status_path_of_published(published_path(warehouse))


def write_run_status(warehouse: Path | str, *, run_id: str, status: str, message: str) -> Path:
    target = status_path(warehouse)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    temporary.write_text(
        json.dumps(
            {
                "run_id": run_id,
                "status": status,
                "message": message,
                "finished_at": datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="seconds"),
            },
            indent=2,
        )
    )
    os.replace(temporary, target)
    return target


def read_run_status(warehouse: Path | str) -> dict | None:
    return read_status_file(status_path(warehouse))


def record_failure(
    warehouse: Path | str, run_id: str, message: str, *, started_at: datetime | None = None, lock_wait_seconds: float = 60.0
) -> bool:
    """A failed run: its one row in audit.pipeline_runs (replaced when another step of the same run
    fails later, the message then naming every failure so far), with the counts of the files it
    recorded, and the run-status file. The status file is written even when another run holds the
    warehouse for longer than `lock_wait_seconds`; the row is not, and this returns False."""
    from pipelines.core.warehouse import WarehouseBusyError, connect, writer_lock
    from pipelines.ingest.ledger import ensure_tables

    try:
        now = datetime.now(UTC).replace(tzinfo=None)
        with writer_lock(Path(warehouse), wait_seconds=lock_wait_seconds), connect(warehouse) as con:
            ensure_tables(con)
            con.execute("DELETE FROM audit.pipeline_runs WHERE run_id = ? AND status = 'failure'", [run_id])
            con.execute(
                """
                INSERT INTO audit.pipeline_runs (run_id, started_at, finished_at, status, message,
                                                 files_loaded, files_rejected, rows_loaded, rows_rejected)
                SELECT ?, coalesce(?, min(loaded_at), ?), ?, 'failure', ?,
                       count(*) FILTER (WHERE status = 'loaded'), count(*) FILTER (WHERE status = 'rejected'),
                       coalesce(sum(rows_loaded), 0), coalesce(sum(rows_rejected), 0)
                FROM audit.load_ledger WHERE run_id = ?
                """,
                [run_id, started_at, now, now, message, run_id],
            )
        return True
    except WarehouseBusyError:
        return False
    finally:
        write_run_status(warehouse, run_id=run_id, status="failure", message=message)
