"""Dagster resources: the DuckDB warehouse and the landing directory, from FUNNEL_* settings."""

from __future__ import annotations

import contextlib
import importlib.metadata
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path

import dagster as dg
import duckdb
from dagster_dbt import DbtCliResource
from packaging.version import Version

from pipelines import warehouse
from pipelines.settings import DEFAULT_DUCKDB_MEMORY_LIMIT, Settings, published_path


class WarehouseResource(dg.ConfigurableResource):
    """The pipeline's DuckDB file. Connections are short-lived: open, work, close."""

    path: str
    memory_limit: str = DEFAULT_DUCKDB_MEMORY_LIMIT
    threads: int = 2
    lock_wait_seconds: float = 600.0

    @property
    def published(self) -> Path:
        return published_path(self.path)

    @contextlib.contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        with warehouse.connect(
            self.path, read_only=read_only, memory_limit=self.memory_limit, threads=self.threads
        ) as con:
            yield con

    def writer_lock(self):
        """The single-writer lock; re-entrant, so a CLI run that holds it passes through."""
        return warehouse.writer_lock(Path(self.path), wait_seconds=self.lock_wait_seconds)

    @classmethod
    def from_settings(cls, settings: Settings) -> WarehouseResource:
        return cls(
            path=str(settings.warehouse),
            memory_limit=settings.duckdb_memory_limit,
            threads=settings.duckdb_threads,
        )


class LandingResource(dg.ConfigurableResource):
    """The landing directory that files arrive in."""

    path: str


class DbtBuildResource(DbtCliResource):
    """dagster-dbt's dbt CLI resource without two start-up costs it pays in this process before
    every dbt command, ~2-3 s each on 2 cores:
    - it runs `dbt --version` in a subprocess to learn the version: the `dbt` it runs is the one
      installed beside this interpreter (pipelines.settings puts it first on PATH), so the installed
      dbt-core's version is the answer;
    - it opens a dbt adapter here, which serves only `fetch_column_metadata` and row counts, which
      this project does not use."""

    @cached_property
    def _cli_version(self) -> Version:
        return Version(importlib.metadata.version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args):
        return None
