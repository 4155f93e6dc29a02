"""What a dbt build depends on, without importing Dagster: the project's files and their fingerprint."""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path

from pipelines.core.settings import DBT_PROJECT_DIR
from pipelines.core.warehouse import BUILD_WATERMARK

DBT_SOURCE_DIRS = ("models", "macros", "seeds", "tests")
# The incremental models' tables, on DuckDB and PostgreSQL alike (the raw and audit tables never carry it).
WATERMARKED_TABLES = (
    "SELECT c.table_schema, c.table_name FROM information_schema.columns AS c "
    "JOIN information_schema.tables AS t USING (table_schema, table_name) "
    f"WHERE c.column_name = '{BUILD_WATERMARK}' AND t.table_type = 'BASE TABLE' "
    "AND c.table_schema NOT IN ('raw', 'audit') ORDER BY 1, 2"
)
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


def rows_built_since(cursor, when: datetime) -> bool:
    """Whether an incremental model's table holds rows a build stamped after `when`; `cursor` is a
    DuckDB connection or a PostgreSQL cursor. A build's tests on the big models read only the rows it
    wrote (macros/incremental.sql, get_where_subquery): rows of a build that no successful run
    followed would never be tested again once a later build stamps newer ones."""
    cursor.execute(WATERMARKED_TABLES)
    tables = cursor.fetchall()
    if not tables:
        return False
    newest = " UNION ALL ".join(f'SELECT max({BUILD_WATERMARK}) AS stamp FROM "{schema}"."{table}"'
                                for schema, table in tables)
    cursor.execute(f"SELECT coalesce(max(stamp) > TIMESTAMP '{when.isoformat(sep=' ')}', false) FROM ({newest}) AS n")
    return bool(cursor.fetchone()[0])
