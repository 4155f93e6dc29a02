"""The model constraints of the public marts (and the intermediate models' keys) are dbt tests, and a dbt test names the model and column.

Each invariant is checked by one system (docs/data-quality.md, "Which system checks what"): keys
unique and not null, columns not null, values in their sets or ranges are dbt tests; the Great
Expectations mart checks no longer repeat them. These are the statements that broke the GX checks'
model-constraint parts before (a NULL count, a repeated key, a rate above 1, a grain outside its set,
...): each breaks one row of a copy of the conformance kit's warehouse (the real pipeline's build,
`conformance_warehouse`), and `dbt test --select <test>` must fail naming the model and the column.
All breaks touch different columns, so one dbt invocation checks them all.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.core.settings import dbt_target_path
from pipelines.core.warehouse import connect
from tests.conftest import copy_warehouse

DBT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"
DBT = Path(sys.executable).with_name("dbt")

# dbt test name -> (model, column, the statement that breaks it)
LATEST_CHECKOUT = "(SELECT max(checkout_id) FROM marts.fct_checkouts)"
LATEST_ORDER = "(SELECT max(order_id) FROM marts.fct_orders)"
BREAKS = {
    # A copy of an old checkout written by a later build (a delete+insert that left the old row): the
    # key is probed over the whole table with the keys the latest build wrote.
    "unique_fct_checkouts_checkout_id": (
        "fct_checkouts", "checkout_id",
        ("INSERT INTO marts.fct_checkouts SELECT * REPLACE ("
        "(SELECT max(_inputs_loaded_at) FROM marts.fct_checkouts) + INTERVAL 1 SECOND AS _inputs_loaded_at) "
        f"FROM marts.fct_checkouts WHERE checkout_id = {LATEST_CHECKOUT}"),
    ),
    "not_null_fct_checkouts_checkout_id": (
        "fct_checkouts", "checkout_id",
        ("UPDATE marts.fct_checkouts SET checkout_id = NULL "
        "WHERE checkout_id = (SELECT min(checkout_id) FROM marts.fct_checkouts)"),
    ),
    "not_null_fct_checkouts_started_at": (
        "fct_checkouts", "started_at",
        ("UPDATE marts.fct_checkouts SET started_at = NULL "
        "WHERE checkout_id = (SELECT checkout_id FROM marts.fct_checkouts ORDER BY checkout_id LIMIT 1 OFFSET 2)"),
    ),
    "accepted_values_fct_checkouts_reached_step__False__1__2__3__4__5__6": (
        "fct_checkouts", "reached_step",
        f"UPDATE marts.fct_checkouts SET reached_step = 9 WHERE checkout_id = {LATEST_CHECKOUT}",
    ),
    "unique_fct_orders_order_id": (
        "fct_orders", "order_id",
        ("INSERT INTO marts.fct_orders SELECT * REPLACE ("
        "(SELECT max(_inputs_loaded_at) FROM marts.fct_orders) + INTERVAL 1 SECOND AS _inputs_loaded_at) "
        f"FROM marts.fct_orders WHERE order_id = {LATEST_ORDER}"),
    ),
    # The intermediate keys: an OLD key written again by a later build (the row beside it kept). A
    # `unique` over the latest build's rows alone sees one row and passes; the history probe fails.
    **{
        f"unique_{model}_{key}": (
            model, key,
            (f"INSERT INTO intermediate.{model} SELECT * REPLACE ("
            f"(SELECT max(_inputs_loaded_at) FROM intermediate.{model}) + INTERVAL 1 SECOND AS _inputs_loaded_at) "
            f"FROM intermediate.{model} WHERE {key} = (SELECT min({key}) FROM intermediate.{model})"),
        )
        for model, key in (("int_checkouts_funnelled", "checkout_id"), ("int_orders_current", "order_id"),
                           ("int_customers_first_ordered", "customer_id"))
    },
    "not_null_fct_orders_is_placed": (
        "fct_orders", "is_placed",
        f"UPDATE marts.fct_orders SET is_placed = NULL WHERE order_id = {LATEST_ORDER}",
    ),
    "not_null_kpi_monthly_first_orders": (
        "kpi_monthly", "first_orders", "UPDATE marts.kpi_monthly SET first_orders = NULL",
    ),
    "not_null_kpi_monthly_period_start": (
        "kpi_monthly", "period_start",
        ("UPDATE marts.kpi_monthly SET period_start = NULL "
        "WHERE period_start = (SELECT min(period_start) FROM marts.kpi_monthly)"),
    ),
    "unique_kpi_weekly_period_start": (
        "kpi_weekly", "period_start",
        ("INSERT INTO marts.kpi_weekly SELECT * FROM marts.kpi_weekly "
        "WHERE period_start = (SELECT max(period_start) FROM marts.kpi_weekly)"),
    ),
    "accepted_range_kpi_weekly_manual_intervention_rate__1__0": (
        "kpi_weekly", "manual_intervention_rate",
        "UPDATE marts.kpi_weekly SET manual_intervention_rate = 1.5 WHERE self_service_orders > 0",
    ),
    "accepted_range_kpi_daily_checkout_conversion_rate__1__0": (
        "kpi_daily", "checkout_conversion_rate",
        "UPDATE marts.kpi_daily SET checkout_conversion_rate = -0.25 WHERE checkouts_started > 0",
    ),
    "not_null_kpi_daily_cohort_complete": (
        "kpi_daily", "cohort_complete", "UPDATE marts.kpi_daily SET cohort_complete = NULL",
    ),
    "accepted_values_funnel_steps_grain__day__week__month": (
        "funnel_steps", "grain", "UPDATE marts.funnel_steps SET grain = 'year' WHERE grain = 'month'",
    ),
    "unique_combination_of_columns_funnel_steps_grain__period_start__step_number": (
        "funnel_steps", "step_number",
        "INSERT INTO marts.funnel_steps SELECT * FROM marts.funnel_steps WHERE grain = 'day' AND step_number = 1",
    ),
    "accepted_range_funnel_steps_new_customer_checkouts__0": (
        "funnel_steps", "new_customer_checkouts",
        "UPDATE marts.funnel_steps SET new_customer_checkouts = -1 WHERE grain = 'week' AND step_number = 6",
    ),
}


def _dbt(args: list[str], warehouse: Path, tmp: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DO_NOT_TRACK": "1",
        "DBT_PROFILES_DIR": str(DBT_DIR),
        "DBT_TARGET_PATH": str(tmp / "target"),
        "DBT_LOG_PATH": str(tmp / "logs"),
        "FUNNEL_WAREHOUSE": str(warehouse),
    }
    return subprocess.run([str(DBT), *args], cwd=DBT_DIR, env=env, capture_output=True, text=True,
                          timeout=300, check=False)


@pytest.fixture(scope="module")
def broken_run(conformance_warehouse, tmp_path_factory):
    """The pipeline's own dbt results for these tests, and `dbt test` on a copy with every break."""
    built = json.loads((dbt_target_path(conformance_warehouse.warehouse) / "run_results.json").read_text())
    tmp = tmp_path_factory.mktemp("dbt-constraints")
    warehouse = copy_warehouse(conformance_warehouse, tmp / "warehouse.duckdb")
    with connect(warehouse) as con:
        for _, _, statement in BREAKS.values():
            con.execute(statement)
    proc = _dbt(["test", "--select", *BREAKS], warehouse, tmp)
    results = json.loads((tmp / "target" / "run_results.json").read_text())
    return built, proc, results


def _statuses(run_results: dict) -> dict[str, str]:
    return {
        r["unique_id"].split(".")[2]: r["status"] for r in run_results["results"] if r["unique_id"].startswith("test.")
    }


def test_the_kits_build_passed_these_tests(broken_run):
    built, _, _ = broken_run
    statuses = _statuses(built)
    assert {name: statuses.get(name) for name in BREAKS} == dict.fromkeys(BREAKS, "pass")


def test_dbt_test_fails_on_each_break_naming_model_and_column(broken_run):
    _, proc, results = broken_run
    assert proc.returncode == 1, proc.stdout[-4000:]
    assert _statuses(results) == dict.fromkeys(BREAKS, "fail"), proc.stdout[-4000:]
    for name, (model, column, _) in BREAKS.items():
        # dbt's error: "Failure in test <name> (models/<layer>/<model>.yml)"; the name holds the column.
        layer = "intermediate" if model.startswith("int_") else "marts"
        assert f"Failure in test {name} (models/{layer}/{model}.yml)" in proc.stdout, (name, proc.stdout[-4000:])
        assert column in name
