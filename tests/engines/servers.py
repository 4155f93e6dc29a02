"""Throwaway servers for the engine tests: a PostgreSQL 15 on 127.0.0.1 in a temporary folder.

`initdb` runs as the `postgres` OS user (the tests run as root); the data directory is a temporary
folder owned by `postgres`; the server listens on 127.0.0.1 only, on a free port, in UTC, without
fsync (a test server), and is stopped (`pg_ctl stop -m immediate`) and removed at the end, even on failure.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

PG_BIN = Path(os.environ.get("FUNNEL_PG_BIN", "/usr/lib/postgresql/15/bin"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def postgres_available() -> str | None:
    """None when a test PostgreSQL can be started here, else why not."""
    if not (PG_BIN / "initdb").exists():
        return f"no PostgreSQL binaries in {PG_BIN}"
    if shutil.which("runuser") is None:
        return "no runuser"
    try:
        import pwd

        pwd.getpwnam("postgres")
    except KeyError:
        return "no postgres OS user"
    return None


def _as_postgres(*args: str, **kwargs) -> subprocess.CompletedProcess:
    command = [*args] if os.geteuid() != 0 else ["runuser", "-u", "postgres", "--", *args]
    return subprocess.run(command, check=True, capture_output=True, text=True, **kwargs)


@contextlib.contextmanager
def postgres_server(database: str = "funnel") -> Iterator[dict[str, str]]:
    """Start a PostgreSQL server; yield the libpq variables to reach it; stop and delete it."""
    folder = Path(tempfile.mkdtemp(prefix="funnel-pg-"))
    data = folder / "data"
    port = free_port()
    started = False
    try:
        if os.geteuid() == 0:
            shutil.chown(folder, "postgres", "postgres")
        _as_postgres(str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                     "--locale=C.UTF-8", "--no-sync", cwd=folder)
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={folder} "
            "-c timezone=UTC -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        _as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(folder / "server.log"), "-w", "-t", "60",
                     "-o", options, "start", cwd=folder)
        started = True
        env = {"PGHOST": "127.0.0.1", "PGPORT": str(port), "PGUSER": "postgres", "PGPASSWORD": "", "PGTZ": "UTC"}
        subprocess.run(
            [str(PG_BIN / "psql"), "-v", "ON_ERROR_STOP=1", "-d", "postgres", "-c", f"CREATE DATABASE {database}"],
            check=True, capture_output=True, env={**os.environ, **env},
        )
        yield {**env, "PGDATABASE": database}
    finally:
        if started:
            with contextlib.suppress(subprocess.CalledProcessError):
                _as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop", cwd=folder)
        shutil.rmtree(folder, ignore_errors=True)
