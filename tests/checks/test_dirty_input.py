"""The dirty-input path: bad rows and unreadable files are rejected and counted, the good rows load,
and the checks say exactly that (no error; warnings naming what was rejected)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from data_checks.ledger_checks import CONSERVATION_CHECKS
from data_checks.raw_checks import RAW_CHECKS
from data_checks.runner import any_blocking_failure, run_checks
from pipelines.core import warehouse
from pipelines.ingest import load

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "conformance"
LOAD_TIME = datetime(2026, 4, 10)


@pytest.fixture
def loaded():
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    load.ingest_landing(con, FIXTURES / "landing-with-bad-rows", run_id="dirty", load_time=LOAD_TIME)
    yield con
    con.close()


def test_dirty_landing_loads_good_rows_and_the_checks_report_the_rest(loaded, conformance_warehouse):
    results = {r.check_name: r for r in run_checks(loaded, "dirty", RAW_CHECKS + CONSERVATION_CHECKS, now=LOAD_TIME)}
    assert not any_blocking_failure(list(results.values()))
    # The raw tables satisfy the contract and conservation holds, file by file.
    for result in results.values():
        if result.blocking:
            assert result.passed, result.summary()

    # The rejected input is reported, with the ledger's counts and reasons.
    rejected = results["ledger_rejected_input"]
    assert not rejected.passed and rejected.severity == "warning"
    [(files_rejected, rows_rejected, rows_loaded)] = loaded.execute(
        "SELECT count(*) FILTER (WHERE status = 'rejected'), sum(rows_rejected), sum(rows_loaded) FROM audit.load_ledger"
    ).fetchall()
    assert rejected.observed_value == (
        f"{files_rejected} file(s) rejected whole, {rows_rejected} row(s) rejected, {rows_loaded} row(s) loaded "
        "in the latest load"
    )
    reported = {r["file_path"]: r for r in json.loads(rejected.details)["expectations"][0]["unexpected_rows"]}
    expected = {
        "checkout_events/events-4-bad.jsonl",
        "checkout_events/events-5-corrupt.parquet",
        "checkout_events/events-6-truncated.jsonl.gz",
        "orders/orders-4-bad.csv",
    }
    assert expected <= set(reported)
    assert reported["checkout_events/events-5-corrupt.parquet"]["status"] == "rejected"
    assert "invalid JSON" in reported["checkout_events/events-4-bad.jsonl"]["row_reasons"]

    # The raw tables hold exactly the loaded rows of the clean landing (the session's pipeline run of it).
    [(events,)] = loaded.execute("SELECT count(*) FROM raw.checkout_events").fetchall()
    with warehouse.connect(conformance_warehouse.warehouse, read_only=True) as clean:
        assert events == clean.execute("SELECT count(*) FROM raw.checkout_events").fetchall()[0][0]
        clean_results = {r.check_name: r for r in run_checks(clean, "clean", RAW_CHECKS + CONSERVATION_CHECKS,
                                                              now=LOAD_TIME, write=False)}
    assert clean_results["ledger_rejected_input"].passed

    # A checkout without checkout_started in the conformance data is counted, as a warning only.
    orphans = results["raw_events_checkouts_without_start"]
    assert not orphans.passed and not orphans.blocking
    # Everything was recorded for the run.
    [(n,)] = loaded.execute("SELECT count(*) FROM audit.check_results WHERE run_id = 'dirty'").fetchall()
    assert n == len(results)
