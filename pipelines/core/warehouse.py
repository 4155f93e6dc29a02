"""Opening the DuckDB warehouse: one writer at a time, every session pinned to UTC."""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb

from pipelines.core.settings import Settings

# The column in which an incremental dbt model keeps the newest load its rows were built from: every
# row of one build carries the same value (the build, the publish and the checks read it).
BUILD_WATERMARK = "_inputs_loaded_at"


class WarehouseBusyError(RuntimeError):
    """Another process is writing the warehouse."""


_held_locks: dict[str, int] = {}
_held_guard = threading.Lock()


def lock_path(warehouse: Path) -> Path:
    return warehouse.with_name(warehouse.name + ".lock")


@contextlib.contextmanager
def writer_lock(warehouse: Path, wait_seconds: float = 0.0) -> Iterator[None]:
    """Hold the single-writer lock of a warehouse; re-entrant within one process.

    Waits up to `wait_seconds` for another writer to finish, then raises WarehouseBusyError.
    """
    warehouse = Path(warehouse).resolve()
    key = str(warehouse)
    with _held_guard:
        if key in _held_locks:
            _held_locks[key] += 1
            reentered = True
        else:
            reentered = False
    if reentered:
        try:
            yield
        finally:
            with _held_guard:
                _held_locks[key] -= 1
        return

    warehouse.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path(warehouse), os.O_CREAT | os.O_RDWR, 0o644)
    deadline = time.monotonic() + wait_seconds
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise WarehouseBusyError(
                        f"another pipeline run is writing {warehouse} (lock {lock_path(warehouse)}); "
                        "wait for it to finish, or pass --wait SECONDS to queue behind it"
                    ) from None
                time.sleep(0.2)
        with _held_guard:
            _held_locks[key] = 1
        try:
            yield
        finally:
            with _held_guard:
                del _held_locks[key]
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def configure(
    con: duckdb.DuckDBPyConnection, memory_limit: str = Settings.duckdb_memory_limit, threads: int = Settings.duckdb_threads
) -> None:
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"SET memory_limit = '{memory_limit}'")
    con.execute(f"SET threads = {int(threads)}")
    # Row order in a table carries no meaning here (every query that needs an order says ORDER BY):
    # inserts that need not keep it are faster and use less memory.
    con.execute("SET preserve_insertion_order = false")


@contextlib.contextmanager
def connect(
    path: Path | str,
    *,
    read_only: bool = False,
    memory_limit: str = Settings.duckdb_memory_limit,
    threads: int = Settings.duckdb_threads,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A short-lived DuckDB connection pinned to UTC; closed on exit."""
    path = Path(path)
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path), read_only=read_only)
    try:
        configure(con, memory_limit, threads)
        yield con
    finally:
        con.close()
