"""The speed machinery's one switch (pipelines/speedups): off, `funnel run` starts no dbt or check
process, runs dagster-dbt's own resource and every check in its own process, and gives the same
tables as a run with it on (the session's conformance warehouse)."""

from __future__ import annotations

import contextlib

import duckdb
from dagster_dbt import DbtCliResource

from data_checks.catalog import all_checks
from pipelines import speedups
from pipelines.core.settings import DBT_PROJECT_DIR, Settings
from pipelines.run import run_pipeline
from pipelines.speedups import warm_checks, warm_dbt
from pipelines.speedups.fast_dbt import FastDbtCliResource
from tests.conftest import CLEAN_LANDING

TABLES = ("marts.kpi_daily", "marts.kpi_weekly", "marts.kpi_monthly", "marts.funnel_steps", "marts.fct_checkouts",
          "marts.fct_orders", "marts.dash_dropoffs", "marts.dash_payment_failures", "marts.dash_checkout_steps")


def _rows(path, table: str) -> list[tuple]:
    with contextlib.closing(duckdb.connect(str(path), read_only=True)) as con:
        return con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()


def test_the_switch_picks_the_dbt_resource(tmp_path):
    on, off = Settings(warehouse=tmp_path / "w.duckdb"), Settings(warehouse=tmp_path / "w.duckdb", speedups=False)
    assert type(speedups.dbt_resource(on, project_dir=str(DBT_PROJECT_DIR))) is FastDbtCliResource
    plain = speedups.dbt_resource(off, project_dir=str(DBT_PROJECT_DIR))
    assert type(plain) is DbtCliResource and plain.dbt_executable == "dbt"


def test_off_a_run_starts_no_process_and_gives_the_same_tables(tmp_path, monkeypatch, conformance_warehouse):
    monkeypatch.setenv("FUNNEL_SPEEDUPS", "0")
    started = []
    for module in (warm_dbt, warm_checks):
        monkeypatch.setattr(module, "started", lambda m=module: started.append(m) or contextlib.nullcontext())
    settings = Settings.from_env(CLEAN_LANDING, tmp_path / "warehouse.duckdb")
    assert settings.speedups is False
    outcome = run_pipeline(settings)
    assert started == []
    with contextlib.closing(duckdb.connect(str(settings.warehouse), read_only=True)) as con:
        [(checked,)] = con.execute("SELECT count(*) FROM audit.check_results WHERE run_id = ?", [outcome.run_id]).fetchall()
    assert checked == len(all_checks())
    for table in TABLES:
        assert _rows(settings.published, table) == _rows(conformance_warehouse.published, table), table
