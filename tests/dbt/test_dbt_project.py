"""The dbt project: schemas, docs, portable SQL, public columns and types, unit tests of the funnel rules.

What the pipeline built is read where it exists: the manifest, tables and column types of the
session's conformance warehouse (`conformance_warehouse`, tests/conftest.py: the real `funnel run`).
The dbt unit tests run on a copy of that warehouse (they read their inputs' column types from the
built relations); the last test builds the project alone on a few hand-written raw rows, in UTC+14.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest

from pipelines.core.settings import Settings, dbt_executable, dbt_target_path
from pipelines.ingest.ledger import ensure_tables
from tests.conftest import copy_warehouse

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DBT_DIR = PROJECT_ROOT / "dbt_project"
DBT = dbt_executable()
# Another developer's models; this suite tests the core project only.
EXCLUDE = ["--exclude", "path:models/marts/dashboard"]


KPI_COLUMNS = [
    "period_start",
    "checkouts_started",
    "checkouts_converted",
    "checkout_conversion_rate",
    "new_customer_checkouts_started",
    "new_customer_checkouts_converted",
    "first_order_conversion_rate",
    "first_orders",
    "self_service_first_orders",
    "self_service_first_order_share",
    "self_service_orders",
    "manual_intervention_orders",
    "manual_intervention_rate",
    "self_service_first_orders_with_intervention",
    "first_order_manual_intervention_rate",
    "median_hours_to_convert",
    "cohort_complete",
]
PUBLIC_COLUMNS = {
    "kpi_daily": KPI_COLUMNS,
    "kpi_weekly": KPI_COLUMNS,
    "kpi_monthly": KPI_COLUMNS,
    "funnel_steps": [
        "grain",
        "period_start",
        "step_number",
        "step_name",
        "checkouts",
        "new_customer_checkouts",
    ],
    "fct_checkouts": [
        "checkout_id",
        "customer_id",
        "started_at",
        "is_new_customer",
        "plan",
        "deployment",
        "country",
        "device",
        "seats",
        "reached_step",
        "converted",
        "order_id",
        "hours_to_convert",
    ],
    "fct_orders": [
        "order_id",
        "customer_id",
        "checkout_id",
        "created_at",
        "channel",
        "order_type",
        "status",
        "plan",
        "deployment",
        "seats",
        "amount",
        "currency",
        "is_placed",
        "is_self_service",
        "is_first_order",
        "manual_intervention",
        "intervention_reason",
    ],
    "warehouse_as_of": ["as_of", "conversion_window_days"],
}
FUNNELLED_COLUMNS = [
    "checkout_id",
    "customer_id",
    "started_at",
    "plan",
    "deployment",
    "country",
    "device",
    "seats",
    "is_new_customer",
    "subscription_details_completed_at",
    "billing_address_completed_at",
    "payment_method_completed_at",
    "order_submitted_at",
    "order_placed_at",
    "reached_step",
    "converted",
    "order_id",
    "hours_to_convert",
]


INCREMENTAL_MODELS = {"int_checkouts_funnelled", "int_orders_current", "int_customers_first_ordered", "fct_orders", "fct_checkouts",
                      "dash_checkout_steps"}


@pytest.fixture(scope="module")
def dbt_env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dbt")
    env = dict(os.environ)
    env.update(
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
        DO_NOT_TRACK="1",
        DBT_PROFILES_DIR=str(DBT_DIR),
        DBT_TARGET_PATH=str(tmp / "target"),
        DBT_LOG_PATH=str(tmp / "logs"),
    )

    def run(*args: str, warehouse: Path, extra_env: dict[str, str] | None = None) -> dict:
        proc = subprocess.run(
            [str(DBT), *args],
            check=False,
            cwd=DBT_DIR,
            env={**env, **Settings(warehouse=warehouse).dbt_env(), **(extra_env or {})},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, (
            f"dbt {' '.join(args)} failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-2000:]}"
        )
        results = tmp / "target" / "run_results.json"
        return json.loads(results.read_text()) if results.exists() else {}

    return {"run": run, "tmp": tmp}


@pytest.fixture(scope="module")
def manifest(conformance_warehouse) -> dict:
    """The manifest of the dbt build the pipeline ran."""
    return json.loads((dbt_target_path(conformance_warehouse.warehouse) / "manifest.json").read_text())


def _own_models(manifest: dict) -> dict[str, dict]:
    return {
        n["name"]: n
        for n in manifest["nodes"].values()
        if n["resource_type"] == "model"
        and n["package_name"] == "checkout_funnel"
        and "/dashboard/" not in n["original_file_path"]
    }


def test_models_live_in_their_schemas(manifest):
    models = _own_models(manifest)
    expected = {
        "staging": {"stg_checkout_events", "stg_orders"},
        "intermediate": {"int_orders_current", "int_customers_first_ordered", "int_checkouts_funnelled"},
        "marts": {
            "fct_orders",
            "fct_checkouts",
            "funnel_steps",
            "kpi_daily",
            "kpi_weekly",
            "kpi_monthly",
            "warehouse_as_of",
        },
    }
    for schema, names in expected.items():
        for name in names:
            assert name in models, name
            assert models[name]["schema"] == schema, (name, models[name]["schema"])
            # Staging renames and casts only (views); the models that would rescan the history on
            # every run are incremental (macros/incremental.sql); the rest are tables.
            expected_materialization = {"staging": "view"}.get(schema, "table")
            if name in INCREMENTAL_MODELS:
                expected_materialization = "incremental"
            assert models[name]["config"]["materialized"] == expected_materialization
    seed = next(n for n in manifest["nodes"].values() if n["name"] == "kpi_targets")
    assert seed["schema"] == "marts"


def test_every_model_and_column_is_documented_in_its_own_yml(manifest):
    for name, node in _own_models(manifest).items():
        assert node["description"].strip(), name
        patch = node.get("patch_path") or ""
        assert patch.endswith(f"/{name}.yml"), (name, patch)
        assert node["columns"], name
        for col, meta in node["columns"].items():
            assert meta["description"].strip(), (name, col)


def test_models_use_no_duckdb_only_syntax(manifest):
    for name, node in _own_models(manifest).items():
        code = re.sub(r"--[^\n]*|\{#.*?#\}", "", node["raw_code"], flags=re.DOTALL)
        assert not re.search(r"\bqualify\b", code, re.IGNORECASE), name
        assert "::" not in code, name
        assert not re.search(r"\blambda\b|->", code), name
        assert "datediff" not in code.lower(), name


def test_the_pipelines_build_has_the_public_columns_and_types(conformance_warehouse):
    con = duckdb.connect(str(conformance_warehouse.warehouse), read_only=True)
    try:

        def columns(schema: str, table: str) -> list[str]:
            rows = con.execute(
                "select column_name from information_schema.columns where table_schema = ? and table_name = ? "
                "order by ordinal_position",
                [schema, table],
            ).fetchall()
            return [r[0] for r in rows]

        for table, wanted in PUBLIC_COLUMNS.items():
            got = columns("marts", table)
            assert [c for c in got if c in wanted] == wanted, (table, got)
        # The agreed columns, then the incremental bookkeeping column.
        assert columns("intermediate", "int_checkouts_funnelled") == [*FUNNELLED_COLUMNS, "_inputs_loaded_at"]
        types = dict(
            con.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = 'marts' and table_name = 'kpi_weekly'"
            ).fetchall()
        )
        assert types["period_start"] == "DATE"
        assert types["cohort_complete"] == "BOOLEAN"
        assert types["checkout_conversion_rate"] == "DOUBLE"
        assert types["median_hours_to_convert"] == "DOUBLE"
        assert types["checkouts_started"] == "BIGINT"
        targets = con.execute("select kpi_name, grain, target from marts.kpi_targets").fetchall()
        assert {t[0] for t in targets} == {
            "first_order_conversion_rate",
            "checkout_conversion_rate",
            "self_service_first_order_share",
            "manual_intervention_rate",
            "first_orders",
            "median_hours_to_convert",
        }
        assert {t[1] for t in targets} == {"week", "month"}
    finally:
        con.close()


def test_unit_tests_of_the_funnel_rules_pass(dbt_env, conformance_warehouse):
    # dbt reads the unit tests' input column types from the built relations, and writes to the warehouse.
    warehouse = copy_warehouse(conformance_warehouse, dbt_env["tmp"] / "unit-tests.duckdb")
    results = dbt_env["run"]("test", "--select", "test_type:unit", *EXCLUDE, warehouse=warehouse)
    # Only the unit tests' outcomes (on-run-start hooks report too).
    outcomes = {
        r["unique_id"].split(".")[-1]: r["status"] for r in results["results"] if r["unique_id"].startswith("unit_test.")
    }
    expected = {
        "funnel_steps_count_only_in_order",
        "funnel_window_edges",
        "funnel_repeated_steps",
        "funnel_ties_at_the_same_instant",
        "funnel_order_placed_around_order_submitted",
        "funnel_new_customer_checkouts",
        "int_orders_current_latest_version_wins",
        "int_customers_first_ordered_ties_and_unplaced",
        "fct_orders_first_order_flags",
        "funnel_steps_all_steps_every_grain",
        "kpi_daily_counts_rates_median_and_completeness",
        "kpi_weekly_weeks_start_monday",
        "kpi_monthly_range_from_orders_and_checkouts",
    }
    assert expected <= set(outcomes), sorted(expected - set(outcomes))
    assert all(status == "pass" for status in outcomes.values()), outcomes


def test_full_build_on_a_few_rows_is_utc_whatever_the_machine_zone(dbt_env):
    """The project alone on a few raw rows (the ingestion's own DDL): builds everything, tests included."""
    warehouse = dbt_env["tmp"] / "few-rows.duckdb"
    con = duckdb.connect(str(warehouse))
    try:
        con.execute("SET TimeZone = 'UTC'")
        ensure_tables(con)  # the real raw and audit DDL of the ingestion
        con.execute(
            """
            insert into raw.checkout_events
              (event_id, event_name, event_time, checkout_id, customer_id, plan, seats, _file_path, _row_number,
               _loaded_at)
            select *, 'f.jsonl', 1, timestamp '2026-03-06 00:00:00' from (values
              ('e1', 'checkout_started', timestamp '2026-02-28 23:30:00', 'k1', 'c1', 'premium', 5),
              ('e2', 'subscription_details_completed', timestamp '2026-03-01 00:10:00', 'k1', 'c1', null, null),
              ('e3', 'billing_address_completed', timestamp '2026-03-01 00:20:00', 'k1', 'c1', null, null),
              ('e4', 'payment_method_completed', timestamp '2026-03-01 00:30:00', 'k1', 'c1', null, null),
              ('e5', 'order_submitted', timestamp '2026-03-01 00:40:00', 'k1', 'c1', null, null),
              ('e6', 'checkout_started', timestamp '2026-03-02 10:00:00', 'k2', 'c2', 'ultimate', 3))
            """
        )
        con.execute(
            """
            insert into raw.orders
              (order_id, customer_id, checkout_id, created_at, updated_at, channel, order_type, status, amount, currency,
               manual_intervention, _file_path, _row_number, _loaded_at)
            select *, 'f.csv', 1, timestamp '2026-03-06 00:00:00' from (values
              ('o1', 'c1', 'k1', timestamp '2026-03-01 00:41:00', timestamp '2026-03-01 00:41:00', 'web_direct',
               'new_subscription', 'completed', 10, 'USD', false),
              ('o2', 'c2', null, timestamp '2026-03-02 09:00:00', timestamp '2026-03-02 09:00:00', 'reseller',
               'new_subscription', 'completed', 10, 'USD', false),
              ('o2', 'c2', null, timestamp '2026-03-02 09:00:00', timestamp '2026-03-05 12:00:00', 'reseller',
               'new_subscription', 'cancelled', 10, 'USD', false))
            """
        )
    finally:
        con.close()
    # UTC+14 for the dbt process: a session time zone leak would move every day. Unit tests ran above.
    dbt_env["run"](
        "build", "--exclude-resource-type", "unit_test", *EXCLUDE, warehouse=warehouse,
        extra_env={"TZ": "Pacific/Kiritimati"},
    )
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        daily = con.execute(
            "select cast(period_start as varchar), checkouts_started, checkouts_converted, first_orders, "
            "new_customer_checkouts_started, median_hours_to_convert from marts.kpi_daily order by period_start"
        ).fetchall()
        assert daily == [
            ("2026-02-28", 1, 1, 0, 1, 71 / 60),
            ("2026-03-01", 0, 0, 1, 0, None),
            ("2026-03-02", 1, 0, 0, 1, None),
        ]
        as_of = con.execute(
            "select cast(as_of as varchar), conversion_window_days from marts.warehouse_as_of"
        )
        assert as_of.fetchall() == [("2026-03-05 12:00:00", 30)]
        monthly = con.execute(
            "select cast(period_start as varchar), checkouts_started from marts.kpi_monthly order by 1"
        ).fetchall()
        assert monthly == [("2026-02-01", 1), ("2026-03-01", 1)]
    finally:
        con.close()


def test_the_project_at_another_location_loads_its_own_seeds(tmp_path):
    """dbt's partial-parse cache lives beside the warehouse (dbt_target_path), not in the project, and
    holds the seed files' absolute paths. The project moved to another folder (or another clone on
    the same warehouse) parses again instead of loading the seeds from the old folder."""
    warehouse = tmp_path / "w.duckdb"
    target = dbt_target_path(warehouse)

    def load_seed(project: Path) -> subprocess.CompletedProcess:
        env = {**os.environ, **Settings(warehouse=warehouse).dbt_env(), "FUNNEL_DBT_PROJECT_DIR": str(project),
               "DBT_PROFILES_DIR": str(project)}
        return subprocess.run(
            [str(DBT), "seed", "--select", "kpi_targets", "--target-path", str(target), "--log-path", str(target)],
            cwd=project, env=env, capture_output=True, text=True, timeout=300, check=False,
        )

    first, moved = tmp_path / "first", tmp_path / "moved"
    shutil.copytree(DBT_DIR, first, ignore=shutil.ignore_patterns("target", "logs"))
    assert load_seed(first).returncode == 0
    first.rename(moved)
    proc = load_seed(moved)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "Unable to do partial parsing because env vars used in dbt_project.yml have changed" in proc.stdout
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select count(*) from marts.kpi_targets").fetchone()[0] > 0
