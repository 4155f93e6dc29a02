"""Every metric of the semantic layer equals the marts' column for every period, at day, week and
month grain (docs/metrics.md): on the conformance kit (and there also the kit's expected tables,
computed by hand from kpi-definitions.md) and on generated data."""

from __future__ import annotations

import math
from datetime import date

import duckdb
import pytest

from pipelines.core.kpis import KPI_TABLES, KPIS
from pipelines.metrics import SemanticLayer
from tests.conftest import read_expected

# Every KPI and every numerator / denominator: the metrics named as the marts' columns.
METRICS = list(dict.fromkeys(name for k in KPIS for name in (k.name, k.numerator, k.denominator) if name))
COUNTS = [name for name in METRICS if name not in {k.name for k in KPIS if k.unit != "count"}]


def metric_rows(layer: SemanticLayer, grain: str) -> dict[date, dict[str, float | None]]:
    result = layer.query(METRICS, [f"metric_time__{grain}"])
    assert sorted(result.columns) == sorted([f"metric_time__{grain}", *METRICS])
    rows = [dict(zip(result.columns, row, strict=True)) for row in result.rows]
    return {row.pop(f"metric_time__{grain}").date(): row for row in rows}


def mart_rows(published, mart: str) -> dict[date, dict[str, float | None]]:
    with duckdb.connect(str(published), read_only=True) as con:
        table = con.execute(f"SELECT period_start, {', '.join(METRICS)} FROM marts.{mart}").fetchall()
    return {row[0]: dict(zip(METRICS, row[1:], strict=True)) for row in table}


def expected_rows(mart: str) -> dict[date, dict[str, float | None]]:
    return {date.fromisoformat(row["period_start"]): {m: float(row[m]) if row[m] else None for m in METRICS}
            for row in read_expected(f"{mart}.csv")}


def assert_equal_by_period(metrics: dict, reference: dict) -> None:
    """Same value for every period MetricFlow answers; a period it leaves out has no activity at all."""
    assert set(metrics) <= set(reference), sorted(set(metrics) - set(reference))
    for period, values in reference.items():
        if period not in metrics:
            assert all(values[c] == 0 for c in COUNTS), (period, values)
            continue
        for name, want in values.items():
            got = metrics[period][name]
            assert (got is None) == (want is None), (period, name, got, want)
            if want is not None:
                assert math.isclose(got, want, rel_tol=1e-12, abs_tol=1e-12), (period, name, got, want)


@pytest.fixture(scope="module")
def conformance_layer(conformance_warehouse):
    layer = SemanticLayer(conformance_warehouse.settings)
    yield layer
    layer.close()


@pytest.mark.parametrize("grain", KPI_TABLES)
def test_every_metric_equals_the_marts_and_the_kit_s_expected_tables(conformance_layer, conformance_warehouse, grain):
    metrics = metric_rows(conformance_layer, grain)
    marts = mart_rows(conformance_warehouse.published, KPI_TABLES[grain])
    assert_equal_by_period(metrics, marts)
    assert_equal_by_period(metrics, expected_rows(KPI_TABLES[grain]))
    # Periods with activity are all there: the kit's weeks without any are the only ones left out.
    assert set(marts) - set(metrics) == {p for p, v in marts.items() if all(v[c] == 0 for c in COUNTS)}


def test_the_kit_s_numbers_for_one_week(conformance_layer):
    # The kit's week of 2026-03-02 (expected/kpi_weekly.csv): 6 of 10 checkouts converted, 4 first orders.
    week = metric_rows(conformance_layer, "week")[date(2026, 3, 2)]
    assert (week["checkouts_started"], week["checkouts_converted"], week["checkout_conversion_rate"]) == (10, 6, 0.6)
    assert week["first_orders"] == 4


@pytest.mark.parametrize("grain", KPI_TABLES)
def test_every_metric_equals_the_marts_on_generated_data(generated_warehouse, grain):
    layer = SemanticLayer(generated_warehouse.settings)
    try:
        metrics = metric_rows(layer, grain)
    finally:
        layer.close()
    marts = mart_rows(generated_warehouse.published, KPI_TABLES[grain])
    assert_equal_by_period(metrics, marts)
    assert len(metrics) >= {"day": 50, "week": 8, "month": 2}[grain]
    assert sum(v["checkouts_started"] for v in metrics.values()) > 1000
