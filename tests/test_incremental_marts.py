"""Incremental models give exactly the tables of a fresh build (macros/incremental.sql).

The conformance kit is loaded in one run (a copy of the session's warehouse); a second run brings late
data that exercises every path of the incremental models: a cancellation that leaves a customer
without a placed order (the customer's row must disappear), a cancellation that makes another order
the customer's first, an order moved to another customer, an earlier checkout_started that moves a
checkout to another cohort day with other attributes and out of its conversion window, a checkout
entering the funnel late, a new payment_failed event (changes the drop-off marts but no column of
fct_checkouts), one between a checkout's new and old start, and a new day. Every table of the
`intermediate` and `marts` schemas must then equal, row for row, the tables of a single run over the
same files (watermark columns aside). The same two loads on PostgreSQL (marked `engines`): the
incremental build equals a --full-refresh build there.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import duckdb
import pytest

from pipelines import publish
from pipelines.assets.dbt import PROJECT_ONLY
from pipelines.core.settings import Settings, dbt_target_path
from pipelines.run import run_pipeline
from tests.conftest import CLEAN_LANDING, copy_warehouse

WATERMARK_COLUMNS = {"_inputs_loaded_at"}

ORDER_HEADER = (
    "order_id,customer_id,checkout_id,created_at,updated_at,channel,order_type,status,plan,deployment,"
    "seats,amount,currency,manual_intervention,intervention_reason"
)
LATE_ORDERS = [
    # c03's only placed order is cancelled: c03 has no first order any more, k03 no longer converts.
    "o03,c03,k03,2026-03-03T12:41:00+02:00,2026-03-20T10:00:00Z,web_direct,new_subscription,cancelled,premium,saas,5,1740.0,USD,false,",
    # c10's first order (a sales order) is cancelled: o10b becomes the first, k10 a new-customer checkout.
    "o10a,c10,,2026-01-15T12:00:00Z,2026-03-21T10:00:00Z,sales_assisted,new_subscription,cancelled,premium,saas,5,1740.0,USD,false,",
    # c23's first order now belongs to c24: o23b becomes c23's first, o23a c24's first.
    "o23a,c24,k23a,2026-03-18 10:41:00,2026-03-22T10:00:00Z,web_direct,new_subscription,completed,premium,saas,5,1740.0,USD,false,",
    # A new day: k90 converts, with a manual intervention.
    "o90,c90,k90,2026-03-26T10:19:00Z,2026-03-26T10:19:00Z,web_direct,new_subscription,completed,premium,saas,5,1740.0,USD,true,tax_exemption",
]


def _event(event_id: str, name: str, time: str, checkout: str, customer: str, **extra) -> str:
    import json

    return json.dumps({"event_id": event_id, "event_name": name, "event_time": time, "checkout_id": checkout,
                       "customer_id": customer, **extra})


START = {"plan": "premium", "deployment": "saas", "seats": 5, "country": "FR", "device": "desktop"}
LATE_EVENTS = [
    # k06 started on 03-04 10:00; an earlier start on 03-03 with other attributes moves it to another
    # cohort day and dashboard group, and its order (04-03 10:00:01) falls outside the new window.
    _event("lt01", "checkout_started", "2026-03-03T22:00:00Z", "k06", "c06",
           plan="ultimate", deployment="self_managed", seats=3, country="US", device="mobile"),
    # A payment failure for k02: the drop-off marts change, fct_checkouts does not.
    _event("lt02", "payment_failed", "2026-03-02T11:30:00Z", "k02", "c02", error_code="card_declined"),
    # A failure of k06 after its new start and before its old one: it counts from the new start on.
    _event("lt04", "payment_failed", "2026-03-03T23:00:00Z", "k06", "c06", error_code="3ds_failed"),
    # k11 had steps but no start: it enters the funnel.
    _event("lt03", "checkout_started", "2026-03-06T10:50:00Z", "k11", "c11", **{**START, "device": "tablet"}),
    # A new day.
    _event("lt10", "checkout_started", "2026-03-26T10:00:00Z", "k90", "c90", **START),
    _event("lt11", "subscription_details_completed", "2026-03-26T10:05:00Z", "k90", "c90"),
    _event("lt12", "billing_address_completed", "2026-03-26T10:10:00Z", "k90", "c90"),
    _event("lt13", "payment_method_completed", "2026-03-26T10:15:00Z", "k90", "c90"),
    _event("lt14", "order_submitted", "2026-03-26T10:20:00Z", "k90", "c90"),
]


def _write_late_files(landing: Path) -> None:
    (landing / "orders" / "orders-9-late.csv").write_text("\n".join([ORDER_HEADER, *LATE_ORDERS]) + "\n")
    (landing / "checkout_events" / "events-9-late.jsonl").write_text("\n".join(LATE_EVENTS) + "\n")


def _tables(con: duckdb.DuckDBPyConnection, catalog: str) -> list[tuple[str, str]]:
    return con.execute(
        "SELECT table_schema, table_name FROM information_schema.tables "
        "WHERE table_catalog = ? AND table_schema IN ('intermediate', 'marts') ORDER BY ALL",
        [catalog],
    ).fetchall()


def _columns(con: duckdb.DuckDBPyConnection, catalog: str, schema: str, table: str) -> list[str]:
    rows = con.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_catalog = ? AND table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [catalog, schema, table],
    ).fetchall()
    return [r[0] for r in rows]


def _differences(incremental: Path, fresh: Path, minimum_tables: int = 17) -> dict[str, str]:
    """Every intermediate and mart table compared as multisets of rows (EXCEPT ALL both ways)."""
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH '{incremental}' AS inc (READ_ONLY)")
        con.execute(f"ATTACH '{fresh}' AS fresh (READ_ONLY)")
        tables = _tables(con, "inc")
        assert tables == _tables(con, "fresh")
        assert len(tables) >= minimum_tables, tables
        differences = {}
        for schema, table in tables:
            columns = _columns(con, "inc", schema, table)
            assert columns == _columns(con, "fresh", schema, table), table
            kept = ", ".join(f'"{c}"' for c in columns if c not in WATERMARK_COLUMNS)
            a, b = f'inc.{schema}."{table}"', f'fresh.{schema}."{table}"'
            only_inc = con.execute(f"SELECT {kept} FROM {a} EXCEPT ALL SELECT {kept} FROM {b}").fetchall()
            only_fresh = con.execute(f"SELECT {kept} FROM {b} EXCEPT ALL SELECT {kept} FROM {a}").fetchall()
            if only_inc or only_fresh:
                differences[f"{schema}.{table}"] = f"only incremental: {only_inc[:5]}; only fresh: {only_fresh[:5]}"
        return differences
    finally:
        con.close()


def _query(warehouse: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _first_run(tmp_path: Path, built) -> Settings:
    """The first run, over the kit alone: a copy of the session's conformance warehouse (and its
    published copy), with the kit's files in a landing directory of the test's own. A run on the copy
    finds it up to date (well under a second), unless the dbt project changed since the session's
    build: then it rebuilds in full, so the second run starts from this project's build either way."""
    landing = tmp_path / "landing"
    shutil.copytree(CLEAN_LANDING, landing)
    settings = Settings.from_env(landing, copy_warehouse(built, tmp_path / "incremental" / "warehouse.duckdb",
                                                         published=True))
    run_pipeline(settings)
    return settings


def test_two_runs_with_late_changes_equal_a_fresh_build(tmp_path, monkeypatch, conformance_warehouse):
    settings = _first_run(tmp_path, conformance_warehouse)
    landing = settings.landing_dir
    before = dict(_query(settings.warehouse, "SELECT customer_id, first_order_id FROM intermediate.int_customers_first_ordered"))
    assert before["c03"] == "o03" and before["c10"] == "o10a" and before["c23"] == "o23a" and "c24" not in before

    _write_late_files(landing)
    replaced = {}
    update_in_place = publish._update_in_place

    def recording(con, schema, table, key, update):
        replaced[f"{schema}.{table}"] = update_in_place(con, schema, table, key, update)
        return replaced[f"{schema}.{table}"]

    monkeypatch.setattr(publish, "_update_in_place", recording)
    # The kit is small: its late data rewrites more than the share above which a whole copy is cheaper.
    monkeypatch.setattr(publish, "WHOLE_COPY_SHARE", 1.0)
    outcome = run_pipeline(settings)
    assert "nothing rebuilt" not in outcome.report
    # The incremental build left what follows from the project alone (seeds, time spine, staging views) and its
    # tests as the first run built them; the equalities below include those tables, copy and all.
    target = dbt_target_path(settings.warehouse)
    nodes = json.loads((target / "manifest.json").read_text())["nodes"]
    project_only = {uid for uid, node in nodes.items() if PROJECT_ONLY in node["tags"]}
    results = json.loads((target / "run_results.json").read_text())["results"]
    ran = {result["unique_id"] for result in results}
    on_project_only = {uid for uid in ran if uid.startswith("test.") and set(nodes[uid]["depends_on"]["nodes"]) <= project_only}
    assert len(project_only) == 6 and ran & project_only == set() and on_project_only == set()
    assert len(ran) > 40
    # Each incremental model compared its inputs' load stamps with its watermark as a literal (zone maps),
    # not with a scalar subquery over its own table (macros/incremental.sql, watermark).
    incremental = {r["unique_id"]: r["compiled_code"] for r in results
                   if nodes[r["unique_id"]]["config"].get("materialized") == "incremental"}
    assert len(incremental) == 8
    assert [uid for uid, sql in incremental.items() if "coalesce(max(_inputs_loaded_at)" in sql] == []

    fresh = Settings.from_env(landing, tmp_path / "fresh" / "warehouse.duckdb")
    run_pipeline(fresh)
    assert _differences(settings.warehouse, fresh.warehouse) == {}
    # The second run brought the first run's published copy up to date, replacing only the rewritten
    # rows of the facts (pipelines/publish.py), and that copy equals the one a single run published.
    assert set(replaced) == {"marts.fct_orders", "marts.fct_checkouts", "marts.dash_checkout_steps"}, replaced
    assert all(replaced.values()), replaced
    assert _differences(settings.published, fresh.published, minimum_tables=14) == {}
    # dash_checkout_steps' rewritten checkouts were appended ordered by cohort day (the dashboard's
    # date pruning), in the warehouse and, after the rows the copy kept, in the published copy.
    steps = "SELECT checkout_id, cohort_date FROM marts.dash_checkout_steps"
    batch = _query(settings.warehouse, f"{steps} WHERE _inputs_loaded_at = "
                                       "(SELECT max(_inputs_loaded_at) FROM marts.dash_checkout_steps)")
    days = [day for _, day in batch]
    assert len(batch) == replaced["marts.dash_checkout_steps"] and len(set(days)) > 2 and days == sorted(days), batch
    assert _query(settings.published, steps)[-len(batch):] == batch

    # The late data did change what it should (so the equality above means something) ...
    first = dict(_query(settings.warehouse, "SELECT customer_id, first_order_id FROM intermediate.int_customers_first_ordered"))
    assert "c03" not in first
    assert first["c10"] == "o10b" and first["c23"] == "o23b" and first["c24"] == "o23a" and first["c90"] == "o90"
    checkouts = {
        r[0]: r[1:]
        for r in _query(settings.warehouse, "SELECT checkout_id, cast(started_at AS VARCHAR), plan, converted, is_new_customer "
                                            "FROM marts.fct_checkouts")
    }
    assert checkouts["k06"][:3] == ("2026-03-03 22:00:00", "ultimate", False)
    k06 = "SELECT cast(cohort_date AS VARCHAR), plan, device FROM marts.dash_checkout_steps WHERE checkout_id = 'k06'"
    assert _query(settings.published, k06) == [("2026-03-03", "ultimate", "mobile")]
    assert checkouts["k03"][2] is False and checkouts["k10"][3] is True and checkouts["k90"][2] is True
    assert "k11" in checkouts
    failures = _query(settings.warehouse, "SELECT checkouts, failures FROM marts.dash_payment_failures "
                                          "WHERE cohort_date = DATE '2026-03-02' AND error_code = 'card_declined'")
    assert failures == [(1, 1)]
    assert _query(settings.warehouse, "SELECT error_code, failures FROM intermediate.int_payment_failures_counted "
                                      "WHERE checkout_id = 'k06'") == [("3ds_failed", 1)]
    # ... and the second run was incremental: rows it did not need to touch kept their older watermark.
    for table in ("intermediate.int_orders_current", "intermediate.int_customers_first_ordered", "marts.fct_orders",
                  "marts.fct_checkouts", "marts.dash_checkout_steps", "intermediate.int_payment_failures_counted"):
        (stamps,) = _query(settings.warehouse, f"SELECT count(DISTINCT _inputs_loaded_at) FROM {table}")[0]
        assert stamps == 2, table


def _postgres_tables() -> dict[str, list[str]]:
    """Every intermediate and mart table on the PostgreSQL target, rows as sorted text (watermarks aside)."""
    from pipelines.engines.postgres import connect

    tables = {}
    with connect(readonly=True) as con, con.cursor() as cur:
        cur.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema IN ('intermediate', 'marts') ORDER BY 1, 2"
        )
        for schema, table in cur.fetchall():
            cur.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s "
                "ORDER BY ordinal_position",
                (schema, table),
            )
            columns = ", ".join(f'"{c}"' for (c,) in cur.fetchall() if c not in WATERMARK_COLUMNS)
            cur.execute(f'SELECT {columns} FROM {schema}."{table}"')
            tables[f"{schema}.{table}"] = sorted(map(repr, cur.fetchall()))
    return tables


@pytest.mark.engines
def test_postgres_incremental_build_equals_its_full_refresh(tmp_path, monkeypatch):
    """The same two loads on PostgreSQL (the incremental SQL runs there too, with delete+insert):
    the second, incremental build equals a --full-refresh build of the same rows."""
    import os

    from pipelines.engines.build import publish_raw, run_dbt
    from pipelines.engines.postgres import connect
    from tests.engines.servers import postgres_available, postgres_server

    missing = postgres_available()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"the engine tests cannot run here: {missing}")
        pytest.skip(missing)
    landing = tmp_path / "landing"
    shutil.copytree(CLEAN_LANDING, landing)
    settings = Settings.from_env(landing, tmp_path / "warehouse.duckdb")
    run_pipeline(settings)
    with postgres_server() as pg:
        for name, value in pg.items():
            monkeypatch.setenv(name, value)

        def build(*extra: str) -> None:
            publish_raw("postgres", settings)
            outcome = run_dbt(["build", *extra, "--exclude", "test_type:unit"], "postgres", settings)
            assert outcome.success, outcome.output[-3000:]

        build()
        _write_late_files(landing)
        run_pipeline(settings)  # DuckDB validates and loads the late rows; PostgreSQL gets only those
        build()
        incremental = _postgres_tables()
        with connect(readonly=True) as con, con.cursor() as cur:
            cur.execute("SELECT count(DISTINCT _inputs_loaded_at) FROM marts.fct_orders")
            assert cur.fetchone()[0] == 2  # the second build was incremental
        build("--full-refresh")
        assert incremental == _postgres_tables()


def test_an_order_moved_to_another_customer_recomputes_the_old_customers_checkouts(tmp_path, monkeypatch,
                                                                                  conformance_warehouse):
    """c01's only placed order o01 moves to c02 in a later run: c01's later checkout k19 becomes a
    new-customer checkout, which only a rebuild of the old customer's checkouts finds."""
    monkeypatch.setattr(sys.modules[__name__], "LATE_ORDERS", [
        (
            "o01,c02,k01,2026-03-02T10:41:00Z,2026-03-23T10:00:00Z,web_direct,new_subscription,completed,premium,saas,"
            "5,1740.0,USD,false,"
        ),
    ])
    monkeypatch.setattr(sys.modules[__name__], "LATE_EVENTS", [
        _event("lt10", "checkout_started", "2026-03-26T10:00:00Z", "k90", "c90", **START)
    ])
    settings = _first_run(tmp_path, conformance_warehouse)
    landing = settings.landing_dir
    k19 = "SELECT is_new_customer FROM marts.fct_checkouts WHERE checkout_id = 'k19'"
    assert _query(settings.warehouse, k19) == [(False,)]
    _write_late_files(landing)
    run_pipeline(settings)
    assert _query(settings.warehouse, k19) == [(True,)]
    fresh = Settings.from_env(landing, tmp_path / "fresh" / "warehouse.duckdb")
    run_pipeline(fresh)
    assert _differences(settings.warehouse, fresh.warehouse) == {}
    assert _differences(settings.published, fresh.published, minimum_tables=14) == {}


def test_a_late_step_of_an_old_checkout_is_read_from_its_stored_start(tmp_path, monkeypatch, conformance_warehouse):
    """k17 (started 2026-02-28 23:30 UTC, step 1 only) gets its step 2 in a later run that also
    starts a new day: the build reads the events of the checkouts with new events from the earliest
    of their t1 (k17's stored start), not from the new checkout_started events (03-26), so k17's
    start is read and it reaches step 2."""
    new_day_order = LATE_ORDERS[-1]
    monkeypatch.setattr(sys.modules[__name__], "LATE_ORDERS", [new_day_order])
    monkeypatch.setattr(sys.modules[__name__], "LATE_EVENTS", [
        _event("lt20", "subscription_details_completed", "2026-02-28T23:45:00Z", "k17", "c17"),
        _event("lt10", "checkout_started", "2026-03-26T10:00:00Z", "k90", "c90", **START),
    ])
    settings = _first_run(tmp_path, conformance_warehouse)
    landing = settings.landing_dir
    k17 = "SELECT cast(started_at AS VARCHAR), reached_step FROM marts.fct_checkouts WHERE checkout_id = 'k17'"
    assert _query(settings.warehouse, k17) == [("2026-02-28 23:30:00", 1)]
    _write_late_files(landing)
    run_pipeline(settings)
    assert _query(settings.warehouse, k17) == [("2026-02-28 23:30:00", 2)]
    fresh = Settings.from_env(landing, tmp_path / "fresh" / "warehouse.duckdb")
    run_pipeline(fresh)
    assert _differences(settings.warehouse, fresh.warehouse) == {}


def test_what_follows_from_the_project_is_built_when_picked(tmp_path, conformance_warehouse):
    """A daily run leaves the seeds, the time spine and the staging views as they are; assets picked
    in the Dagster UI are built as picked, a seed among them, in an incremental build too."""
    import dagster as dg

    from pipelines.assets.raw import ingest_landing_asset
    from pipelines.definitions import build_definitions

    settings = _first_run(tmp_path, conformance_warehouse)
    _write_late_files(settings.landing_dir)
    job = build_definitions(settings).resolve_job_def("funnel_pipeline")
    seed, view = dg.AssetKey(["marts", "kpi_targets"]), dg.AssetKey(["staging", "stg_orders"])
    assert job.execute_in_process(asset_selection=list(ingest_landing_asset.keys)).success  # new files loaded
    result = job.execute_in_process(asset_selection=[seed, view])
    assert result.success
    built = {m.asset_key for m in result.get_asset_materialization_events()}
    assert built == {seed, view}
    ran = json.loads((dbt_target_path(settings.warehouse) / "run_results.json").read_text())["results"]
    assert {r["unique_id"] for r in ran if r["unique_id"].startswith("seed.")} == {"seed.checkout_funnel.kpi_targets"}

