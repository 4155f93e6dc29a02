"""dbt on a target: publishing the validated raw rows to the engine, then `dbt build` there.

- duckdb: the ingestion already wrote the raw tables into the warehouse file; dbt builds in it.
- postgres: the raw and audit tables are bulk-loaded with COPY (pipelines.engines.postgres).
- spark: the raw and audit tables are written as Parquet (pipelines.engines.export) and read by
  Spark as external tables, which the dbt on-run-start hook (re)creates over those folders.
Either way only the raw rows the engine lacks travel (pipelines.engines.increment).

dbt runs as a child process (what dagster-dbt does too) or, with `in_process=True`, through
dbtRunner in this process: with the Spark `session` method that reuses this process's SparkSession,
which saves the 10-20 s a JVM takes to start (the engine tests use it).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import duckdb

from pipelines.core.settings import DBT_PROJECT_DIR, Settings, dbt_executable, dbt_vars, scoped_environ
from pipelines.engines import resolve_target
from pipelines.engines.export import RAW_PARQUET_ENV, export_raw_parquet, raw_parquet_dir
from pipelines.engines.increment import Published
from pipelines.engines.postgres import libpq_environment


@dataclass
class DbtOutcome:
    success: bool
    output: str


def target_env(target: str, settings: Settings) -> dict[str, str]:
    """Variables the dbt profile of `target` reads (added to the caller's environment): the settings'
    (`Settings.dbt_env`), plus PostgreSQL's connection and session settings (libpq_environment) and where Spark finds the raw Parquet."""
    target = resolve_target(target)
    env = settings.dbt_env()
    if target == "postgres":
        env.update(libpq_environment())
    if target == "spark":
        env[RAW_PARQUET_ENV] = str(raw_parquet_dir(settings))
    return env


def publish_raw(
    target: str, settings: Settings, con: duckdb.DuckDBPyConnection | None = None, full: bool = False
) -> Published:
    """Put what `target` lacks of the warehouse's validated raw and audit rows where it reads them
    (everything with `full`; pipelines.engines.increment). `con`: an open connection to the
    warehouse, else the file is opened read-only."""
    target = resolve_target(target)
    source = con if con is not None else settings.warehouse
    if target == "postgres":
        from pipelines.engines.postgres import load_raw_postgres

        return load_raw_postgres(source, full=full)
    if target == "spark":
        return export_raw_parquet(source, raw_parquet_dir(settings), full=full)
    return Published({}, replaced=False, reason="DuckDB builds in the warehouse itself")


def dbt_args(command: list[str], target: str, conversion_window_days: int | None = None) -> list[str]:
    args = [*command, "--target", resolve_target(target)]
    if conversion_window_days is not None:
        args += dbt_vars(conversion_window_days)
    return args


def run_dbt(
    command: list[str],
    target: str,
    settings: Settings,
    conversion_window_days: int | None = None,
    in_process: bool = False,
) -> DbtOutcome:
    """`dbt <command> --target <target>` on the project, with its own target and log folders
    (so it never disturbs dbt_project/target, which dagster-dbt reads)."""
    args = dbt_args(command, target, conversion_window_days)
    env = target_env(target, settings)
    with tempfile.TemporaryDirectory(prefix="funnel-dbt-") as scratch:
        common = [
            "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
            "--target-path", str(Path(scratch) / "target"), "--log-path", str(Path(scratch) / "logs"),
        ]
        if in_process:
            from dbt.cli.main import dbtRunner

            with scoped_environ(env), contextlib.chdir(DBT_PROJECT_DIR):
                result = dbtRunner().invoke([*args[:1], *common, *args[1:]])
            return DbtOutcome(result.success, "" if result.exception is None else str(result.exception))
        dbt = dbt_executable()
        completed = subprocess.run(
            [str(dbt), *args[:1], *common, *args[1:]],
            cwd=DBT_PROJECT_DIR,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            check=False,
        )
        return DbtOutcome(completed.returncode == 0, completed.stdout + completed.stderr)
