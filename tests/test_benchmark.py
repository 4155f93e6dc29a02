"""The benchmark at a tiny size, so that it never rots (`make bench` runs it at full size).

No timing is asserted (performance figures live in docs/performance.md): only that every stage ran
and reported a positive duration, and that the floor's marts equal the pipeline's (a fair floor).
The re-run and the incremental run are left out here to keep the test short; they go through the
same code as the full run (`benchmarks.run.funnel_run`).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict:
    workdir = tmp_path_factory.mktemp("bench")
    out = workdir / "results.json"
    subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--quick", "--formats", "parquet", "--workdir", str(workdir),
         "--measure", "floor,full,stages,dashboard", "--dashboard-reps", "2", "--json", str(out)],
        cwd=ROOT, check=True, timeout=600, capture_output=True, text=True,
    )
    return json.loads(out.read_text())


def test_every_stage_has_a_positive_duration(results):
    (case,) = results["cases"]
    assert case["size"] == 2000 and case["format"] == "parquet"
    assert case["data"]["events"] > 1000
    assert case["floor"]["seconds"] > 0
    assert case["full_run"]["wall_seconds"] > 0 and case["full_run"]["peak_rss_mb"] > 0
    assert case["full_run"]["dagster_steps"], "no Dagster step durations read from the run"
    assert all(seconds >= 0 for seconds in case["full_run"]["dagster_steps"].values())
    for name in ("ingest", "dbt_build", "checks", "publish"):
        stage = case["stages"][name]
        if "skipped" in stage:  # data checks not importable: said so, never silently
            continue
        assert stage["seconds"] > 0, name
        assert stage["peak_rss_mb"] > 0, name
    assert case["stages"]["ingest"]["rows_loaded"] > 0
    assert case["stages"]["dbt_build"]["top_nodes"], "no dbt run_results timings"
    queries = case["dashboard"]["queries"]
    assert queries and all(q["p50_ms"] > 0 and q["p95_ms"] >= q["p50_ms"] for q in queries.values())
    assert results["machine"]["nproc"] >= 1 and len(results["machine"]["loadavg_at_start"]) == 3


def test_floor_marts_equal_the_pipelines(results):
    (case,) = results["cases"]
    compared = case["floor_vs_pipeline"]
    assert set(compared) == {"kpi_daily", "kpi_weekly", "kpi_monthly", "funnel_steps", "fct_checkouts", "fct_orders"}
    for table, outcome in compared.items():
        assert outcome["rows_pipeline"] > 0, table
        assert outcome["equal"], f"{table}: {outcome}"
    assert case["marts_equal"]
