"""Running the dbt project on engines other than DuckDB: PostgreSQL and Spark (docs/engines.md).

DuckDB stays the default and the validator: ingestion always validates the landed files with DuckDB
into the warehouse file. For another target the accepted rows are then published to that engine
(`export`: Parquet partitioned by date for Spark; `postgres`: COPY into PostgreSQL) and the same dbt
models and tests are built there (`dbt`).
"""

from __future__ import annotations

import os

TARGETS = ("duckdb", "postgres", "spark")
DEFAULT_TARGET = "duckdb"
TARGET_ENV = "FUNNEL_TARGET"


class UnknownTarget(ValueError):
    pass


def resolve_target(target: str | None = None) -> str:
    """The dbt target to use: `target` if given, else $FUNNEL_TARGET, else duckdb."""
    value = (target or os.environ.get(TARGET_ENV) or DEFAULT_TARGET).strip().lower()
    if value not in TARGETS:
        raise UnknownTarget(f"unknown target {value!r}: one of {', '.join(TARGETS)}")
    return value
