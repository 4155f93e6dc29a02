"""pipelines/speedups/warm_dbt.py: the dbt process `funnel run` starts ahead of the build, and `funnel-dbt`."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.core.settings import DBT_PROJECT_DIR, Settings
from pipelines.speedups import warm_dbt

CLIENT = Path(sys.executable).with_name(warm_dbt.CLIENT_EXECUTABLE)


def _client(*argv: str, **env: str) -> subprocess.CompletedProcess:
    """`funnel-dbt argv...` with this process's environment (SOCKET_ENV included, when set) plus `env`."""
    return subprocess.run([str(CLIENT), *argv], check=False, capture_output=True, text=True,
                          env={**os.environ, **env}, cwd=DBT_PROJECT_DIR, timeout=300)


def test_the_command_runs_in_the_started_process_with_the_clients_streams(tmp_path):
    """`dbt parse` through funnel-dbt: dbt's JSON log lines come out of the client's stdout and carry
    the started process's pid; the client exits with dbt's exit code; the process serves one command."""
    with warm_dbt.started() as process:
        done = _client(
            "parse", "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs"),
            **Settings(warehouse=tmp_path / "warehouse.duckdb").dbt_env(), DBT_LOG_FORMAT="json",
        )
        assert process.wait(timeout=60) == 0
    assert done.returncode == 0, done.stdout + done.stderr
    pids = {json.loads(line)["info"]["pid"] for line in done.stdout.splitlines() if line.startswith("{")}
    assert pids == {process.pid}
    assert (tmp_path / "target" / "manifest.json").is_file()


def test_the_warehouse_is_closed_cleanly_when_the_command_returns(tmp_path):
    """The process skips the interpreter's teardown, where dbt-duckdb would close the warehouse: it
    closes it before it answers. A DuckDB file closed cleanly has no write-ahead log left (a process
    gone with the file open leaves it for the next one to replay)."""
    warehouse = tmp_path / "warehouse.duckdb"
    with warm_dbt.started() as process:
        done = _client(
            "seed", "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs"),
            **Settings(warehouse=warehouse).dbt_env(),
        )
        assert process.wait(timeout=60) == 0
    assert done.returncode == 0, done.stdout + done.stderr
    assert warehouse.is_file() and not warehouse.with_name(warehouse.name + ".wal").exists()


@pytest.mark.parametrize("warm", [True, False], ids=["started process", "dbt itself"])
def test_exit_code_and_messages_are_dbts(warm, monkeypatch):
    """A usage error gives click's exit code 2 and message, whether the started process or a plain
    dbt (no SOCKET_ENV: `dagster dev`, sensors) runs the command."""
    monkeypatch.delenv(warm_dbt.SOCKET_ENV, raising=False)
    with warm_dbt.started() if warm else contextlib.nullcontext():
        done = _client("no-such-command")
    assert done.returncode == 2
    assert "No such command 'no-such-command'" in done.stderr


def test_a_second_command_runs_dbt_itself():
    """The started process serves one command (and exits with its code); the next one finds no socket
    and runs dbt itself."""
    with warm_dbt.started() as process:
        first = _client("--help")
        assert process.wait(timeout=60) == 0
        second = _client("--help")
    assert first.returncode == second.returncode == 0
    assert "Usage: dbt" in first.stdout and "Usage: dbt" in second.stdout


def test_an_unused_process_is_stopped_and_leaves_nothing_behind():
    """A run that builds nothing (it failed before dbt) stops the process, removes its socket and
    restores the environment."""
    with warm_dbt.started() as process:
        socket_path = Path(os.environ[warm_dbt.SOCKET_ENV])
        assert process.poll() is None  # waiting for a command
    assert process.returncode == -signal.SIGKILL  # killed while waiting, not gone on its own
    assert warm_dbt.SOCKET_ENV not in os.environ
    assert not socket_path.parent.exists()


def test_an_unused_process_is_stopped_even_when_sigterm_is_ignored():
    """A run started under `nohup` or by a supervisor may ignore SIGTERM; the process inherits that."""
    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        with warm_dbt.started() as process:
            assert process.poll() is None
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert process.returncode == -signal.SIGKILL
