"""Publishing the warehouse for readers: a read-only copy of the public schemas, swapped atomically.

Readers (dashboard, analysts, `funnel sql`) never open the warehouse itself, so they never block a
run and a run never breaks them. After a successful run the public schemas are copied to a temporary
file that is renamed over the published copy: a reader sees either the old copy or the new one.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from pipelines.settings import published_path

PUBLISHED_SCHEMAS = ("marts", "audit")
# The column in which an incremental dbt model keeps the newest load its rows were built from.
BUILD_WATERMARK = "_inputs_loaded_at"


def column_descriptions(manifest_path: Path) -> pa.Table:
    """Table and column descriptions from the dbt manifest, for the analysts' schema browser."""
    rows = {"table_schema": [], "table_name": [], "column_name": [], "description": []}
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        nodes = list(manifest.get("nodes", {}).values()) + list(manifest.get("sources", {}).values())
        for node in nodes:
            if node.get("resource_type") not in ("model", "seed", "source"):
                continue
            schema = node.get("config", {}).get("schema") or node.get("schema")
            table = node.get("identifier") or node.get("alias") or node["name"]
            rows["table_schema"].append(schema)
            rows["table_name"].append(table)
            rows["column_name"].append(None)
            rows["description"].append(node.get("description") or "")
            for column in node.get("columns", {}).values():
                rows["table_schema"].append(schema)
                rows["table_name"].append(table)
                rows["column_name"].append(column["name"])
                rows["description"].append(column.get("description") or "")
    return pa.table(rows, schema=pa.schema([(name, pa.string()) for name in rows]))


def publish(con: duckdb.DuckDBPyConnection, warehouse: Path, manifest_path: Path) -> Path:
    """Copy the public schemas of the open warehouse to its published path. Returns that path."""
    target = published_path(warehouse)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    temporary.unlink(missing_ok=True)
    tables = con.execute(
        "SELECT table_schema, table_name FROM information_schema.tables "
        f"WHERE table_catalog = current_database() AND table_schema IN {PUBLISHED_SCHEMAS} ORDER BY ALL"
    ).fetchall()
    con.execute(f"ATTACH '{temporary}' AS published_copy")
    try:
        for schema in PUBLISHED_SCHEMAS:
            con.execute(f"CREATE SCHEMA published_copy.{schema}")
        bookkept = set(
            con.execute(
                "SELECT table_schema, table_name FROM information_schema.columns "
                f"WHERE table_catalog = current_database() AND column_name = '{BUILD_WATERMARK}'"
            ).fetchall()
        )
        for schema, table in tables:
            # The incremental models' watermark is the build's bookkeeping, not data: readers never see it.
            columns = f"* EXCLUDE ({BUILD_WATERMARK})" if (schema, table) in bookkept else "*"
            con.execute(f'CREATE TABLE published_copy.{schema}."{table}" AS SELECT {columns} FROM {schema}."{table}"')
        con.register("column_descriptions", column_descriptions(manifest_path))
        con.execute("CREATE SCHEMA published_copy.meta")
        con.execute("CREATE TABLE published_copy.meta.column_descriptions AS SELECT * FROM column_descriptions")
        con.unregister("column_descriptions")
        con.execute(
            "CREATE TABLE published_copy.meta.published AS SELECT ?::TIMESTAMP AS published_at",
            [datetime.now(UTC).replace(tzinfo=None)],
        )
    finally:
        con.execute("DETACH published_copy")
    os.replace(temporary, target)
    return target
