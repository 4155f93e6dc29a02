"""Start a run when new files land. (A failed run records itself: the job's failure hook, pipelines/hooks.py.)"""


import hashlib
from pathlib import Path

import dagster as dg
import duckdb

from pipelines.core.settings import Settings
from pipelines.core.warehouse import WarehouseBusyError, writer_lock
from pipelines.ingest.ledger import PathHistory, ledger_history
from pipelines.ingest.load import pending_versions
from pipelines.jobs import funnel_pipeline_job


def published_ledger_history(published: Path) -> dict[str, PathHistory]:
    """File versions the last published run had recorded (the sensor never opens the warehouse itself)."""
    if not published.exists():
        return {}
    con = duckdb.connect(str(published), read_only=True)
    try:
        return ledger_history(con)
    except duckdb.Error:  # published before file versions were recorded: every file looks new, once
        return {}
    finally:
        con.close()


def new_landed_files(landing_dir: Path, published: Path) -> list[str]:
    """Versions of files (new files, new versions, files to ignore) the published ledger lacks, each as
    `path size modified_at`, so that a new version of a known path asks for another run."""
    pending = pending_versions(published_ledger_history(published), landing_dir)
    return [f"{f.file_path} {f.size} {f.modified_at.isoformat()}" for f in pending]


@dg.sensor(job=funnel_pipeline_job, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.STOPPED)
def new_landed_files_sensor(context: dg.SensorEvaluationContext):
    settings = Settings.from_env()
    if not settings.landing_dir.is_dir():
        return dg.SkipReason(f"landing directory {settings.landing_dir} does not exist")
    new = new_landed_files(settings.landing_dir, settings.published)
    if not new:
        return dg.SkipReason("no new files")
    try:
        with writer_lock(settings.warehouse, wait_seconds=0):
            pass
    except WarehouseBusyError:
        return dg.SkipReason("a pipeline run is writing the warehouse; new files wait for the next tick")
    run_key = hashlib.sha256("\n".join(new).encode()).hexdigest()[:16]
    return dg.RunRequest(run_key=run_key, tags={"new_files": str(len(new))})

