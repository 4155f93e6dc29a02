"""A process that has imported Great Expectations before the run's first check step needs it.

Importing GX (and scipy, for the movement checks) takes ~2.3 s of a 2-core machine,
and the first check step comes right after ingestion, so in a run that import sat on the critical
path. By default (FUNNEL_SPEEDUPS=0 turns it off) `funnel run` starts this process when it
knows there is something to build (`started()`): it
imports them while the run imports Dagster, creates the run and ingests, then runs the checks each
check step asks for (`run()`) on the warehouse, with the same code as in-process
(`data_checks.runner.run_unverified`), and returns the results. It serves the ingestion checks and
the mart checks of the run, then exits when `funnel run` closes its stdin. It lives through the dbt
build, the run's memory peak, with ~0.35 GiB: the DuckDB memory limit's default leaves room for it
(docs/performance.md).

The warehouse has one writer at a time: while this process runs a request the run's process holds
no connection to it (connections are short-lived), only the writer lock. Without this process
(`dagster dev`, sensors, `dg.materialize` in tests) the check ops run the checks in their own process.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import traceback
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import IO

from data_checks.runner import CheckResult
from pipelines.core.settings import prepare_process

# What the checks import when they first run (`python -X importtime`).
WARM_IMPORTS = (
    "great_expectations",
    "great_expectations.expectations",
    "great_expectations.checkpoint",
    "scipy.stats",
    "duckdb_engine",
    "data_checks.gx_duckdb",
)


@dataclass
class CheckRequest:
    warehouse: str
    memory_limit: str
    threads: int
    run_id: str
    checks: list[str]  # check names, in the order of the results
    freshness_hours: float


def _result_to_json(result: CheckResult) -> dict:
    return {**asdict(result), "checked_at": result.checked_at.isoformat()}


def _result_from_json(fields: dict) -> CheckResult:
    return CheckResult(**{**fields, "checked_at": datetime.fromisoformat(fields["checked_at"])})


def _answer(request: CheckRequest) -> dict:
    from data_checks.catalog import all_checks
    from data_checks.runner import run_unverified
    from pipelines.core import warehouse

    by_name = {check.name: check for check in all_checks()}
    with warehouse.connect(request.warehouse, memory_limit=request.memory_limit, threads=request.threads) as con:
        loads, results = run_unverified(
            con, request.run_id, [by_name[name] for name in request.checks], freshness_hours=request.freshness_hours
        )
    return {"loads": loads, "results": [_result_to_json(r) for r in results]}


def serve(requests: IO[str], answers: IO[str]) -> int:
    """Import, then answer each request line with one answer line, until `requests` ends."""
    prepare_process()  # GX analytics off before great_expectations is imported
    for module in WARM_IMPORTS:
        __import__(module)
    for line in requests:
        try:
            answer = _answer(CheckRequest(**json.loads(line)))
        except Exception:  # noqa: BLE001  (the run's process reports it as the step's error)
            answer = {"error": traceback.format_exc()}
        answers.write(json.dumps(answer) + "\n")
        answers.flush()
    return 0


class CheckProcessFailed(RuntimeError):
    pass


class _CheckProcess:
    def __init__(self, process: subprocess.Popen):
        self.process = process
        self.requests_served = 0

    def run(self, request: CheckRequest) -> tuple[list[str] | None, list[CheckResult]]:
        self.process.stdin.write(json.dumps(asdict(request)) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise CheckProcessFailed(f"the check process exited (code {self.process.wait()}) before it answered")
        answer = json.loads(line)
        if "error" in answer:
            raise CheckProcessFailed("the checks failed to run in the check process:\n" + answer["error"])
        self.requests_served += 1
        return answer["loads"], [_result_from_json(r) for r in answer["results"]]


_running: _CheckProcess | None = None


def running() -> _CheckProcess | None:
    """The check process of the current `funnel run`, if any."""
    return _running


@contextlib.contextmanager
def started() -> Iterator[_CheckProcess]:
    """A check process for the duration of the block (`running()` returns it), then closed."""
    global _running
    # Answers on stdout; anything GX or a library prints goes to stderr, which is dropped: errors
    # come back as answers.
    process = subprocess.Popen(
        [sys.executable, "-m", "pipelines.speedups.warm_checks"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    _running = _CheckProcess(process)
    try:
        yield _running
    finally:
        _running = None
        process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # still importing: it has nothing left to do
            process.kill()
            process.wait()
        process.stdout.close()


if __name__ == "__main__":
    # Its imports use the CPU the run leaves over (the run's process waits on this one while it
    # runs checks, so the lower priority costs the checks nothing).
    os.nice(10)
    # Only answers on the real stdout: what anything else prints goes to stderr.
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    code = serve(sys.stdin, answers)
    answers.flush()
    # Every answer is written and no connection is open. The interpreter's teardown with GX loaded
    # costs ~0.7 s, which the run would wait for at its end.
    os._exit(code)
