"""The benchmark at a tiny size, so that it never rots (`make bench` runs it at full size).

No timing is asserted (performance figures live in docs/performance.md): every stage must have run
(a stage that is missing, skipped or failed fails the test) and reported a positive duration, every
generated row must be accounted for by the ingestion, and the floor's marts must equal the
pipeline's (a fair floor); the bytes on disk are reported, every table of the published copy
has a reader, and every table of both files was copied once (the writes stage). The measured day
runs twice from the same state. The re-run and the engines' case are left out here to keep the test
short; they go through the same code as the full run (`benchmarks.run.funnel_run`), and the
verdicts are checked on recorded figures below.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.disk import day_reach, day_split
from benchmarks.report import evaluate
from benchmarks.run import median_run, parse_sizes
from data_checks.catalog import all_checks
from data_checks.check import ERROR

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict:
    workdir = tmp_path_factory.mktemp("bench")
    out = workdir / "results.json"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--quick", "--formats", "parquet", "--workdir", str(workdir),
         "--measure", "floor,full,writes,incremental,stages,dashboard", "--dashboard-reps", "2", "--json", str(out)],
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


def test_one_more_day_is_run_again_from_the_same_state(results):
    # --quick runs the measured day twice; the second starts from the state before the first (restored),
    # so it loads and builds the day again instead of finding nothing new (then dbt would not run and
    # leave no run_results.json of its own).
    (case,) = results["cases"]
    repeats = case["incremental_repeats"]
    assert len(repeats) == 2 and all(seconds > 0 for seconds in repeats)
    assert case["incremental"]["wall_seconds"] == min(repeats)  # the median of two: the lower
    logs = Path(case["incremental"]["dbt_results"]).parent
    for repeat in (1, 2):
        results_json = json.loads((logs / f"incremental-{repeat}" / "run_results.json").read_text())
        built = [r["unique_id"] for r in results_json["results"] if r["unique_id"].startswith("model.")]
        assert "model.checkout_funnel.fct_checkouts" in built, (repeat, built)
    assert case["day_split"]["step dbt_models"] > 0
    reach = case["day_reach"]  # its figures: test_the_reach_of_a_days_order_changes (the quick day may change none)
    assert reach["order_versions"] > 0 and 0 <= reach["changes_of_earlier_orders"] <= reach["order_versions"]
    assert reach["cohort_days"] > 0 and 0 <= reach["cohort_days_touched"] <= reach["cohort_days"]


def test_median_run_of_repeats():
    runs = [{"wall_seconds": 3.0}, {"wall_seconds": 1.0}, {"wall_seconds": 2.0, "error": "failed"}]
    assert median_run(runs) == {"wall_seconds": 3.0}  # the failed run counts as the slowest
    assert median_run(runs[:2]) == {"wall_seconds": 1.0}


def test_floor_marts_equal_the_pipelines(results):
    (case,) = results["cases"]
    compared = case["floor_vs_pipeline"]
    assert set(compared) == {"kpi_daily", "kpi_weekly", "kpi_monthly", "funnel_steps", "fct_checkouts", "fct_orders"}
    for table, outcome in compared.items():
        assert outcome["rows_pipeline"] == outcome["rows_floor"] > 0, f"{table}: {outcome}"
        assert outcome["equal"], f"{table}: {outcome}"
    assert case["marts_equal"] is True


def test_disk_usage_is_reported_and_every_published_table_has_a_reader(results):
    (case,) = results["cases"]
    disk = case["disk"]
    assert disk["warehouse_bytes"] > disk["published_bytes"] > 0
    assert disk["published_mb_per_million_events"] == pytest.approx(
        disk["published_bytes"] / 2**20 / (case["data"]["events"] / 1e6))
    tables = {t["table"]: t for t in disk["published_tables"]}
    assert "dashboard" in tables["marts.kpi_daily"]["readers"] and tables["marts.fct_checkouts"]["rows"] > 0
    assert not any(name.startswith(("raw.", "staging.", "intermediate.")) for name in tables)
    assert disk["published_tables_without_reader"] == []


def test_writes_copy_every_table_of_both_files(results):
    (case,) = results["cases"]
    writes = case["writes"]
    assert "error" not in writes, writes
    disk_tables = {t["table"]: t["rows"] for t in case["disk"]["published_tables"]}
    copied = {t["table"]: t["rows"] for t in writes["tables"]["published"]}
    assert copied == disk_tables  # the same tables, the same rows
    warehouse = {t["table"]: t["rows"] for t in writes["tables"]["warehouse"]}
    # The raw tables hold what the ingestion stage (the same landing files) loaded.
    assert warehouse["raw.checkout_events"] + warehouse["raw.orders"] == case["stages"]["ingest"]["rows_loaded"] > 0
    assert all(t["seconds"] > 0 for listed in writes["tables"].values() for t in listed)
    assert writes["seconds"] == pytest.approx(writes["warehouse_seconds"] + writes["published_seconds"])
    assert not Path(writes["scratch"]).exists()


def test_sizes_accept_suffixes():
    assert parse_sizes("1M, 10M,30M") == [1_000_000, 10_000_000, 30_000_000]
    assert parse_sizes("2000,2.5k") == [2000, 2500]


def test_history_grows_keeps_the_daily_rate():
    from benchmarks.run import history_days

    assert history_days([10_000_000, 30_000_000], 365, grows=True) == {10_000_000: 365, 30_000_000: 1095}
    assert history_days([10_000_000, 30_000_000], 365, grows=False) == {10_000_000: 365, 30_000_000: 365}


def test_a_one_more_day_run_is_split_into_its_parts(tmp_path):
    run = {"wall_seconds": 20.0, "dagster_steps": {
        "ingest_landing": 2.0, "dbt_models": 9.0, "mart_checks": 3.0, "(dagster run, all steps)": 16.0}}
    (tmp_path / "run_results.json").write_text(json.dumps({"elapsed_time": 6.0, "results": [
        {"unique_id": "model.checkout_funnel.fct_checkouts", "execution_time": 4.0},
        {"unique_id": "model.checkout_funnel.kpi_daily", "execution_time": 1.0},
        {"unique_id": "test.checkout_funnel.unique_fct_checkouts", "execution_time": 2.5},
    ]}))
    split = day_split(run, tmp_path, imports_seconds=1.5)
    assert split["outside the Dagster run (start-up, imports, report)"] == 4.0
    assert split["  of which: import pipelines.definitions"] == 1.5
    assert split["step dbt_models"] == 9.0 and split["step mart_checks"] == 3.0
    assert split["Dagster between steps (events, storage)"] == 2.0
    assert split["  dbt_models: dbt's elapsed time"] == 6.0 and split["  dbt_models: start-up and parse"] == 3.0
    assert split["  dbt_models: model nodes (summed over threads)"] == 5.0
    assert split["  dbt_models: test nodes (summed over threads)"] == 2.5


def test_the_reach_of_a_days_order_changes(tmp_path):
    import duckdb

    warehouse = tmp_path / "warehouse.duckdb"
    con = duckdb.connect(str(warehouse))
    con.execute("CREATE SCHEMA raw; CREATE SCHEMA marts")
    con.execute("CREATE TABLE raw.orders (order_id VARCHAR, checkout_id VARCHAR, created_at TIMESTAMP, _loaded_at TIMESTAMP)")
    con.execute("""INSERT INTO raw.orders VALUES
        ('A', 'cA', '2026-01-01 10:00', '2026-01-10'), ('B', 'cB', '2026-01-03 12:00', '2026-01-10'),
        ('C', 'cC', '2026-01-05 13:00', '2026-01-10'),
        -- the newest load: three changes of earlier orders and one new order
        ('A', 'cA', '2026-01-01 10:00', '2026-01-20'), ('B', 'cB', '2026-01-03 12:00', '2026-01-20'),
        ('C', 'cC', '2026-01-05 13:00', '2026-01-20'), ('D', 'cD', '2026-01-19 09:00', '2026-01-20')""")
    con.execute("CREATE TABLE marts.dash_checkout_steps (checkout_id VARCHAR, cohort_date DATE)")
    con.execute("""INSERT INTO marts.dash_checkout_steps VALUES ('cA', '2026-01-01'), ('cB', '2026-01-03'),
        ('cC', '2026-01-04'), ('cD', '2026-01-19')""")
    con.close()
    assert day_reach(warehouse) == {
        "order_versions": 4, "changes_of_earlier_orders": 3,
        "order_days_touched": 3, "order_days": 4,  # created on Jan 1, 3, 5 of Jan 1, 3, 5, 19
        "cohort_days_touched": 3, "cohort_days": 4,  # cohorts Jan 1, 3, 4 of Jan 1, 3, 4, 19
        "age_days_median": 16, "age_days_p90": 18, "age_days_oldest": 18,  # at Jan 19: 18, 16, 14 days
    }


def test_a_day_with_other_planted_rates_is_written_again(tmp_path):
    from benchmarks.landing import day_is_written

    previous, day = tmp_path / "landing", tmp_path / "landing_plus1"
    previous.mkdir()
    day.mkdir()
    rates = {"late_status_change_rate_per_day": 0.001, "web_status_mix": [0.93, 0.03, 0.025, 0.015]}
    (previous / "_generation.json").write_text(json.dumps({"id_prefix": "", "rates": rates}))
    assert not day_is_written(previous, day, "b", [])  # nothing written yet
    (day / "_generation.json").write_text(json.dumps({"id_prefix": "b", "rates": rates}))
    assert day_is_written(previous, day, "b", [])
    assert not day_is_written(previous, day, "c", [])
    assert not day_is_written(previous, day, "b", ["late_status_change_rate_per_day=0"])
    changed = {**rates, "late_status_change_rate_per_day": 0.0, "web_status_mix": [0.9, 0.05, 0.03, 0.02]}
    (day / "_generation.json").write_text(json.dumps({"id_prefix": "b", "rates": changed}))
    assert day_is_written(previous, day, "b", ["late_status_change_rate_per_day=0", "web_status_mix=0.9,0.05,0.03,0.02"])
    assert not day_is_written(previous, day, "b", [])  # a default day is written again over it


def _case(label: str, size: int, incremental: float, **extra) -> dict:
    run = {"wall_seconds": 100.0, "peak_rss_mb": 1000.0}
    return {"label": label, "size": size, "format": "parquet", "full_run": run, "ratio_full_run_over_floor": 1.5,
            "incremental": {**run, "wall_seconds": incremental}, "ratio_incremental_over_full": incremental / 100,
            **extra}


def test_verdicts_of_the_30m_case_and_the_engines():
    engines = {"postgres": {"ratio_incremental_over_full": 0.2}, "spark": {"ratio_incremental_over_full": 0.9},
               "other": {"skipped": "no java"}}
    verdicts = evaluate([_case("10M", 10_000_000, 15.0), _case("30M", 30_000_000, 21.0, engines=engines)])
    by_name = {(v["case"], v["target"]): v for v in verdicts}
    assert by_name[("30M", "incremental on 30M / on 10M")]["value"] == pytest.approx(1.4)
    assert not by_name[("30M", "incremental on 30M / on 10M")]["met"]
    assert by_name[("30M", "postgres: one more day / full")]["met"]
    assert not by_name[("30M", "spark: one more day / full")]["met"]
    assert ("30M", "full run seconds") not in by_name and ("10M", "full run seconds") in by_name
    assert not any("other" in target for _, target in by_name)
