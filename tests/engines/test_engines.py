"""The same dbt models on PostgreSQL and Spark give the same public tables as DuckDB.

Two data sets, the conformance kit and a generated one, each validated and built on DuckDB by
`funnel run` (the reference), then built on a real PostgreSQL server (started here, on 127.0.0.1)
and on a local Spark (session method, Derby metastore, plain Parquet tables, all in temporary
folders), and compared table by table: every value exactly, floats to 1e-9.

- conformance kit: `funnel run --target postgres` and `--target spark` (Dagster, dbt as a child
  process, every model, seed, data test and unit test), then `funnel sql` on each target;
- generated data: raw rows published to each engine and `dbt build` there (Spark in this process,
  reusing one SparkSession; unit tests are skipped, they do not depend on the data);
- one more day (a generated history, then the next day): the run sends only the new rows to each
  engine and builds incrementally there (PostgreSQL: `funnel run --target postgres`; Spark: the
  export and dbt in this process), and the tables equal DuckDB's and the engine's own full rebuild
  (a full export and `--full-refresh`), build watermarks aside;
- every portability macro against known values on all three targets.

Marked `engines` (slow): `pytest -m 'not engines'` skips them locally; CI always runs them, and fails
instead of skipping when PostgreSQL or Java is missing.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import date, datetime
from pathlib import Path

import pytest

from benchmarks.landing import link_landing
from pipelines import cli
from pipelines.core.settings import DBT_PROJECT_DIR, Settings, dbt_target_path
from pipelines.engines.build import publish_raw, run_dbt
from pipelines.engines.compare import (
    PUBLIC_TABLES,
    compare_public_tables,
    compare_tables,
    fetch_table,
    without_watermarks,
)
from pipelines.engines.postgres import INDEXED_COLUMNS
from pipelines.engines.postgres import connect as pg_connect
from pipelines.engines.run import run_on_target
from pipelines.run import run_pipeline
from tests.conftest import CLEAN_LANDING
from tests.engines.servers import postgres_available, postgres_server
from tools.generate import generate_landing

pytestmark = pytest.mark.engines

DATASETS = ("conformance", "generated")
TARGETS = ("postgres", "spark")


def _unavailable() -> str | None:
    return postgres_available() or (None if shutil.which("java") else "no java")


@pytest.fixture(scope="module")
def engines(tmp_path_factory):
    """Everything, once, in order (a Spark metastore serves one process at a time): returns
    {(dataset, target): {table: differences}} and the settings of each data set."""
    missing = _unavailable()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"the engine tests cannot run here: {missing}")
        pytest.skip(missing)
    root = tmp_path_factory.mktemp("engines")
    spark_dir = root / "spark"
    with postgres_server() as pg, pytest.MonkeyPatch.context() as env:
        for name, value in pg.items():
            env.setenv(name, value)
        # One Spark warehouse and metastore for the module: the in-process session reads both data sets.
        env.setenv("FUNNEL_SPARK_WAREHOUSE_DIR", str(spark_dir / "warehouse"))
        env.setenv("FUNNEL_SPARK_METASTORE_DIR", str(spark_dir))
        env.delenv("FUNNEL_TARGET", raising=False)
        env.delenv("FUNNEL_RAW_PARQUET_DIR", raising=False)
        try:
            yield _run_everything(root)
        finally:
            from pipelines.engines.spark import stop_spark

            stop_spark()


def _run_everything(root: Path) -> dict:
    settings = {}
    generated = root / "generated-landing"
    generate_landing(generated, days=21, checkouts_per_day=60, seed=11, end_date=date(2026, 3, 31), history_days=30)
    for dataset, landing in (("conformance", CLEAN_LANDING), ("generated", generated)):
        settings[dataset] = Settings.from_env(landing, root / dataset / "warehouse.duckdb")
        run_pipeline(settings[dataset])  # the DuckDB reference, validated and built as always

    results, outputs = {}, {}
    conformance = settings["conformance"]
    # `funnel run --target T`: Dagster, ingestion on DuckDB (nothing new here), publish, dbt build on T.
    for target in TARGETS:
        code = cli.main(["run", "--landing", str(conformance.landing_dir), "--warehouse",
                         str(conformance.warehouse), "--target", target])
        assert code == 0, f"funnel run --target {target} failed"
        results[("conformance", target)] = compare_public_tables("duckdb", target, conformance)
    # An analyst's query on each target (Spark: in this process, through the session made above).
    for target in ("duckdb", *TARGETS):
        outputs[target] = _funnel_sql(conformance, target)

    data = settings["generated"]
    for target in TARGETS:
        publish_raw(target, data)
        # --full-refresh: the engine's incremental tables hold the conformance kit's checkouts.
        outcome = run_dbt(
            ["build", "--full-refresh", "--exclude", "test_type:unit"], target, data, in_process=(target == "spark")
        )
        assert outcome.success, f"dbt build --target {target} failed: {outcome.output[-3000:]}"
        results[("generated", target)] = compare_public_tables("duckdb", target, data)
    return {"results": results, "settings": settings, "sql": outputs, "one_more_day": _one_more_day(root)}


def _public_tables(target: str, settings: Settings) -> dict[str, tuple[list[str], list[tuple]]]:
    return {t: without_watermarks(fetch_table(target, settings, t)) for t in PUBLIC_TABLES}


def _differences(expected: dict, actual: dict) -> dict[str, list[str]]:
    return {t: d for t in PUBLIC_TABLES if (d := compare_tables(expected[t], actual[t]))}


def _published_rows(report: str, target: str) -> dict[str, int]:
    """{table: rows} of the run report's `published to <target>: <table> (<n> rows)` lines."""
    prefix = f"published to {target}: "
    return {
        line[len(prefix):].split(" (")[0]: int(line.split(" (")[1].split()[0])
        for line in report.splitlines() if line.startswith(prefix)
    }


def _one_more_day(root: Path) -> dict:
    """Days 1..N built on each engine, then day N+1: what travelled, and how the tables compare."""
    history, plus1 = root / "history-landing", root / "history-plus1-landing"
    generate_landing(history, days=14, checkouts_per_day=50, seed=23, end_date=date(2026, 3, 20), history_days=30)
    link_landing(history, plus1)
    generate_landing(plus1, days=1, checkouts_per_day=50, seed=23, end_date=date(2026, 3, 21), id_prefix="b")
    warehouse = root / "one-more-day" / "warehouse.duckdb"
    before, after = Settings.from_env(history, warehouse), Settings.from_env(plus1, warehouse)

    def build_spark(settings: Settings, *extra: str) -> None:
        outcome = run_dbt(["build", *extra, "--exclude", "test_type:unit"], "spark", settings, in_process=True)
        assert outcome.success, f"dbt build --target spark failed: {outcome.output[-3000:]}"

    run_pipeline(before)
    run_on_target(before, "postgres")
    publish_raw("spark", before)  # no Spark build here: every model there is a table, rebuilt whole

    run_pipeline(after)  # DuckDB validates and loads day N+1
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as con:
        new_rows = {
            table: con.execute(f"SELECT count(*) FROM {table} WHERE _loaded_at = (SELECT max(_loaded_at) FROM {table})")
            .fetchone()[0]
            for table in ("raw.checkout_events", "raw.orders")
        }
    project_runs = set((DBT_PROJECT_DIR / "target").glob("*"))
    sent = {"postgres": _published_rows(run_on_target(after, "postgres").report, "postgres")}
    parse = {
        "new_folders_in_the_project": sorted(set((DBT_PROJECT_DIR / "target").glob("*")) - project_runs),
        "skipped": (dbt_target_path(warehouse, "postgres") / "dbt.log").read_text().count('"PartialParsingSkipParsing"'),
    }
    with pg_connect() as pg, pg.cursor() as cur:
        cur.execute(
            "SELECT t.relname, a.attname FROM pg_index AS i JOIN pg_class AS t ON t.oid = i.indrelid "
            "JOIN pg_namespace AS n ON n.oid = t.relnamespace "
            "JOIN pg_attribute AS a ON a.attrelid = t.oid AND a.attnum = ANY(i.indkey) WHERE n.nspname = 'raw'"
        )
        raw_indexes = sorted(cur.fetchall())
    published = publish_raw("spark", after)
    assert not published.replaced, published.reason
    sent["spark"] = published.rows
    build_spark(after)

    duckdb_tables = _public_tables("duckdb", after)
    outcome = {"new_rows": new_rows, "sent": sent, "vs_duckdb": {}, "vs_full_rebuild": {}, "watermarks": {},
               "parse": parse, "raw_indexes": raw_indexes}
    for target in TARGETS:
        incremental = _public_tables(target, after)
        outcome["vs_duckdb"][target] = _differences(duckdb_tables, incremental)
        columns, rows = fetch_table(target, after, "fct_orders")
        outcome["watermarks"][target] = len({row[columns.index("_inputs_loaded_at")] for row in rows})
        full = publish_raw(target, after, full=True)
        assert full.replaced and full.rows["raw.checkout_events"] > new_rows["raw.checkout_events"]
        if target == "spark":
            build_spark(after, "--full-refresh")
        else:
            rebuilt = run_dbt(["build", "--full-refresh", "--exclude", "test_type:unit"], target, after)
            assert rebuilt.success, rebuilt.output[-3000:]
        outcome["vs_full_rebuild"][target] = _differences(_public_tables(target, after), incremental)
    return outcome


def _funnel_sql(settings: Settings, target: str) -> list[dict]:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli.main([
            "sql", "--target", target, "--warehouse", str(settings.warehouse), "--format", "json",
            (
                "SELECT period_start, checkouts_started, checkout_conversion_rate FROM marts.kpi_weekly "
                "ORDER BY period_start"
            ),
        ])
    assert code == 0
    return json.loads(out.getvalue())


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("target", TARGETS)
def test_public_tables_equal_duckdb(engines, dataset, target):
    differences = engines["results"][(dataset, target)]
    assert set(differences) == set(PUBLIC_TABLES)
    assert {t: d for t, d in differences.items() if d} == {}


@pytest.mark.parametrize("target", TARGETS)
def test_one_more_day_sends_only_the_new_rows(engines, target):
    outcome = engines["one_more_day"]
    new_rows = outcome["new_rows"]
    assert new_rows["raw.checkout_events"] > 50 and new_rows["raw.orders"] > 5
    sent = outcome["sent"][target]
    assert {t: sent[t] for t in new_rows} == new_rows


@pytest.mark.parametrize("target", TARGETS)
def test_one_more_day_equals_duckdb_and_a_full_rebuild(engines, target):
    outcome = engines["one_more_day"]
    assert outcome["vs_duckdb"][target] == {}
    assert outcome["vs_full_rebuild"][target] == {}


def test_one_more_day_builds_incrementally_on_postgres(engines):
    # Rows of fct_orders the new day did not touch keep the first build's watermark; a rebuild of
    # everything would have stamped every row with the second's.
    assert engines["one_more_day"]["watermarks"]["postgres"] == 2


def test_a_run_on_postgres_keeps_dbt_s_parse_beside_the_warehouse(engines):
    # The second run reads the partial-parse cache the first left in <stem>.dbt-target-postgres/
    # instead of parsing the project again, and leaves no folder of its own in the dbt project.
    parse = engines["one_more_day"]["parse"]
    assert parse["new_folders_in_the_project"] == [] and parse["skipped"] == 1, parse


def test_postgres_indexes_what_the_incremental_models_look_raw_rows_up_by(engines):
    # No zone maps on PostgreSQL: without these indexes every lookup of a build reads the whole table.
    expected = sorted((table, column) for table, columns in INDEXED_COLUMNS.items() for column in columns)
    assert engines["one_more_day"]["raw_indexes"] == expected


def test_generated_data_is_not_trivial(engines):
    columns, rows = fetch_table("duckdb", engines["settings"]["generated"], "kpi_daily")
    converted = columns.index("checkouts_converted")
    assert len(rows) >= 21 and sum(r[converted] for r in rows) > 50


def test_funnel_sql_gives_the_same_rows_on_every_target(engines):
    outputs = engines["sql"]
    assert outputs["duckdb"], "no weekly rows"
    for target in TARGETS:
        assert len(outputs[target]) == len(outputs["duckdb"])
        for expected, found in zip(outputs["duckdb"], outputs[target], strict=True):
            assert found["period_start"] == expected["period_start"]
            assert found["checkouts_started"] == expected["checkouts_started"]
            if expected["checkout_conversion_rate"] is None:
                assert found["checkout_conversion_rate"] is None
            else:
                assert found["checkout_conversion_rate"] == pytest.approx(expected["checkout_conversion_rate"], abs=1e-9)


@pytest.mark.parametrize("target", ("duckdb", *TARGETS))
@pytest.mark.parametrize(
    "statement",
    ["DROP TABLE marts.kpi_weekly", "CREATE TABLE marts.x AS SELECT 1 AS a", "INSERT INTO marts.kpi_targets SELECT * FROM marts.kpi_targets"],
)
def test_funnel_sql_refuses_writes(engines, target, statement, capsys):
    settings = engines["settings"]["conformance"]
    assert cli.main(["sql", "--target", target, "--warehouse", str(settings.warehouse), statement]) == 1
    assert "refused" in capsys.readouterr().err
    _, rows = fetch_table(target, settings, "kpi_weekly")
    assert rows


# Every portability macro, against known values, on every target.
MACRO_QUERY = """
{%- set ts = "cast('2026-03-01 10:00:00.5' as " ~ dbt.type_timestamp() ~ ")" -%}
{%- set ids = "(select 'a1' as id union all select 'a-2' as id union all select 'B7' as id)" -%}
{%- set nums = "(select 1.0 as x union all select 2.0 as x union all select 4.0 as x union all select 10.0 as x)" -%}
{#- time_list with a FILTER: the times 10:00, 13:00 and 14:00 of 2026-03-01 (12:00 is filtered out) -#}
{%- set times -%}
(select {{ checkout_funnel.time_list('v.t') }} filter (where v.keep = 1) as times from (
    {%- for hhmm, keep in [('10:00', 1), ('12:00', 0), ('13:00', 1), ('14:00', 1)] %}
    select cast('2026-03-01 {{ hhmm }}:00' as {{ dbt.type_timestamp() }}) as t, {{ keep }} as keep{{ ' union all' if not loop.last }}
    {%- endfor %}) as v)
{%- endset -%}
select
    {{ checkout_funnel.epoch_seconds(ts) }} as epoch,
    {{ checkout_funnel.hours_between("cast('2026-03-01 10:00:00' as " ~ dbt.type_timestamp() ~ ")",
                                     "cast('2026-03-02 11:30:00' as " ~ dbt.type_timestamp() ~ ")") }} as hours,
    {{ checkout_funnel.epoch_seconds(checkout_funnel.add_interval('day', 30, ts)) }} as plus_30_days_epoch,
    {{ checkout_funnel.epoch_seconds(window_end(ts)) }} as window_end_epoch,
    cast(cast({{ checkout_funnel.add_interval('month', 1, "cast('2026-01-31' as date)") }} as date) as {{ dbt.type_string() }}) as plus_month,
    cast(cast({{ checkout_funnel.add_interval('week', 1, "cast('2026-03-02' as date)") }} as date) as {{ dbt.type_string() }}) as plus_week,
    cast({{ period_start_of('week', "cast('2026-03-08 23:59:59' as " ~ dbt.type_timestamp() ~ ")") }} as {{ dbt.type_string() }}) as week_of_sunday,
    {{ checkout_funnel.safe_rate('1', '0') }} as rate_null,
    {{ checkout_funnel.safe_rate('1', '4') }} as rate,
    (select {{ checkout_funnel.exact_median('x') }} from {{ nums }} as n) as median_even,
    (select {{ checkout_funnel.exact_median('x') }} from {{ nums }} as n where x < 5) as median_odd,
    (select max(case when rn = 1 then id end) from (
        select id, row_number() over (order by {{ checkout_funnel.byte_order('id') }}) as rn from {{ ids }} as i) as r) as first_id,
    (select max(case when rn = 2 then id end) from (
        select id, row_number() over (order by {{ checkout_funnel.byte_order('id') }}) as rn from {{ ids }} as i) as r) as second_id,
    (select count(*) from ({{ checkout_funnel.period_series('week',
        "(select cast('2026-01-05' as date) as lo, cast('2026-02-02' as date) as hi)", 'lo', 'hi') }}) as s) as weeks,
    (select count(*) from ({{ checkout_funnel.period_series('month',
        "(select cast('2026-01-01' as date) as lo, cast('2026-03-01' as date) as hi)", 'lo', 'hi') }}) as s) as months,
    (select count(*) from ({{ checkout_funnel.period_series('day',
        "(select cast(null as date) as lo, cast(null as date) as hi)", 'lo', 'hi') }}) as s) as no_days,
    {%- set at = "cast('2026-03-01 %s' as " ~ dbt.type_timestamp() ~ ")" %}
    (select {{ checkout_funnel.epoch_seconds(checkout_funnel.earliest_between('times', at | format('11:00:00'), at | format('13:00:00'))) }}
        from {{ times }} as l) as earliest_in_range,
    (select {{ checkout_funnel.epoch_seconds(checkout_funnel.earliest_between('times', at | format('14:30:00'), at | format('15:00:00'))) }}
        from {{ times }} as l) as earliest_none_in_range,
    (select {{ checkout_funnel.epoch_seconds(checkout_funnel.earliest_between('times', 'cast(null as ' ~ dbt.type_timestamp() ~ ')', at | format('15:00:00'))) }}
        from {{ times }} as l) as earliest_null_bound
"""

MACRO_EXPECTED = {
    "epoch": 1772359200.5, "hours": 25.5, "plus_30_days_epoch": 1772359200.5 + 30 * 86400,
    "window_end_epoch": 1772359200.5 + 30 * 86400, "plus_month": "2026-02-28", "plus_week": "2026-03-09",
    "week_of_sunday": "2026-03-02", "rate_null": None, "rate": 0.25, "median_even": 3.0, "median_odd": 2.0,
    "first_id": "B7", "second_id": "a-2", "weeks": 5, "months": 3, "no_days": 0,
    # 13:00 (12:00 is filtered out of the list, 10:00 is before the range); nothing in range; a NULL bound
    "earliest_in_range": 1772359200 + 3 * 3600, "earliest_none_in_range": None, "earliest_null_bound": None,
}


@pytest.mark.parametrize("target", ("duckdb", *TARGETS))
def test_portability_macros(engines, target):
    from dbt.cli.main import dbtRunner

    from pipelines.core.settings import scoped_environ
    from pipelines.engines.build import target_env

    settings = engines["settings"]["conformance"]
    scratch = settings.warehouse.parent / f"macro-test-{target}"
    env = target_env(target, settings)
    if target == "duckdb":
        env["FUNNEL_WAREHOUSE"] = str(scratch / "scratch.duckdb")  # never the reference warehouse
        scratch.mkdir(exist_ok=True)
    with scoped_environ(env):
        result = dbtRunner().invoke([
            "show", "--inline", MACRO_QUERY, "--target", target, "--project-dir", str(DBT_PROJECT_DIR),
            "--profiles-dir", str(DBT_PROJECT_DIR), "--target-path", str(scratch / "target"),
            "--log-path", str(scratch / "logs"), "--quiet",
        ])
    assert result.success, result.exception
    table = result.result.results[0].agate_table
    row = dict(zip([c.lower() for c in table.column_names], table.rows[0], strict=True))
    for name, expected in MACRO_EXPECTED.items():
        found = row[name]
        if expected is None or isinstance(expected, str):
            assert (None if found is None else str(found)) == expected, (name, found)
        else:
            assert float(found) == pytest.approx(expected, abs=1e-9), (name, found)


def test_rows_of_a_build_that_did_not_succeed_on_postgres_are_rebuilt(engines):
    """As on DuckDB: a row stamped after the last successful build on PostgreSQL (here one forged into
    the first incremental table, as a failed build would have stamped it) makes the next dbt build a
    full refresh, while the export stays incremental."""
    from pipelines.dbt_build import WATERMARKED_TABLES
    from pipelines.engines import postgres
    from pipelines.engines.dagster import full_refresh_reason_on
    from pipelines.resources import WarehouseResource

    # _one_more_day's warehouse: PostgreSQL holds its build (then its own full rebuild) and nothing newer.
    warehouse = engines["settings"]["conformance"].warehouse.parents[1] / "one-more-day" / "warehouse.duckdb"
    resource = WarehouseResource(path=str(warehouse))
    window = engines["settings"]["conformance"].conversion_window_days  # the setting every build here used
    assert full_refresh_reason_on("postgres", resource, window) is None
    with postgres.connect() as pg, pg.cursor() as cur:
        cur.execute(WATERMARKED_TABLES)
        schema, table = cur.fetchall()[0]
        cur.execute(f'SELECT max(_inputs_loaded_at) FROM "{schema}"."{table}"')
        newest = cur.fetchone()[0]
        forged = f"UPDATE \"{schema}\".\"{table}\" SET _inputs_loaded_at = %s WHERE _inputs_loaded_at = %s"
        cur.execute(forged, [datetime(2099, 1, 1), newest])
        pg.commit()
        try:
            assert full_refresh_reason_on("postgres", resource, window).startswith(
                "a build on postgres since the last successful one did not succeed")
            assert full_refresh_reason_on("postgres", resource, window, unsucceeded_builds=False) is None
        finally:
            cur.execute(forged, [newest, datetime(2099, 1, 1)])
            pg.commit()
    assert full_refresh_reason_on("postgres", resource, window) is None


def test_postgres_sessions_run_in_utc_without_jit(engines):
    """dbt's sessions and the loader's (and `funnel sql`'s) run with SESSION_OPTIONS: with JIT, PostgreSQL
    compiled the incremental models' small queries for longer than it ran them (docs/engines.md)."""
    from dbt.cli.main import dbtRunner

    from pipelines.core.settings import scoped_environ
    from pipelines.engines import postgres
    from pipelines.engines.build import target_env

    settings = engines["settings"]["conformance"]
    scratch = settings.warehouse.parent / "session-test-postgres"
    query = "select current_setting('jit') as jit, current_setting('TimeZone') as time_zone"
    with scoped_environ(target_env("postgres", settings)):
        result = dbtRunner().invoke([
            "show", "--inline", query, "--target", "postgres", "--project-dir", str(DBT_PROJECT_DIR),
            "--profiles-dir", str(DBT_PROJECT_DIR), "--target-path", str(scratch / "target"),
            "--log-path", str(scratch / "logs"), "--quiet",
        ])
    assert result.success, result.exception
    assert tuple(result.result.results[0].agate_table.rows[0]) == ("off", "UTC")
    with postgres.connect() as pg, pg.cursor() as cur:
        cur.execute(query)
        assert cur.fetchone() == ("off", "UTC")
