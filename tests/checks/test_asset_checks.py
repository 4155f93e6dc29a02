"""The data checks as Dagster asset checks: error-level failures block downstream, warnings do not."""

from __future__ import annotations

import dagster as dg
import duckdb
import pytest

from data_checks.catalog import all_checks
from pipelines.checks import ASSET_CHECKS, CHECK_GROUPS
from pipelines.resources import WarehouseResource

INGEST_KEYS = ["raw/checkout_events", "raw/orders", "audit/load_ledger"]


@dg.multi_asset(specs=[dg.AssetSpec(dg.AssetKey(k.split("/"))) for k in INGEST_KEYS], name="ingest_landing")
def ingest_landing_stub():
    """Stands in for the ingestion: the test warehouse is already filled."""
    for key in INGEST_KEYS:
        yield dg.MaterializeResult(asset_key=dg.AssetKey(key.split("/")))


@dg.asset(key=["marts", "downstream"], deps=[dg.AssetKey(k.split("/")) for k in INGEST_KEYS])
def downstream() -> None:
    """Stands in for everything after the ingestion (dbt models, the published copy)."""


@pytest.fixture
def warehouse(warehouse_copy, monkeypatch):
    """The clean warehouse as a first run's check step finds it: loaded, no check run yet, so the
    checks read whole tables (the stub ingestion loads nothing)."""
    monkeypatch.setenv("FUNNEL_FRESHNESS_HOURS", str(24 * 365 * 100))  # the fixture's data is from 2026-03
    with duckdb.connect(str(warehouse_copy)) as con:
        con.execute("DELETE FROM audit.check_results")
    return warehouse_copy


def _materialize(path):
    return dg.materialize(
        [ingest_landing_stub, downstream, ASSET_CHECKS[0]],
        resources={"warehouse": WarehouseResource(path=str(path))},
        raise_on_error=False,
    )


def _materialized(result) -> set[str]:
    return {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}


def _check_evaluations(result):
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def test_every_check_is_an_asset_check_with_its_severity():
    specs = {spec.name: spec for d in ASSET_CHECKS for spec in d.check_specs}
    checks = {c.name: c for c in all_checks()}
    assert set(specs) == set(checks)
    for name, check in checks.items():
        assert specs[name].asset_key == dg.AssetKey(check.asset.split("/"))
        assert specs[name].blocking == (check.severity == "error")
    assert {a for assets in CHECK_GROUPS.values() for a in assets} == {c.asset for c in checks.values()}
    dg.Definitions(assets=[ingest_landing_stub, downstream], asset_checks=ASSET_CHECKS,
                   resources={"warehouse": WarehouseResource(path="unused.duckdb")})


def test_clean_run_and_warnings_do_not_block(warehouse):
    with duckdb.connect(str(warehouse)) as con:
        con.execute("UPDATE raw.checkout_events SET device = 'smart_tv' WHERE event_id = 'e09'")
    result = _materialize(warehouse)
    assert result.success
    evaluations = _check_evaluations(result)
    assert not evaluations["raw_events_optional_value_drift"].passed
    assert evaluations["raw_events_optional_value_drift"].severity == dg.AssetCheckSeverity.WARN
    assert all(e.passed for n, e in evaluations.items() if n != "raw_events_optional_value_drift")
    assert "marts/downstream" in _materialized(result)
    with duckdb.connect(str(warehouse)) as con:
        recorded = con.execute(
            "SELECT check_name FROM audit.check_results WHERE run_id = ? AND NOT passed", [result.run_id]
        ).fetchall()
    assert recorded == [("raw_events_optional_value_drift",)]


def test_error_level_failure_blocks_downstream(warehouse):
    with duckdb.connect(str(warehouse)) as con:
        con.execute("UPDATE audit.load_ledger SET rows_read = 12 WHERE source = 'checkout_events'")
    result = _materialize(warehouse)
    assert not result.success
    evaluation = _check_evaluations(result)["ledger_rows_conserved"]
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert "raw/orders" in _materialized(result) and "marts/downstream" not in _materialized(result)
    with duckdb.connect(str(warehouse)) as con:
        [(observed,)] = con.execute(
            "SELECT observed_value FROM audit.check_results WHERE run_id = ? AND check_name = 'ledger_rows_conserved'",
            [result.run_id],
        ).fetchall()
    assert observed == "1 unexpected"
