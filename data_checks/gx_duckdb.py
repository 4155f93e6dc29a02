"""Great Expectations 1.x over the DuckDB warehouse, through GX's SQL datasource.

Two facts about GX 1.24 + duckdb-engine (see DEVELOPERS.md):

- GX keeps one persisted SQLAlchemy connection only for the dialects in
  `sqlalchemy_execution_engine._PERSISTED_CONNECTION_DIALECTS`; for any other dialect it opens a new
  connection per query, and a new duckdb-engine connection is a new (empty) database. DuckDB is
  added to that tuple here, in this one place (`patch_gx_for_duckdb`), idempotently.
- The checks run on the caller's DuckDB connection (the pipeline holds the warehouse's only
  read-write handle). The engine is built with a `creator` that hands SQLAlchemy a cursor of that
  connection: same database, same transaction view, no second file handle, works for in-memory
  databases too. Every expectation therefore compiles to SQL and runs inside DuckDB; nothing pulls a
  table into pandas.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

_PATCHED = False


class _DialectName(str):
    """A dialect name GX can compare with both `==` and `.value` (as it does with GXSqlDialect)."""

    @property
    def value(self) -> str:
        return str(self)


def patch_gx_for_duckdb() -> None:
    """Register DuckDB among GX's persisted-connection dialects (once per process)."""
    global _PATCHED
    if _PATCHED:
        return
    from great_expectations.execution_engine import sqlalchemy_execution_engine as engine_module

    names = {getattr(d, "value", d) for d in engine_module._PERSISTED_CONNECTION_DIALECTS}
    if "duckdb" not in names:
        engine_module._PERSISTED_CONNECTION_DIALECTS = (
            *engine_module._PERSISTED_CONNECTION_DIALECTS,
            _DialectName("duckdb"),
        )
    _PATCHED = True


def ephemeral_context(docs_dir: Path | None = None):
    """A GX ephemeral context, progress bars off, with a filesystem Data Docs site if asked."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    patch_gx_for_duckdb()
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    for site in list(context.get_site_names()):  # the default temporary site: not wanted
        context.delete_data_docs_site(site)
    if docs_dir is not None:
        docs_dir = Path(docs_dir).resolve()
        docs_dir.mkdir(parents=True, exist_ok=True)
        context.add_data_docs_site(
            site_name="funnel_data_health",
            site_config={
                "class_name": "SiteBuilder",
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(docs_dir),
                },
            },
        )
    return context


def add_warehouse_datasource(context, con: duckdb.DuckDBPyConnection, name: str = "warehouse"):
    """A GX SQL datasource whose every query runs on a cursor of `con`."""
    import duckdb_engine

    patch_gx_for_duckdb()

    def creator():
        cursor = con.cursor()
        cursor.execute("SET TimeZone = 'UTC'")
        return duckdb_engine.ConnectionWrapper(cursor)

    return context.data_sources.add_sql(
        name=name, connection_string="duckdb://", kwargs={"creator": creator}
    )
