"""The Dagster definitions: they load, hold the whole graph, and their pieces work on their own."""

from __future__ import annotations

import shutil
import subprocess
import sys

import dagster as dg

from pipelines.assets.raw import LOAD_LEDGER, RAW_EVENTS, ingest_landing_asset
from pipelines.core.settings import Settings
from pipelines.core.warehouse import connect
from pipelines.definitions import build_definitions, defs
from pipelines.resources import LandingResource, WarehouseResource
from pipelines.sensors import new_landed_files_sensor
from tests.conftest import CLEAN_LANDING, another_writer


def test_definitions_hold_ingestion_every_dbt_model_and_publishing():
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    expected = {
        "raw/checkout_events", "raw/orders", "audit/load_ledger", "audit/rejected_rows",
        "staging/stg_checkout_events", "staging/stg_orders", "intermediate/int_checkouts_funnelled",
        "intermediate/int_orders_current", "intermediate/int_customers_first_ordered",
        "marts/fct_checkouts", "marts/fct_orders", "marts/funnel_steps", "marts/kpi_daily", "marts/kpi_weekly",
        "marts/kpi_monthly", "marts/warehouse_as_of", "marts/kpi_targets", "published_warehouse",
    }
    assert expected <= keys
    # dbt tests are asset checks on the models they test.
    check_assets = {key.asset_key.to_user_string() for key in graph.asset_check_keys}
    assert {"marts/fct_checkouts", "marts/kpi_weekly", "intermediate/int_checkouts_funnelled"} <= check_assets
    # Publishing waits for every mart.
    published = graph.get(dg.AssetKey("published_warehouse"))
    assert dg.AssetKey(["marts", "kpi_daily"]) in published.parent_keys


def test_the_job_runs_in_process():
    job = defs.resolve_job_def("funnel_pipeline")
    assert job.executor_def.name == "in_process"


def test_a_failed_run_records_itself_whatever_launched_it():
    # The failure hook is on the job and on every asset and check (Dagster's implicit asset job runs
    # assets picked in the UI); no run-failure sensor (it never runs for execute_in_process).
    assert {h.name for h in defs.resolve_job_def("funnel_pipeline").hook_defs} == {"record_failed_run"}
    assert all({h.name for h in a.hook_defs} == {"record_failed_run"} for a in [*defs.assets, *defs.asset_checks])
    assert [s.name for s in defs.sensors] == ["new_landed_files_sensor"]


def test_ingestion_asset_materializes_against_a_temporary_warehouse(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    result = dg.materialize(
        [ingest_landing_asset],
        resources={
            "warehouse": WarehouseResource(path=str(warehouse)),
            "landing": LandingResource(path=str(CLEAN_LANDING)),
        },
    )
    assert result.success
    events = result.asset_materializations_for_node("ingest_landing")
    by_key = {m.asset_key: m.metadata for m in events}
    assert by_key[RAW_EVENTS]["rows_loaded"].value == 87
    assert by_key[LOAD_LEDGER]["files_new"].value == 6
    with connect(warehouse) as con:
        assert con.execute("SELECT count(*) FROM raw.orders").fetchall() == [(20,)]


def test_sensor_requests_a_run_for_new_files_and_waits_while_a_run_writes(tmp_path, monkeypatch):
    landing = tmp_path / "landing"
    shutil.copytree(CLEAN_LANDING, landing)
    warehouse = tmp_path / "w.duckdb"
    monkeypatch.setenv("FUNNEL_LANDING_DIR", str(landing))
    monkeypatch.setenv("FUNNEL_WAREHOUSE", str(warehouse))
    context = dg.build_sensor_context()
    request = new_landed_files_sensor(context)
    assert isinstance(request, dg.RunRequest)
    with another_writer(warehouse):
        skipped = new_landed_files_sensor(context)
    assert isinstance(skipped, dg.SkipReason) and "writing" in skipped.skip_message


def test_definitions_follow_settings(tmp_path):
    settings = Settings.from_env(tmp_path / "landing", tmp_path / "w.duckdb")
    built = build_definitions(settings)
    warehouse = built.resources["warehouse"]
    assert warehouse.path == str(tmp_path / "w.duckdb")


def test_loading_the_definitions_leaves_great_expectations_and_statsmodels_for_the_checks():
    # Importing them costs ~4 s: a check step imports them when it first builds a suite, and a
    # process that never runs a check (`dagster dev`, sensors) never pays it.
    probe = (
        "import sys, pipelines.definitions, pipelines.checks\n"
        "print(sorted(m for m in ('great_expectations', 'statsmodels') if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"
