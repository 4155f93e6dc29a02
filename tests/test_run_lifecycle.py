"""The run lifecycle is part of the Dagster job: run without `funnel run` (as the Dagster UI, the sensor
or the schedule run it), the job leaves the same warehouse, audit rows, run status and published copy;
with nothing new it changes nothing; a failed run records itself."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import dagster as dg
import pytest

from pipelines.core.settings import Settings, dagster_home_path
from pipelines.core.warehouse import connect
from pipelines.definitions import build_definitions
from pipelines.lifecycle import DAGSTER_YAML, dagster_home
from pipelines.run import PipelineFailed, run_pipeline
from pipelines.run_status import read_run_status, record_failure, status_path
from tests.conftest import CLEAN_LANDING, another_writer

NEW_EVENT = (
    '{"event_id": "ev900", "event_name": "checkout_started", "event_time": "2026-03-20T10:00:00Z", '
    '"checkout_id": "k90", "customer_id": "c90"}\n'
)


def _runs(warehouse: Path) -> list[tuple]:
    with connect(warehouse) as con:
        return con.execute(
            "SELECT run_id, status, message, files_loaded FROM audit.pipeline_runs ORDER BY finished_at"
        ).fetchall()


def _break_the_ledger_and_land_a_file(warehouse: Path, landing: Path) -> None:
    """One raw row more than the ledger ever loaded (the blocking check raw_rows_match_ledger fails),
    and a new file so that a run has work to do."""
    with connect(warehouse) as con:
        con.execute("INSERT INTO raw.checkout_events SELECT * FROM raw.checkout_events WHERE event_id = 'ev001'")
    (landing / "checkout_events" / "events-9.jsonl").write_text(NEW_EVENT)


@pytest.fixture
def settings(tmp_path, landing_copy, monkeypatch) -> Settings:
    landing = landing_copy(CLEAN_LANDING)
    monkeypatch.setenv("FUNNEL_WAREHOUSE", str(tmp_path / "w.duckdb"))
    monkeypatch.setenv("FUNNEL_LANDING_DIR", str(landing))
    return Settings.from_env(landing, tmp_path / "w.duckdb")


def test_the_job_alone_publishes_skips_when_nothing_is_new_and_records_a_failure(settings):
    job = build_definitions(settings).resolve_job_def("funnel_pipeline")
    with dg.DagsterInstance.ephemeral() as instance:
        first = job.execute_in_process(instance=instance)
        assert first.success
        [(run_id, status, message, files)] = _runs(settings.warehouse)
        assert (run_id, status, message, files) == (first.run_id, "success", "published", 6)
        assert read_run_status(settings.warehouse)["run_id"] == first.run_id
        published = settings.published.stat()
        kpi_weekly = dg.AssetKey(["marts", "kpi_weekly"])
        assert instance.get_latest_materialization_event(kpi_weekly).run_id == first.run_id

        # Nothing new: the ingestion finds nothing, dbt builds nothing, nothing is published or recorded.
        again = job.execute_in_process(instance=instance)
        assert again.success
        skipped = {e.step_key for e in again.all_events if e.is_step_skipped}
        assert {"mart_checks", "published_warehouse"} <= skipped
        assert not [e for e in again.get_asset_materialization_events() if e.asset_key.path[0] == "marts"]
        assert instance.get_latest_materialization_event(kpi_weekly).run_id == first.run_id
        assert (settings.published.stat().st_ino, settings.published.stat().st_mtime_ns) == (
            published.st_ino, published.st_mtime_ns)
        assert len(_runs(settings.warehouse)) == 1
        assert read_run_status(settings.warehouse)["run_id"] == first.run_id

        # A blocking check fails: the failure hook records the run (one row, however many steps failed).
        _break_the_ledger_and_land_a_file(settings.warehouse, settings.landing_dir)
        failed = job.execute_in_process(instance=instance, raise_on_error=False)
        assert not failed.success
    runs = _runs(settings.warehouse)
    assert [r[:2] for r in runs] == [(first.run_id, "success"), (failed.run_id, "failure")]
    assert ":raw_rows_match_ledger failed" in runs[1][2] and runs[1][3] == 1
    status = read_run_status(settings.warehouse)
    assert status["status"] == "failure" and status["run_id"] == failed.run_id and status["message"] == runs[1][2]
    assert settings.published.stat().st_ino == published.st_ino

    # `funnel run` does not take the file loaded by the failed run as published: it builds again (and
    # the broken ledger fails it again), where it used to say "up to date".
    with pytest.raises(PipelineFailed, match="raw_rows_match_ledger"):
        run_pipeline(settings)
    assert [r[1] for r in _runs(settings.warehouse)] == ["success", "failure", "failure"]


def test_assets_materialized_outside_the_job_record_a_failure_too(settings):
    # dg.materialize (and the UI's "Materialize" on picked assets) runs Dagster's implicit asset job:
    # the assets and checks carry the failure hook themselves.
    defs = build_definitions(settings)
    ingest = next(a for a in defs.assets if a.node_def.name == "ingest_landing")
    checks = next(c for c in defs.asset_checks if c.node_def.name == "ingest_landing_checks")
    resources = {k: defs.resources[k] for k in ("warehouse", "landing")}
    assert dg.materialize([ingest], resources=resources).success
    _break_the_ledger_and_land_a_file(settings.warehouse, settings.landing_dir)
    result = dg.materialize([ingest, checks], resources=resources, raise_on_error=False)
    assert not result.success
    [(run_id, status, message, files)] = _runs(settings.warehouse)
    assert (run_id, status, files) == (result.run_id, "failure", 1)
    assert message.startswith("step ingest_landing_checks failed") and "raw_rows_match_ledger" in message
    assert json.loads(status_path(settings.warehouse).read_text())["message"] == message


def test_the_dagster_home_of_a_warehouse(tmp_path, monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    warehouse = tmp_path / "data" / "warehouse.duckdb"
    home = dagster_home(warehouse)
    assert home == dagster_home_path(warehouse) == tmp_path / "data" / "warehouse.dagster"
    config = (home / "dagster.yaml").read_text()
    assert config == DAGSTER_YAML.format(storage=home / "storage")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert instance.is_persistent
    # The warehouse's folder moved (or was copied): its dagster.yaml named the old storage, and is
    # written again for the new place, where the runs are then recorded.
    moved = tmp_path / "moved" / "warehouse.duckdb"
    shutil.copytree(tmp_path / "data", moved.parent)
    moved_home = dagster_home(moved)
    assert (moved_home / "dagster.yaml").read_text() == DAGSTER_YAML.format(storage=moved_home / "storage")
    assert str(home) not in (moved_home / "dagster.yaml").read_text()
    # One of ours that the user edited is theirs too.
    edited = DAGSTER_YAML.format(storage=home / "storage") + "run_monitoring:\n  enabled: true\n"
    (moved_home / "dagster.yaml").write_text(edited)
    assert dagster_home(moved) == moved_home and (moved_home / "dagster.yaml").read_text() == edited
    # An existing dagster.yaml is the user's: kept as it is. DAGSTER_HOME wins over the default.
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    assert dagster_home(warehouse) == home and (home / "dagster.yaml").read_text().startswith("telemetry")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "mine"))
    assert dagster_home(warehouse) == tmp_path / "mine" and (tmp_path / "mine" / "dagster.yaml").exists()


def test_a_failure_is_told_to_readers_even_while_another_run_holds_the_warehouse(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    with another_writer(warehouse):
        assert not record_failure(warehouse, "r1", "step dbt_models failed: x", lock_wait_seconds=0.2)
    assert read_run_status(warehouse)["message"] == "step dbt_models failed: x"
    assert record_failure(warehouse, "r2", "step a failed: y") and record_failure(warehouse, "r2", "step a failed: y; z")
    assert [(r[0], r[1], r[2]) for r in _runs(warehouse)] == [("r2", "failure", "step a failed: y; z")]


def test_a_build_on_another_engine_is_not_taken_for_a_duckdb_build(conformance_warehouse, tmp_path):
    """audit.pipeline_runs holds every engine's builds (`<target>:<fingerprint>`): the DuckDB side reads
    its own last build, so a DuckDB run after a PostgreSQL run neither rebuilds in full nor skips files."""
    from pipelines.dbt_build import build_fingerprint
    from pipelines.ingest.ledger import build_label, last_successful_build
    from pipelines.lifecycle import unbuilt_reason

    warehouse = tmp_path / "w.duckdb"
    warehouse.write_bytes(conformance_warehouse.warehouse.read_bytes())
    (tmp_path / "w.published.duckdb").write_bytes(conformance_warehouse.published.read_bytes())
    fingerprint = build_fingerprint(30)
    with connect(warehouse) as con:
        duckdb_build = last_successful_build(con)
        assert duckdb_build[0] == fingerprint and last_successful_build(con, "postgres") is None
        con.execute("INSERT INTO audit.load_ledger SELECT * REPLACE ('f-new' AS file_path, now()::TIMESTAMP AS loaded_at) "
                    "FROM audit.load_ledger LIMIT 1")
        con.execute("INSERT INTO audit.pipeline_runs SELECT * REPLACE ('pg-run' AS run_id, ? AS build_fingerprint, "
                    "now()::TIMESTAMP + INTERVAL 1 SECOND AS finished_at) FROM audit.pipeline_runs LIMIT 1",
                    [build_label("postgres", fingerprint)])
        assert last_successful_build(con) == duckdb_build
        assert last_successful_build(con, "postgres")[0] == f"postgres:{fingerprint}"
        assert unbuilt_reason(con, warehouse, fingerprint) == "1 file(s) recorded since the last published build"


def test_rows_of_a_build_that_was_not_published_are_built_and_tested_again(settings):
    """A build's tests on the big models read only the rows it wrote. Rows written by a build whose run
    failed (here: one forged into fct_checkouts, stamped after the last published build as that build
    would have stamped it) would pass unseen into the next published copy once a later build stamps
    newer rows: the next build rewrites every row instead, so every row is tested again."""
    from pipelines.assets.dbt import full_refresh_reason
    from pipelines.resources import WarehouseResource

    run_pipeline(settings)
    warehouse = WarehouseResource(path=str(settings.warehouse))
    assert full_refresh_reason(warehouse, settings.conversion_window_days) is None
    with connect(settings.warehouse) as con:
        con.execute("INSERT INTO marts.fct_checkouts SELECT * REPLACE ('k-unpublished' AS checkout_id, "
                    "'o-missing' AS order_id, now()::TIMESTAMP AS _inputs_loaded_at) "
                    "FROM marts.fct_checkouts WHERE checkout_id = 'k01'")
    assert full_refresh_reason(warehouse, settings.conversion_window_days).startswith(
        "a build since the last published one did not succeed")
    (settings.landing_dir / "checkout_events" / "events-9.jsonl").write_text(NEW_EVENT)

    run_pipeline(settings)
    with connect(settings.published, read_only=True) as con:
        published = {r[0] for r in con.execute("SELECT checkout_id FROM marts.fct_checkouts").fetchall()}
    assert "k90" in published and "k-unpublished" not in published
    assert full_refresh_reason(warehouse, settings.conversion_window_days) is None
