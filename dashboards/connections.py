"""Connections to the published DuckDB copy: one read-only, locked-down connection per published file *version* (inode, mtime, size),
opened on first use (`sql_guard.open_pinned`) and shared by every query and session of the process
(each query runs on its own cursor). When the file's identity changes (a publish renamed a new copy
over it, or it disappeared), the next query opens the new copy and the old connection is closed as
soon as no query is using it. This never blocks the pipeline: it never opens the published file for
writing, it writes a temporary file and renames it over (pipelines/publish.py), so holding the old
inode read-only is harmless (its disk space is freed when the old connection closes; until then the
next publish copies the published file instead of updating that inode, its spare, in place).
"""

from __future__ import annotations

import contextlib
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from pipelines.core.settings import Settings
from pipelines.core.sql_guard import PublishedMissing, open_pinned


def published_path() -> Path:
    """The published copy this dashboard reads (the settings' FUNNEL_PUBLISHED, else beside FUNNEL_WAREHOUSE)."""
    return Settings.from_env().published


def version(path: Path | None = None) -> tuple[str, int, int, int] | None:
    """Identity of the published file now: changes with every publish (rename gives a new inode)."""
    path = path or published_path()
    try:
        s = path.stat()
    except FileNotFoundError:
        return None
    return (str(path), s.st_ino, s.st_mtime_ns, s.st_size)


# ------------------------------------------------------------------------------------- connections

@dataclass
class _Pinned:
    """The connection to one version of the published file, and the tables it holds."""

    version: tuple[str, int, int, int]
    con: duckdb.DuckDBPyConnection
    tables: frozenset[tuple[str, str]]
    users: int = 0
    retired: bool = False
    closed: bool = field(default=False, repr=False)

    def close_if_idle(self) -> None:
        if self.retired and self.users == 0 and not self.closed:
            self.closed = True
            self.con.close()


_POOL_LOCK = threading.Lock()
_POOL: dict[str, _Pinned] = {}  # resolved path -> its current version's connection


def _open(path: str, v: tuple[str, int, int, int]) -> _Pinned:
    con = open_pinned(path)
    try:
        tables = frozenset(con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE table_catalog = 'published'"
        ).fetchall())
    except BaseException:
        con.close()
        raise
    return _Pinned(v, con, tables)


def _retire(path: str) -> None:
    entry = _POOL.pop(path, None)
    if entry is not None:
        entry.retired = True
        entry.close_if_idle()


@contextlib.contextmanager
def _pinned(path: Path | str) -> Iterator[_Pinned]:
    """The connection of the file's current version (opened if new), held for the duration."""
    path = str(path)
    with _POOL_LOCK:
        now = version(Path(path))  # the identity now, checked under the lock: one reopen per publish
        if now is None:
            _retire(path)
            raise PublishedMissing(f"no published warehouse at {path}: run `funnel run --landing DIR "
                                   "--warehouse FILE` first")
        entry = _POOL.get(path)
        if entry is None or entry.version != now:
            _retire(path)
            entry = _POOL[path] = _open(path, now)
        entry.users += 1
    try:
        yield entry
    finally:
        with _POOL_LOCK:
            entry.users -= 1
            entry.close_if_idle()


def query(path: Path | str, sql: str, params: list | dict | None = None) -> pd.DataFrame:
    """Run one read-only query on the current version's connection (its own cursor)."""
    with _pinned(path) as entry:
        with _POOL_LOCK:  # creating/closing cursors touches the parent connection: one thread at a time
            cur = entry.con.cursor()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return cur.execute(sql, params or []).df()
        finally:
            with _POOL_LOCK:
                cur.close()


def close_connections() -> None:
    """Close every pinned connection (each as soon as no query uses it). The next query reopens."""
    with _POOL_LOCK:
        for path in list(_POOL):
            _retire(path)


def current_version() -> tuple[str, int, int, int]:
    """The published copy's version; PublishedMissing (saying what to do) when there is none."""
    v = version()
    if v is None:
        raise PublishedMissing(
            f"No published warehouse at {published_path()}. Run the pipeline first: "
            "`funnel run --landing DIR --warehouse FILE` (the dashboard reads `<warehouse>.published.duckdb`)."
        )
    return v


def has_table(schema: str, table: str) -> bool:
    """Whether the published copy holds the table (read once per published version)."""
    with _pinned(current_version()[0]) as entry:
        return (schema, table) in entry.tables
