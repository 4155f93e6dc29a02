"""A dbt process started ahead of the build, so the build does not wait for dbt's imports.

dagster-dbt runs every dbt command as a subprocess, and a dbt process spends ~1.3 s of a 2-core
machine importing dbt-core and its adapter before it reads its first file. `funnel run` starts that
process when the run begins (`started()`): it imports dbt while the run imports Dagster, creates
the run, ingests and checks the new files, then waits on a Unix socket. The dbt resource's
executable is `funnel-dbt` (`client()`): it hands its command line, environment, working directory
and standard streams to the waiting process and exits with its exit code, so dagster-dbt streams
the same JSON log lines from the same pipe as from a plain `dbt`.

Without a waiting process (`dagster dev`, sensors, a second dbt command in one run, a process that
died) `funnel-dbt` runs `dbt` itself. A started process serves one command, then exits.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from pipelines.core.settings import dbt_executable

SOCKET_ENV = "FUNNEL_DBT_SOCKET"
CLIENT_EXECUTABLE = "funnel-dbt"  # the console script running client()
# What a dbt build imports (`python -X importtime`: after these, a build imports ~0.03 s more).
WARM_IMPORTS = ("dbt.cli.main", "dbt.adapters.duckdb", "dbt_common.clients.agate_helper")
_MESSAGE_BYTES = 1 << 20


def _dbt_exit_code(argv: list[str]) -> int:
    """Run the dbt command line `argv` (without the program name) here; its exit code."""
    from dbt.cli.main import cli

    try:
        cli.main(args=argv, prog_name="dbt")
    except SystemExit as exit_:
        if exit_.code is None or isinstance(exit_.code, int):
            return exit_.code or 0
        print(exit_.code, file=sys.stderr)
        return 1
    return 0


def serve(listener_fd: int, socket_path: str) -> int:
    """The waiting process: import dbt, then serve one command on the listening socket it was given
    (a client that came early waits in its backlog) with the client's streams, environment and
    working directory, and exit."""
    # The command is dbt's: the signals a shell or supervisor may have set to "ignore" for the run
    # (inherited across exec) act as they would on a plain `dbt` (the client forwards SIGINT, SIGTERM).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    listener = socket.socket(fileno=listener_fd)
    for module in WARM_IMPORTS:
        __import__(module)
    connection, _ = listener.accept()
    listener.close()
    os.unlink(socket_path)
    with connection:
        message, fds, _, _ = socket.recv_fds(connection, _MESSAGE_BYTES, 3)
        request = json.loads(message)
        connection.send(json.dumps({"pid": os.getpid()}).encode())
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, standard in zip(fds, (0, 1, 2), strict=True):
            os.dup2(fd, standard)
            os.close(fd)
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        code = _dbt_exit_code(request["argv"])
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager

        # dbt-duckdb closes the warehouse at interpreter exit, which this process skips (below): close
        # it now, checkpointed, before the run's next step opens it.
        DuckDBConnectionManager.close_all_connections()
        sys.stdout.flush()
        sys.stderr.flush()
        connection.send(json.dumps({"exit_code": code}).encode())
    return 0


def _delegate(socket_path: str, argv: list[str]) -> int | None:
    """Run `argv` in the waiting process; its exit code, or None when no process is waiting."""
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        connection.connect(socket_path)
    except OSError:
        connection.close()
        return None
    with connection:
        request = json.dumps({"argv": argv, "env": dict(os.environ), "cwd": os.getcwd()}).encode()
        socket.send_fds(connection, [request], [0, 1, 2])
        hello = connection.recv(_MESSAGE_BYTES)
        if not hello:
            print("funnel-dbt: the waiting dbt process exited before it started the command", file=sys.stderr)
            return 1
        pid = json.loads(hello)["pid"]
        # dagster-dbt interrupts dbt with SIGINT; the command runs in the other process.
        for forwarded in (signal.SIGINT, signal.SIGTERM):
            signal.signal(forwarded, lambda signum, _frame: os.kill(pid, signum))
        done = connection.recv(_MESSAGE_BYTES)
        if not done:
            print("funnel-dbt: the dbt process died before it finished the command", file=sys.stderr)
            return 1
        return json.loads(done)["exit_code"]


def client() -> None:
    """The `funnel-dbt` executable: like `dbt`, run by the waiting process when there is one."""
    argv = sys.argv[1:]
    socket_path = os.environ.get(SOCKET_ENV)
    code = _delegate(socket_path, argv) if socket_path else None
    if code is not None:
        sys.exit(code)
    dbt = dbt_executable()
    os.execv(dbt, [str(dbt), *argv])


@contextlib.contextmanager
def started() -> Iterator[subprocess.Popen]:
    """A waiting dbt process for the duration of the block, named to `funnel-dbt` (and to every
    subprocess) by SOCKET_ENV; stopped at the end of the block if it was never asked."""
    with tempfile.TemporaryDirectory(prefix="funnel-dbt-") as folder:
        socket_path = str(Path(folder) / "dbt.sock")
        # Listening before the process starts: a client never finds no socket while it starts up.
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as listener:
            listener.bind(socket_path)
            listener.listen(1)
            # Its own streams are the client's once it serves; until then it has nothing to say
            # (if it fails to start, the client finds no listener and runs dbt itself).
            process = subprocess.Popen(
                [sys.executable, "-m", "pipelines.speedups.warm_dbt", str(listener.fileno()), socket_path],
                pass_fds=[listener.fileno()],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        previous = os.environ.get(SOCKET_ENV)
        os.environ[SOCKET_ENV] = socket_path
        try:
            yield process
        finally:
            if previous is None:
                os.environ.pop(SOCKET_ENV, None)
            else:
                os.environ[SOCKET_ENV] = previous
            if process.poll() is None:  # never asked (nothing to build), or its command is over
                process.kill()  # not SIGTERM: the run may have been started with it ignored
            process.wait()


if __name__ == "__main__":
    code = serve(int(sys.argv[1]), sys.argv[2])
    # dbt's command is over and its exit code sent: flush its log files and skip the interpreter's
    # teardown with dbt loaded, which would take CPU from the run's next step.
    logging.shutdown()
    os._exit(code)
