"""Spark: where the local (`session` method) metastore and tables live, and the session itself.

The dbt profile's `spark` target (dbt_project/profiles.yml) reads the same settings (handed to it by
`Settings.dbt_env()`), so a session made here and the one dbt-spark makes agree (dbt-spark calls
`SparkSession.builder...getOrCreate()`, so in one process it reuses a session made here). The
settings (`FUNNEL_SPARK_*`) are in pipelines/core/settings.py.

Every session runs in UTC (`spark.sql.session.timeZone`, and the JVM's `user.timezone`).
"""

from __future__ import annotations

from pipelines.core.settings import Settings


def spark_conf(settings: Settings) -> dict[str, str]:
    """The same settings as the profile's server_side_parameters."""
    warehouse, metastore = settings.spark_dirs
    return {
        "spark.master": settings.spark_master,
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.warehouse.dir": str(warehouse),
        "spark.hadoop.javax.jdo.option.ConnectionURL": f"jdbc:derby:;databaseName={metastore}/metastore_db;create=true",
        "spark.driver.extraJavaOptions": f"-Dderby.system.home={metastore} -Duser.timezone=UTC",
        "spark.sql.legacy.createHiveTableByDefault": "false",
        "spark.sql.sources.default": "parquet",
        "spark.sql.shuffle.partitions": str(settings.spark_shuffle_partitions),
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.ansi.enabled": "false",  # as dbt-spark sets it
    }


def spark_session(settings: Settings):
    """The process's SparkSession (created with spark_conf on first use, with Hive metastore support)."""
    from pyspark.sql import SparkSession

    _, metastore = settings.spark_dirs
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
