"""The KPI registry (pipelines/core/kpis.py) is the one list of KPIs: every copy a tool cannot import
(the dbt models' YAML, the seed of targets) is compared with it here."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import yaml

from pipelines.core.kpis import KPI_BY_NAME, KPIS, RATE_KPIS, format_value

DBT = Path(__file__).resolve().parents[1] / "dbt_project"


def _model_columns(name: str) -> dict[str, str]:
    doc = yaml.safe_load((DBT / "models" / "marts" / f"{name}.yml").read_text())
    [model] = [m for m in doc["models"] if m["name"] == name]
    return {c["name"]: c.get("description", "") for c in model["columns"]}


@pytest.mark.parametrize("mart", ["kpi_daily", "kpi_weekly", "kpi_monthly"])
def test_every_kpi_and_its_parts_are_documented_columns_of_the_kpi_marts(mart):
    columns = _model_columns(mart)
    for kpi in KPIS:
        assert kpi.name in columns, (mart, kpi.name)
        for part in (kpi.numerator, kpi.denominator):
            assert part is None or part in columns, (mart, kpi.name, part)
    # The two rules that decide which periods are final live in the mart, once.
    assert {"period_closed", "cohort_complete"} <= set(columns)
    assert {k.final_column for k in KPIS} == {"period_closed", "cohort_complete"}


def test_rates_have_parts_and_other_kpis_do_not():
    assert [k.name for k in RATE_KPIS] == [
        "first_order_conversion_rate", "checkout_conversion_rate", "self_service_first_order_share",
        "manual_intervention_rate", "first_order_manual_intervention_rate",
    ]
    for kpi in KPIS:
        assert (kpi.numerator is not None and kpi.denominator is not None) == kpi.is_rate, kpi.name
        assert kpi.definition.endswith("."), kpi.name


def test_the_seed_of_targets_names_only_registry_kpis_and_accepts_exactly_them():
    doc = yaml.safe_load((DBT / "seeds" / "kpi_targets.yml").read_text())
    [rules] = [t["column_rules"]["arguments"] for t in doc["seeds"][0]["data_tests"] if "column_rules" in t]
    accepted = rules["accepted_values"]["kpi_name"]["values"]
    assert sorted(accepted) == sorted(KPI_BY_NAME)
    with (DBT / "seeds" / "kpi_targets.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert {r["kpi_name"] for r in rows} <= set(KPI_BY_NAME)
    assert "direction" not in rows[0]  # the registry's, not the seed's


@pytest.mark.parametrize(
    ("name", "value", "shown"),
    [
        ("first_order_conversion_rate", 0.35714, "35.7%"),
        ("first_orders", 10992, "10,992"),
        ("median_hours_to_convert", 5.25, "5.2 h"),
        ("median_hours_to_convert", 50.0, "2.1 days"),
        ("manual_intervention_rate", None, "—"),
        ("manual_intervention_rate", float("nan"), "—"),
    ],
)
def test_values_are_formatted_by_their_unit(name, value, shown):
    assert KPI_BY_NAME[name].format(value) == shown
    assert format_value(value, KPI_BY_NAME[name].unit) == shown
