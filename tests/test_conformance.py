"""End to end through `funnel run` (Dagster, dbt, publishing): the conformance kit's every figure."""

from __future__ import annotations

import itertools
import math
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from pipelines.core.settings import Settings
from pipelines.run import run_pipeline
from tests.conftest import CLEAN_LANDING, read_expected

KPI_COUNT_COLUMNS = (
    "checkouts_started", "checkouts_converted", "new_customer_checkouts_started", "new_customer_checkouts_converted",
    "first_orders", "self_service_first_orders", "self_service_orders", "manual_intervention_orders",
    "self_service_first_orders_with_intervention",
)


@pytest.fixture(params=["clean", "with-bad-rows"])
def published(request) -> Path:
    """The published copy of the kit's session warehouse (tests/conftest.py), clean or with bad rows."""
    name = "conformance_warehouse" if request.param == "clean" else "conformance_dirty_warehouse"
    return request.getfixturevalue(name).published


def _rows(published: Path, sql: str) -> list[dict]:
    con = duckdb.connect(str(published), read_only=True)
    try:
        cursor = con.execute(sql)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        con.close()


def _same(expected: str, actual) -> bool:
    """Compare a CSV cell with a warehouse value: counts exactly, rates to 1e-9, NULL as empty."""
    if expected == "":
        return actual is None
    if actual is None:
        return False
    if isinstance(actual, bool):
        return expected == str(actual)
    if isinstance(actual, datetime):
        return expected == actual.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(actual, date):
        return expected == actual.isoformat()
    if isinstance(actual, (int, float)) or hasattr(actual, "as_integer_ratio"):
        return math.isclose(float(expected), float(actual), rel_tol=1e-9, abs_tol=1e-9)
    return expected == str(actual)


def _assert_rows_match(expected_rows, actual_by_key, key, context):
    for expected in expected_rows:
        actual = actual_by_key.get(tuple(expected[k] for k in key))
        assert actual is not None, f"{context}: no row for {[expected[k] for k in key]}"
        for column, value in expected.items():
            if column == "case":
                continue
            assert _same(value, actual[column]), (
                f"{context} {[expected[k] for k in key]} {column}: expected {value!r}, got {actual[column]!r}"
                f" ({expected.get('case', '')})"
            )


@pytest.mark.parametrize("grain", ["daily", "weekly", "monthly"])
def test_kpi_tables(published, grain):
    actual = _rows(published, f"SELECT * FROM marts.kpi_{grain} ORDER BY period_start")
    by_period = {(row["period_start"].isoformat(),): row for row in actual}
    expected = read_expected(f"kpi_{grain}.csv")
    _assert_rows_match(expected, by_period, ("period_start",), f"kpi_{grain}")
    # Between the active periods: every period present, counts 0, rates NULL.
    step = {"daily": timedelta(days=1), "weekly": timedelta(weeks=1)}.get(grain)
    starts = [row["period_start"] for row in actual]
    assert starts[0].isoformat() == expected[0]["period_start"]
    assert starts[-1].isoformat() == expected[-1]["period_start"]
    for earlier, later in itertools.pairwise(starts):
        if step:
            assert later - earlier == step
        else:
            assert (later.year * 12 + later.month) - (earlier.year * 12 + earlier.month) == 1
    active = {row["period_start"] for row in expected}
    for row in actual:
        if row["period_start"].isoformat() not in active:
            assert all(row[c] == 0 for c in KPI_COUNT_COLUMNS), row
            assert row["checkout_conversion_rate"] is None and row["manual_intervention_rate"] is None


def test_funnel_steps(published):
    actual = _rows(published, "SELECT * FROM marts.funnel_steps")
    expected = read_expected("funnel_steps.csv")
    by_key = {(r["grain"], r["period_start"].isoformat(), str(r["step_number"])): r for r in actual}
    _assert_rows_match(expected, by_key, ("grain", "period_start", "step_number"), "funnel_steps")
    assert len(actual) == len(expected)


def test_fct_checkouts(published):
    actual = _rows(published, "SELECT * FROM marts.fct_checkouts")
    expected = read_expected("fct_checkouts.csv")
    _assert_rows_match(expected, {(r["checkout_id"],): r for r in actual}, ("checkout_id",), "fct_checkouts")
    assert len(actual) == len(expected)


def test_fct_orders(published):
    actual = _rows(published, "SELECT * FROM marts.fct_orders")
    expected = read_expected("fct_orders.csv")
    _assert_rows_match(expected, {(r["order_id"],): r for r in actual}, ("order_id",), "fct_orders")
    assert len(actual) == len(expected)


def test_published_copy_holds_the_audit_tables_and_column_docs(published):
    ledger = _rows(published, "SELECT count(*) AS files FROM audit.load_ledger")
    assert ledger[0]["files"] in (6, 11)
    runs = _rows(published, "SELECT status FROM audit.pipeline_runs")
    assert [r["status"] for r in runs] == ["success"]
    docs = _rows(
        published,
        "SELECT description FROM meta.column_descriptions "
        "WHERE table_name = 'kpi_weekly' AND column_name = 'first_order_conversion_rate'",
    )
    assert docs and docs[0]["description"]


def test_loading_the_kit_in_two_runs_gives_the_same_tables(tmp_path):
    """Late events for earlier checkouts and later status changes of earlier orders arrive in a
    second run: the incremental result equals the expected figures (and so a full rebuild)."""
    import shutil

    landing = tmp_path / "landing"
    for source in ("checkout_events", "orders"):
        (landing / source).mkdir(parents=True)
    settings = Settings.from_env(landing, tmp_path / "warehouse.duckdb")
    first = {"checkout_events": ["events-1.jsonl"], "orders": ["orders-1.csv"]}
    second = {"checkout_events": ["events-2.parquet", "events-3.jsonl.gz"], "orders": ["orders-2-updates.csv",
                                                                                      "orders-3.parquet"]}
    for batch in (first, second):
        for source, names in batch.items():
            for name in names:
                shutil.copy(CLEAN_LANDING / source / name, landing / source / name)
        run_pipeline(settings)
    for table, key in (("fct_checkouts", "checkout_id"), ("fct_orders", "order_id")):
        actual = _rows(settings.published, f"SELECT * FROM marts.{table}")
        expected = read_expected(f"{table}.csv")
        _assert_rows_match(expected, {(r[key],): r for r in actual}, (key,), table)
        assert len(actual) == len(expected)
    actual = _rows(settings.published, "SELECT * FROM marts.kpi_weekly")
    _assert_rows_match(read_expected("kpi_weekly.csv"), {(r["period_start"].isoformat(),): r for r in actual},
                       ("period_start",), "kpi_weekly")
