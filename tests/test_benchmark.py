"""The benchmark at a tiny size, so that it never rots (`make bench` runs it at full size).

No timing is asserted (performance figures live in docs/performance.md): every stage must have run
(a stage that is missing, skipped or failed fails the test) and reported a positive duration, every
generated row must be accounted for by the ingestion, and the floor's marts must equal the
pipeline's (a fair floor). The re-run and the incremental run are left out here to keep the test
short; they go through the same code as the full run (`benchmarks.run.funnel_run`).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from data_checks.catalog import all_checks
from data_checks.check import ERROR

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict:
    workdir = tmp_path_factory.mktemp("bench")
    out = workdir / "results.json"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--quick", "--formats", "parquet", "--workdir", str(workdir),
         "--measure", "floor,full,stages,dashboard", "--dashboard-reps", "2", "--json", str(out)],
        cwd=ROOT, check=False, timeout=600, capture_output=True, text=True,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads(out.read_text())


def test_every_stage_ran_and_reports_a_positive_duration(results):
    (case,) = results["cases"]
    assert case["size"] == 2000 and case["format"] == "parquet"
    full = case["full_run"]
    assert "error" not in full, full.get("error")
    assert "dagster_steps_error" not in full, full["dagster_steps_error"]
    assert case["floor"]["seconds"] > 0
    assert full["wall_seconds"] > 0 and full["peak_rss_mb"] > 0
    steps = full["dagster_steps"]
    assert {"ingest_landing", "ingest_landing_checks", "dbt_models", "mart_checks", "published_warehouse"} <= set(steps)
    assert all(seconds > 0 for seconds in steps.values()), steps
    assert set(case["stages"]) == {"ingest", "dbt_build", "checks", "publish"}
    for name, stage in case["stages"].items():
        assert "skipped" not in stage and "error" not in stage, f"{name}: {stage}"
        assert stage["seconds"] > 0 and stage["peak_rss_mb"] > 0, name
    # Every generated row (repeated deliveries included) is loaded, rejected or dropped as a duplicate.
    data, ingest = case["data"], case["stages"]["ingest"]
    assert ingest["rows_loaded"] + ingest["rows_rejected"] + ingest["duplicates_dropped"] == (
        data["events"] + data["order_rows"]
    )
    assert 0 < ingest["rows_loaded"] and data["events"] > 1000
    checks = case["stages"]["checks"]
    assert checks["checks"] == len(all_checks())
    assert not set(checks["failed"]) & {c.name for c in all_checks() if c.severity == ERROR}, checks["failed"]
    dbt = case["stages"]["dbt_build"]
    assert dbt["nodes"] > 0 and dbt["top_nodes"], "no dbt run_results timings"
    assert case["stages"]["publish"]["bytes"] > 0
    queries = case["dashboard"]["queries"]
    assert queries and all(q["p50_ms"] > 0 and q["p95_ms"] >= q["p50_ms"] for q in queries.values())


def test_floor_marts_equal_the_pipelines(results):
    (case,) = results["cases"]
    compared = case["floor_vs_pipeline"]
    assert set(compared) == {"kpi_daily", "kpi_weekly", "kpi_monthly", "funnel_steps", "fct_checkouts", "fct_orders"}
    for table, outcome in compared.items():
        assert outcome["rows_pipeline"] == outcome["rows_floor"] > 0, f"{table}: {outcome}"
        assert outcome["equal"], f"{table}: {outcome}"
    assert case["marts_equal"] is True
