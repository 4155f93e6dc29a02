"""Spark: where the local (`session` method) metastore and tables live, and the session itself.

The dbt profile's `spark` target (dbt_project/profiles.yml) reads the same variables, so a session
made here and the one dbt-spark makes agree (dbt-spark calls `SparkSession.builder...getOrCreate()`,
so in one process it reuses a session made here):

- FUNNEL_SPARK_WAREHOUSE_DIR: `spark.sql.warehouse.dir`, where the model tables' Parquet files go;
- FUNNEL_SPARK_METASTORE_DIR: the embedded Derby metastore (one process at a time);
- FUNNEL_SPARK_MASTER: `local[2]` by default; FUNNEL_SPARK_SHUFFLE_PARTITIONS: 4.

Every session runs in UTC (`spark.sql.session.timeZone`, and the JVM's `user.timezone`).
"""

from __future__ import annotations

import os
from pathlib import Path

from pipelines.settings import Settings

WAREHOUSE_DIR_ENV = "FUNNEL_SPARK_WAREHOUSE_DIR"
METASTORE_DIR_ENV = "FUNNEL_SPARK_METASTORE_DIR"


def spark_dirs(settings: Settings) -> tuple[Path, Path]:
    """(warehouse dir, metastore dir): from the variables, else `<warehouse stem>.spark/` beside the warehouse."""
    base = settings.warehouse.with_name(f"{settings.warehouse.stem}.spark")
    warehouse = Path(os.environ.get(WAREHOUSE_DIR_ENV) or base / "warehouse").resolve()
    metastore = Path(os.environ.get(METASTORE_DIR_ENV) or base).resolve()
    return warehouse, metastore


def spark_env(settings: Settings) -> dict[str, str]:
    warehouse, metastore = spark_dirs(settings)
    return {WAREHOUSE_DIR_ENV: str(warehouse), METASTORE_DIR_ENV: str(metastore)}


def spark_conf(settings: Settings) -> dict[str, str]:
    """The same settings as the profile's server_side_parameters."""
    warehouse, metastore = spark_dirs(settings)
    return {
        "spark.master": os.environ.get("FUNNEL_SPARK_MASTER", "local[2]"),
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.warehouse.dir": str(warehouse),
        "spark.hadoop.javax.jdo.option.ConnectionURL": f"jdbc:derby:;databaseName={metastore}/metastore_db;create=true",
        "spark.driver.extraJavaOptions": f"-Dderby.system.home={metastore} -Duser.timezone=UTC",
        "spark.sql.legacy.createHiveTableByDefault": "false",
        "spark.sql.sources.default": "parquet",
        "spark.sql.shuffle.partitions": os.environ.get("FUNNEL_SPARK_SHUFFLE_PARTITIONS", "4"),
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.ansi.enabled": "false",  # as dbt-spark sets it
    }


def spark_session(settings: Settings):
    """The process's SparkSession (created with spark_conf on first use, with Hive metastore support)."""
    from pyspark.sql import SparkSession

    _, metastore = spark_dirs(settings)
    metastore.mkdir(parents=True, exist_ok=True)
    builder = SparkSession.builder.appName("checkout-funnel").enableHiveSupport()
    for key, value in spark_conf(settings).items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


def stop_spark() -> None:
    """Stop the process's SparkSession, if any (releases the Derby metastore)."""
    from pyspark.sql import SparkSession

    session = SparkSession.getActiveSession()
    if session is not None:
        session.stop()
