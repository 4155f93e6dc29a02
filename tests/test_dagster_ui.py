"""`funnel dagster` serves the Dagster UI over the instance `funnel run` recorded into: the marts are
materialized with their check results, the run is listed; a run launched from the UI with nothing new
changes nothing, and a failed one records itself as `funnel run` would."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import duckdb
import pytest

from tests.conftest import CLEAN_LANDING

FUNNEL = [sys.executable, "-m", "pipelines.cli"]
LAUNCH = """mutation($p: ExecutionParams!) { launchRun(executionParams: $p) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _graphql(port: int, query: str, variables: dict | None = None) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        json.dumps({"query": query, "variables": variables or {}}).encode(),
        {"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        answer = json.loads(response.read())
    assert "errors" not in answer, answer
    return answer["data"]


def _stop(server: subprocess.Popen) -> None:
    """SIGTERM (`funnel dagster` stops `dagster dev`, which stops its webserver, daemon and code
    servers); the whole process group killed when that takes more than 60 s."""
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(server.pid, signal.SIGKILL)  # whatever is left of the group this test started
    except ProcessLookupError:
        pass
    server.wait(timeout=10)


@pytest.fixture
def served(tmp_path, landing_copy):
    """A warehouse built by `funnel run`, and `funnel dagster` serving it on a free port."""
    landing = landing_copy(CLEAN_LANDING)
    warehouse = tmp_path / "w.duckdb"
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    run = subprocess.run([*FUNNEL, "run", "--landing", str(landing), "--warehouse", str(warehouse)],
                         check=False, capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stderr
    port = _free_port()
    log = (tmp_path / "dagster.log").open("w")
    server = subprocess.Popen(
        [*FUNNEL, "dagster", "--warehouse", str(warehouse), "--landing", str(landing), "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            assert server.poll() is None, (tmp_path / "dagster.log").read_text()[-3000:]
            try:
                if _graphql(port, "{ version }")["version"]:
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            assert time.monotonic() < deadline, "the Dagster UI did not answer within 180 s"
            time.sleep(1)
        yield port, warehouse, landing
    finally:
        _stop(server)
        log.close()
    assert server.returncode is not None


def _run_ids(warehouse) -> list[str]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return [r[0] for r in con.execute("SELECT run_id FROM audit.pipeline_runs ORDER BY finished_at").fetchall()]
    finally:
        con.close()


def test_the_ui_shows_what_funnel_run_recorded_and_runs_it_launches_record_themselves(served):
    port, warehouse, landing = served
    [run_id] = _run_ids(warehouse)
    runs = _graphql(port, "{ runsOrError { ... on Runs { results { runId status jobName } } } }")
    assert {"runId": run_id, "status": "SUCCESS", "jobName": "funnel_pipeline"} in runs["runsOrError"]["results"]
    for mart in ("kpi_weekly", "fct_checkouts"):
        asset = _graphql(port, """query($k: AssetKeyInput!) { assetNodes(assetKeys: [$k]) {
            assetMaterializations(limit: 1) { runId }
            assetChecksOrError { ... on AssetChecks { checks { name executionForLatestMaterialization { status } } } }
        } }""", {"k": {"path": ["marts", mart]}})["assetNodes"][0]
        assert asset["assetMaterializations"] == [{"runId": run_id}]
        checks = asset["assetChecksOrError"]["checks"]
        assert checks and all(c["executionForLatestMaterialization"]["status"] == "SUCCEEDED" for c in checks), checks

    # Launched from the UI (the daemon starts it in a run worker), with nothing new: ingestion finds
    # nothing, dbt builds nothing, nothing is checked again, published or recorded.
    published = warehouse.with_name("w.published.duckdb").stat()
    selector = {"repositoryLocationName": "pipelines.definitions", "repositoryName": "__repository__",
                "jobName": "funnel_pipeline"}
    launched = _graphql(port, LAUNCH, {"p": {"selector": selector, "runConfigData": {}}})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    status, steps = _finished(port, launched["run"]["runId"])
    assert status == "SUCCESS", steps
    assert steps["mart_checks"] == steps["published_warehouse"] == "SKIPPED"
    after = warehouse.with_name("w.published.duckdb").stat()
    assert (after.st_ino, after.st_mtime_ns) == (published.st_ino, published.st_mtime_ns)
    assert _run_ids(warehouse) == [run_id]

    # A run launched from the UI that a blocking check stops: its run worker's failure hook records it.
    con = duckdb.connect(str(warehouse))
    try:
        con.execute("INSERT INTO raw.checkout_events SELECT * FROM raw.checkout_events WHERE event_id = 'ev001'")
    finally:
        con.close()
    (landing / "checkout_events" / "events-9.jsonl").write_text(
        '{"event_id": "ev900", "event_name": "checkout_started", "event_time": "2026-03-20T10:00:00Z", '
        '"checkout_id": "k90", "customer_id": "c90"}\n'
    )
    launched = _graphql(port, LAUNCH, {"p": {"selector": selector, "runConfigData": {}}})["launchRun"]
    failed = launched["run"]["runId"]
    status, steps = _finished(port, failed)
    assert status == "FAILURE" and steps["ingest_landing_checks"] == "FAILURE", steps
    assert _run_ids(warehouse) == [run_id, failed]
    outcome = json.loads(warehouse.with_name("w.published.run-status.json").read_text())
    assert outcome["run_id"] == failed and "raw_rows_match_ledger" in outcome["message"]


def _finished(port: int, run_id: str) -> tuple[str, dict[str, str]]:
    """Wait (at most 300 s) for a launched run to end: its status and its steps' statuses."""
    deadline = time.monotonic() + 300
    while True:
        run = _graphql(port, """query($id: ID!) { runOrError(runId: $id) { ... on Run { status
            stepStats { stepKey status } } } }""", {"id": run_id})["runOrError"]
        if run["status"] in ("SUCCESS", "FAILURE", "CANCELED"):
            return run["status"], {s["stepKey"]: s["status"] for s in run["stepStats"]}
        assert time.monotonic() < deadline, run
        time.sleep(2)
