"""The model constraints of the public marts (and the intermediate models' keys) are dbt tests, and a dbt test names the model and column.

Each invariant is checked by one system (docs/data-quality.md, "Which system checks what"): keys
unique and not null, columns not null, values in their sets or ranges are dbt tests; the Great
Expectations mart checks no longer repeat them. These are the statements that broke the GX checks'
model-constraint parts before (a NULL count, a repeated key, a rate above 1, a grain outside its set,
...): each breaks one row of a copy of the conformance kit's warehouse (the real pipeline's build,
`conformance_warehouse`), and `dbt test --select <test>` must fail naming the model and the column:
a key test's name holds the column; a model's other column rules are one `column_rules` test whose
failing rows name the column, the rule and the rows, which a failed `funnel run` prints. All breaks
touch different columns, so one dbt invocation checks them all.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from pipelines.core.kpis import KPIS
from pipelines.core.settings import Settings, dbt_executable, dbt_target_path
from pipelines.core.warehouse import connect
from tests.conftest import copy_warehouse
from tests.test_run_lifecycle import NEW_EVENT

DBT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"
DBT = dbt_executable()

# (dbt test, model, column, the rule a `column_rules` test reports or None, the statement that breaks it)
LATEST_CHECKOUT = "(SELECT max(checkout_id) FROM marts.fct_checkouts)"
LATEST_ORDER = "(SELECT max(order_id) FROM marts.fct_orders)"
NOT_NULL, RATE = "not_null", "accepted_range >= 0 and <= 1"


def _written_again(table: str, key: str, which: str) -> str:
    """A copy of the row of `table` whose `key` is `which`, stamped by a later build (a delete+insert
    that left the old row): the key is probed over the whole table with the keys that build wrote."""
    return (f"INSERT INTO {table} SELECT * REPLACE ("
            f"(SELECT max(_inputs_loaded_at) FROM {table}) + INTERVAL 1 SECOND AS _inputs_loaded_at) "
            f"FROM {table} WHERE {key} = {which}")


BREAKS = [
    ("unique_fct_checkouts_checkout_id", "fct_checkouts", "checkout_id", None,
     _written_again("marts.fct_checkouts", "checkout_id", LATEST_CHECKOUT)),
    ("fct_checkouts_column_rules", "fct_checkouts", "checkout_id", NOT_NULL,
     ("UPDATE marts.fct_checkouts SET checkout_id = NULL "
      "WHERE checkout_id = (SELECT min(checkout_id) FROM marts.fct_checkouts)")),
    ("fct_checkouts_column_rules", "fct_checkouts", "started_at", NOT_NULL,
     ("UPDATE marts.fct_checkouts SET started_at = NULL "
      "WHERE checkout_id = (SELECT checkout_id FROM marts.fct_checkouts ORDER BY checkout_id LIMIT 1 OFFSET 2)")),
    ("fct_checkouts_column_rules", "fct_checkouts", "reached_step", "accepted_values [1, 2, 3, 4, 5, 6]",
     f"UPDATE marts.fct_checkouts SET reached_step = 9 WHERE checkout_id = {LATEST_CHECKOUT}"),
    ("unique_fct_orders_order_id", "fct_orders", "order_id", None,
     _written_again("marts.fct_orders", "order_id", LATEST_ORDER)),
    # The intermediate keys: an OLD key written again by a later build (the row beside it kept). A
    # `unique` over the latest build's rows alone sees one row and passes; the history probe fails.
    *(
        (f"unique_{model}_{key}", model, key, None,
         _written_again(f"intermediate.{model}", key, f"(SELECT min({key}) FROM intermediate.{model})"))
        for model, key in (("int_checkouts_funnelled", "checkout_id"), ("int_orders_current", "order_id"),
                           ("int_customers_first_ordered", "customer_id"))
    ),
    ("fct_orders_column_rules", "fct_orders", "is_placed", NOT_NULL,
     f"UPDATE marts.fct_orders SET is_placed = NULL WHERE order_id = {LATEST_ORDER}"),
    ("fct_orders_column_rules", "fct_orders", "status", "accepted_values [completed, refunded, failed, cancelled]",
     "UPDATE marts.fct_orders SET status = 'lost' WHERE order_id = (SELECT min(order_id) FROM marts.fct_orders)"),
    ("kpi_monthly_column_rules", "kpi_monthly", "first_orders", NOT_NULL,
     "UPDATE marts.kpi_monthly SET first_orders = NULL"),
    ("kpi_monthly_column_rules", "kpi_monthly", "period_start", NOT_NULL,
     ("UPDATE marts.kpi_monthly SET period_start = NULL "
      "WHERE period_start = (SELECT min(period_start) FROM marts.kpi_monthly)")),
    ("unique_kpi_weekly_period_start", "kpi_weekly", "period_start", None,
     ("INSERT INTO marts.kpi_weekly SELECT * FROM marts.kpi_weekly "
      "WHERE period_start = (SELECT max(period_start) FROM marts.kpi_weekly)")),
    ("kpi_weekly_column_rules", "kpi_weekly", "manual_intervention_rate", RATE,
     "UPDATE marts.kpi_weekly SET manual_intervention_rate = 1.5 WHERE self_service_orders > 0"),
    ("kpi_daily_column_rules", "kpi_daily", "checkout_conversion_rate", RATE,
     "UPDATE marts.kpi_daily SET checkout_conversion_rate = -0.25 WHERE checkouts_started > 0"),
    ("kpi_daily_column_rules", "kpi_daily", "cohort_complete", NOT_NULL,
     "UPDATE marts.kpi_daily SET cohort_complete = NULL"),
    ("funnel_steps_column_rules", "funnel_steps", "grain", "accepted_values [day, week, month]",
     "UPDATE marts.funnel_steps SET grain = 'year' WHERE grain = 'month'"),
    ("unique_combination_of_columns_funnel_steps_grain__period_start__step_number", "funnel_steps", "step_number", None,
     "INSERT INTO marts.funnel_steps SELECT * FROM marts.funnel_steps WHERE grain = 'day' AND step_number = 1"),
    ("funnel_steps_column_rules", "funnel_steps", "new_customer_checkouts", "accepted_range >= 0",
     "UPDATE marts.funnel_steps SET new_customer_checkouts = -1 WHERE grain = 'week' AND step_number = 6"),
    ("dash_dropoffs_column_rules", "dash_dropoffs", "stopped_at_step", "accepted_values [1, 2, 3, 4, 5]",
     "UPDATE marts.dash_dropoffs SET stopped_at_step = 6 WHERE stopped_at_step = 1"),
    ("int_orders_current_column_rules", "int_orders_current", "version_count", "accepted_range >= 1",
     "UPDATE intermediate.int_orders_current SET version_count = 0 WHERE order_id = (SELECT max(order_id) FROM intermediate.int_orders_current)"),
    # A seed's rules: kpi_name must be a registry KPI.
    ("kpi_targets_column_rules", "kpi_targets", "kpi_name", f"accepted_values [{', '.join(k.name for k in KPIS)}]",
     "UPDATE marts.kpi_targets SET kpi_name = 'revenue' WHERE grain = 'month'"),
    # Scoped to the latest build's rows (`where`): a row that build wrote.
    ("dash_checkout_steps_column_rules", "dash_checkout_steps", "payment_failures", NOT_NULL,
     ("UPDATE marts.dash_checkout_steps SET payment_failures = NULL WHERE checkout_id = "
      "(SELECT max(checkout_id) FROM marts.dash_checkout_steps)")),
]
TESTS = sorted({test for test, *_ in BREAKS})


def _dbt(args: list[str], warehouse: Path, tmp: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DO_NOT_TRACK": "1",
        "DBT_PROFILES_DIR": str(DBT_DIR),
        "DBT_TARGET_PATH": str(tmp / "target"),
        "DBT_LOG_PATH": str(tmp / "logs"),
        **Settings(warehouse=warehouse).dbt_env(),
    }
    return subprocess.run([str(DBT), *args], cwd=DBT_DIR, env=env, capture_output=True, text=True,
                          timeout=300, check=False)


@pytest.fixture(scope="module")
def broken_run(conformance_warehouse, tmp_path_factory):
    """The pipeline's own dbt results for these tests, and `dbt test` on a copy with every break: the
    rows each column_rules break touched, dbt's output, results and manifest, and the broken copy."""
    built = json.loads((dbt_target_path(conformance_warehouse.warehouse) / "run_results.json").read_text())
    tmp = tmp_path_factory.mktemp("dbt-constraints")
    warehouse = copy_warehouse(conformance_warehouse, tmp / "warehouse.duckdb")
    broken = []
    with connect(warehouse) as con:
        for _, model, column, rule, statement in BREAKS:
            [(rows,)] = con.execute(statement).fetchall()
            assert rows > 0, statement
            if rule:
                broken.append(f"{model}.{column} {rule}: {rows} row(s)")
    proc = _dbt(["test", "--select", *TESTS], warehouse, tmp)
    results = json.loads((tmp / "target" / "run_results.json").read_text())
    manifest = json.loads((tmp / "target" / "manifest.json").read_text())
    return built, proc, results, manifest, broken, warehouse


def _statuses(run_results: dict) -> dict[str, str]:
    return {
        r["unique_id"].split(".")[2]: r["status"] for r in run_results["results"] if r["unique_id"].startswith("test.")
    }


def test_the_kits_build_passed_these_tests(broken_run):
    built, *_ = broken_run
    statuses = _statuses(built)
    assert {name: statuses.get(name) for name in TESTS} == dict.fromkeys(TESTS, "pass")


def test_dbt_test_fails_on_each_break_naming_the_model(broken_run):
    _, proc, results, manifest, *_ = broken_run
    assert proc.returncode == 1, proc.stdout[-4000:]
    assert _statuses(results) == dict.fromkeys(TESTS, "fail"), proc.stdout[-4000:]
    # Where each test is declared, as dbt knows it: the yml of the model (or seed) it belongs to.
    declared = {node["name"]: node["original_file_path"] for node in manifest["nodes"].values()
                if node["resource_type"] == "test"}
    for name, model, column, rule, _ in BREAKS:
        # dbt's error: "Failure in test <name> (<the model's yml>)"; a key test's name holds the
        # column, a column_rules test's failing rows name it (next test).
        assert declared[name].endswith(f"/{model}.yml"), (name, declared[name])
        assert f"Failure in test {name} ({declared[name]})" in proc.stdout, (name, proc.stdout[-4000:])
        assert rule or column in name


def test_the_failing_rows_of_column_rules_name_each_broken_column_rule_and_row_count(broken_run):
    """What a failed `funnel run` prints (pipelines/assets/dbt.py): exactly the broken rules, each
    with the rows the break touched (a second row of a checkout counts: it was copied before)."""
    from pipelines.assets.dbt import broken_column_rules

    _, _, results, manifest, broken, warehouse = broken_run
    with connect(warehouse, read_only=True) as con:
        assert sorted(broken_column_rules(manifest, results, con)) == sorted(broken)


def test_a_run_that_fails_at_dbt_prints_the_model_column_and_rule(conformance_warehouse, tmp_path, monkeypatch):
    """`funnel run` end to end: an old row of fct_checkouts loses its customer (the incremental build of
    one more file does not rewrite it, so the model's column_rules test reads it and fails)."""
    from pipelines.core.settings import Settings
    from pipelines.run import PipelineFailed, run_pipeline

    landing = tmp_path / "landing"
    shutil.copytree(conformance_warehouse.settings.landing_dir, landing)
    warehouse = copy_warehouse(conformance_warehouse, tmp_path / "warehouse.duckdb", published=True)
    monkeypatch.setenv("FUNNEL_WAREHOUSE", str(warehouse))
    monkeypatch.setenv("FUNNEL_LANDING_DIR", str(landing))
    with connect(warehouse) as con:
        con.execute("UPDATE marts.fct_checkouts SET customer_id = NULL WHERE checkout_id = 'k01'")
    (landing / "checkout_events" / "events-9.jsonl").write_text(NEW_EVENT)

    with pytest.raises(PipelineFailed) as failed:
        run_pipeline(Settings.from_env(landing, warehouse))
    assert "step dbt_models failed: " in str(failed.value)
    assert "dbt tests failed: fct_checkouts.customer_id not_null: 1 row(s)" in str(failed.value)
    assert "check marts/fct_checkouts:fct_checkouts_column_rules failed" in str(failed.value)
