"""The last run's outcome, beside the published copy, for readers.

When a run fails (a blocking data check, a dbt error), the published copy keeps the last good data;
this small JSON file tells readers why it is not newer.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

from pipelines.settings import published_path


def status_path(warehouse: Path | str) -> Path:
    published = published_path(warehouse)
    return published.with_name(published.stem + ".run-status.json")


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
    path = status_path(warehouse)
    if not path.exists():
        return None
    return json.loads(path.read_text())
