"""Running the dbt project on engines other than DuckDB: PostgreSQL and Spark (docs/engines.md).

DuckDB stays the default and the validator: ingestion always validates the landed files with DuckDB
into the warehouse file. For another target the accepted rows are then published to that engine
(`export`: Parquet partitioned by date for Spark; `postgres`: COPY into PostgreSQL) and the same dbt
models and tests are built there (`dbt`).
"""

from __future__ import annotations

TARGETS = ("duckdb", "postgres", "spark")


class UnknownTarget(ValueError):
    pass


def resolve_target(target: str | None = None) -> str:
    """The dbt target to use: `target` if given, else the settings' (FUNNEL_TARGET, default duckdb)."""
    from pipelines.core.settings import Settings

    value = (target or Settings.from_env().target).strip().lower()
    if value not in TARGETS:
        raise UnknownTarget(f"unknown target {value!r}: one of {', '.join(TARGETS)}")
    return value
