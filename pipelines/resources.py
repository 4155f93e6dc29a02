"""Dagster resources: the DuckDB warehouse and the landing directory, from FUNNEL_* settings."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb

from pipelines.core import warehouse
from pipelines.core.settings import Settings, published_path


class WarehouseResource(dg.ConfigurableResource):
    """The pipeline's DuckDB file. Connections are short-lived: open, work, close."""

    path: str
    memory_limit: str = Settings.duckdb_memory_limit
    threads: int = Settings.duckdb_threads
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

    def settings(self) -> Settings:
        """The settings in force, with this resource's warehouse, memory limit and threads."""
        return Settings.from_env(warehouse=self.path).with_(duckdb_memory_limit=self.memory_limit, duckdb_threads=self.threads)

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
