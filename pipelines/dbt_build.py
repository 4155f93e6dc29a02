"""What a dbt build depends on, without importing Dagster: the project's files and their fingerprint."""

from __future__ import annotations

import hashlib
from pathlib import Path

from pipelines.core.settings import DBT_PROJECT_DIR

DBT_SOURCE_DIRS = ("models", "macros", "seeds", "tests")
SEMANTIC_LAYER_DIR = "models/semantic"


def project_files() -> list[Path]:
    files = [DBT_PROJECT_DIR / "dbt_project.yml"]
    for folder in DBT_SOURCE_DIRS:
        files += sorted(p for p in (DBT_PROJECT_DIR / folder).rglob("*") if p.is_file())
    return files


def table_defining_files() -> list[Path]:
    """The project's files but the semantic layer's YAML (models/semantic/*.yml: semantic models,
    metrics, the time spine's description): it defines queries over the marts, not their rows, so a
    metrics-only change must not rebuild the incremental models (docs/metrics.md)."""
    semantic = DBT_PROJECT_DIR / SEMANTIC_LAYER_DIR
    return [p for p in project_files() if not (p.suffix == ".yml" and p.is_relative_to(semantic))]


def build_fingerprint(conversion_window_days: int) -> str:
    """Changes whenever a dbt build could give other tables from the same raw data."""
    digest = hashlib.sha256(f"conversion_window_days={conversion_window_days}".encode())
    for path in table_defining_files():
        digest.update(path.relative_to(DBT_PROJECT_DIR).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()
