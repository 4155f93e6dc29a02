"""pipelines/speedups/warm_checks.py: the process that imports GX while `funnel run` starts, and runs its checks."""

from __future__ import annotations

import contextlib
import json
import shutil
from datetime import datetime

import pytest

from data_checks.catalog import all_checks
from data_checks.runner import run_unverified
from pipelines.checks import CHECK_GROUPS
from pipelines.core import warehouse
from pipelines.core.settings import Settings, dbt_target_path
from pipelines.ingest.load import ingest_landing
from pipelines.run import run_pipeline
from pipelines.speedups import warm_checks, warm_dbt
from tests.conftest import CLEAN_LANDING, DIRTY_LANDING

INGEST_CHECKS = [c for c in all_checks() if c.asset in CHECK_GROUPS["ingest_landing_checks"]]


@pytest.fixture
def loaded(tmp_path):
    """Two copies of a warehouse holding the bad-rows landing directory, loaded once."""
    first = tmp_path / "first" / "warehouse.duckdb"
    with warehouse.connect(first) as con:
        ingest_landing(con, DIRTY_LANDING, run_id="load-1", load_time=datetime(2026, 3, 20, 11))
    second = tmp_path / "second" / "warehouse.duckdb"
    second.parent.mkdir()
    shutil.copy(first, second)
    return first, second


def _request(path, checks, run_id="checks-1") -> warm_checks.CheckRequest:
    return warm_checks.CheckRequest(warehouse=str(path), memory_limit="1GB", threads=1, run_id=run_id,
                                    checks=[c.name for c in checks], freshness_hours=36.0)


def _comparable(result) -> tuple:
    details = json.loads(result.details)
    if "freshness" in result.check_name:  # its observed age is measured at the moment it runs
        return result.check_name, result.passed
    return result.check_name, result.passed, result.observed_value, result.expected, details


def test_the_check_process_gives_the_results_of_the_op_process(loaded):
    """Same loads, same results in the same order (some fail: the data has bad rows), same rows in
    audit.check_results."""
    there, here = loaded
    with warm_checks.started() as process:
        loads, results = process.run(_request(there, INGEST_CHECKS))
        assert warm_checks.running() is process
    with warehouse.connect(here) as con:
        expected_loads, expected = run_unverified(con, "checks-1", INGEST_CHECKS, freshness_hours=36.0)
    assert loads == expected_loads
    assert [_comparable(r) for r in results] == [_comparable(r) for r in expected]
    assert not all(r.passed for r in results)
    audit = "SELECT check_name, passed FROM audit.check_results WHERE run_id = 'checks-1' ORDER BY check_name"
    with warehouse.connect(there, read_only=True) as a, warehouse.connect(here, read_only=True) as b:
        assert a.execute(audit).fetchall() == b.execute(audit).fetchall() != []


def test_a_check_that_cannot_run_fails_the_step_with_the_reason(loaded):
    there, _ = loaded
    with warm_checks.started() as process:
        request = _request(there, INGEST_CHECKS)
        request.checks.append("no_such_check")
        with pytest.raises(warm_checks.CheckProcessFailed, match="KeyError: 'no_such_check'"):
            process.run(request)
        # and it still serves the next request
        _, results = process.run(_request(there, INGEST_CHECKS[:1], run_id="checks-2"))
    assert [r.check_name for r in results] == [INGEST_CHECKS[0].name]


def test_the_process_ends_with_the_block():
    with warm_checks.started() as process:
        pass
    assert process.process.returncode == 0
    assert warm_checks.running() is None


def _recording(monkeypatch, module) -> list:
    """What `module.started()` yields during the test, in a list."""
    started, start = [], module.started

    @contextlib.contextmanager
    def recorded():
        with start() as process:
            started.append(process)
            yield process

    monkeypatch.setattr(module, "started", recorded)
    return started


def test_funnel_run_builds_and_checks_in_the_processes_it_started(tmp_path, monkeypatch):
    """By default `funnel run` starts both processes before it loads Dagster: dbt's log lines of the build
    carry the dbt process's pid (pipelines/speedups/warm_dbt.py), and both check steps ran in the check process."""
    monkeypatch.delenv("FUNNEL_SPEEDUPS", raising=False)
    dbt_processes, check_processes = _recording(monkeypatch, warm_dbt), _recording(monkeypatch, warm_checks)
    settings = Settings.from_env(CLEAN_LANDING, tmp_path / "warehouse.duckdb")
    run_pipeline(settings)
    [dbt_process], [check_process] = dbt_processes, check_processes
    log = dbt_target_path(settings.warehouse) / "dbt.log"
    pids = {json.loads(line)["info"]["pid"] for line in log.read_text().splitlines() if line.startswith("{")}
    assert pids == {dbt_process.pid}
    assert check_process.requests_served == 2  # ingest_landing_checks, mart_checks
