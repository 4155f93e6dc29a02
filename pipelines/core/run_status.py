"""Where readers find the last run's outcome, and how they read it: a small JSON file beside the
published copy (`<published stem>.run-status.json`). The pipeline's job writes it
(pipelines/run_status.py); the dashboard reads it here."""

from __future__ import annotations

import json
from pathlib import Path


def status_path_of_published(published: Path | str) -> Path:
    published = Path(published)
    return published.with_name(published.stem + ".run-status.json")


def read_status_file(path: Path | str) -> dict | None:
    """The status file's content, or None when there is none (or it cannot be read)."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
