"""The Dagster definitions for a target other than DuckDB ($FUNNEL_TARGET=postgres|spark).

The same graph as on DuckDB, with one step more:

  ingest_landing (DuckDB validates the landed files, as always)
    -> <target>/raw/*, <target>/audit/* (engine_raw: COPY into PostgreSQL, or Parquet for Spark;
       only the rows the engine lacks, everything when the models are rebuilt from scratch)
    -> every dbt model and seed, built on the target; every dbt test an asset check there.

The Great Expectations checks of the ingestion (raw tables, ledger) run on DuckDB as always. The GX
checks of the marts read DuckDB tables, so they are not part of a run on another engine: there the
dbt data tests (not null, unique, accepted values, ranges, row counts) are the checks, and the unit
tests run with every full build (the first one, and after any change of the dbt project or window).
`published_warehouse` (the DuckDB copy for the dashboard) is DuckDB only too.
"""


from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets

from pipelines import speedups
from pipelines.assets.dbt import (
    DBT_PROJECT,
    DbtRunConfig,
    FunnelDbtTranslator,
    builds_every_asset,
    dbt_build_args,
)
from pipelines.assets.raw import ingest_landing_asset
from pipelines.checks import ASSET_CHECKS
from pipelines.core.settings import Settings, dbt_target_path, scoped_environ
from pipelines.dbt_build import build_fingerprint, rows_built_since
from pipelines.engines import postgres, resolve_target
from pipelines.engines.build import publish_raw, target_env
from pipelines.engines.schema import SOURCE_TABLES
from pipelines.ingest.ledger import build_label, ensure_tables, last_successful_build
from pipelines.jobs import funnel_pipeline_job
from pipelines.resources import LandingResource, WarehouseResource
from pipelines.schedules import daily_funnel_schedule
from pipelines.sensors import new_landed_files_sensor

INGESTION_CHECKS = "ingest_landing_checks"


def engine_source_key(target: str, schema: str, table: str) -> dg.AssetKey:
    return dg.AssetKey([target, schema, table])


class EngineDbtTranslator(FunnelDbtTranslator):
    """Models keep their `<schema>/<model>` keys; sources are the raw tables on the target."""

    def __init__(self, target: str, **kwargs):
        super().__init__(**kwargs)
        self.target = target

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return engine_source_key(self.target, dbt_resource_props["source_name"], dbt_resource_props["name"])
        return super().get_asset_key(dbt_resource_props)


def _settings_of(warehouse: WarehouseResource, landing: LandingResource) -> Settings:
    """The settings in force (the FUNNEL_SPARK_* ones among them), with the resources' paths."""
    return warehouse.settings().with_(landing_dir=Path(landing.path))


def engine_raw_asset(target: str) -> dg.AssetsDefinition:
    @dg.multi_asset(
        name=f"publish_raw_to_{target}",
        group_name="ingestion",
        specs=[
            dg.AssetSpec(
                engine_source_key(target, t.schema, t.name),
                deps=[ingest_landing_asset],
                description=f"{t.qualified} on {target}: the validated rows of the DuckDB warehouse.",
            )
            for t in SOURCE_TABLES
        ],
    )
    def _publish(context: dg.AssetExecutionContext, warehouse: WarehouseResource, landing: LandingResource):
        settings = _settings_of(warehouse, landing)
        # Everything again when the models will be rebuilt from scratch too; else only the new rows.
        full = full_refresh_reason_on(target, warehouse, settings.conversion_window_days,
                                      unsucceeded_builds=False) is not None
        with warehouse.writer_lock(), warehouse.connect(read_only=True) as con:
            published = publish_raw(target, settings, con=con, full=full)
        context.log.info(f"publish to {target}: {published.reason}")
        for table in SOURCE_TABLES:
            yield dg.MaterializeResult(
                asset_key=engine_source_key(target, table.schema, table.name),
                metadata={"rows": published.rows.get(table.qualified, 0), "target": target,
                          "replaced": published.replaced},
            )

    return _publish


def full_refresh_reason_on(target: str, warehouse: WarehouseResource, conversion_window_days: int,
                           unsucceeded_builds: bool = True) -> str | None:
    """Why the build on `target` must rewrite every row, or None. Its incremental models were computed by
    other rules unless the last successful build there used this same dbt project and window
    (pipelines.engines.run records `<target>:<fingerprint>`). With `unsucceeded_builds`, on PostgreSQL
    as on DuckDB (pipelines.assets.dbt.full_refresh_reason), rows of a build that did not succeed are
    rebuilt and tested again (the raw rows they came from stay valid: the export needs no full copy
    for it). Spark's models are tables, rebuilt whole by every build."""
    with warehouse.connect() as con:
        ensure_tables(con)
        last = last_successful_build(con, target)
    if last is None:
        return f"no successful build on {target} yet"
    if last[0] != build_label(target, build_fingerprint(conversion_window_days)):
        return f"dbt project or window changed since the last build on {target}"
    if unsucceeded_builds and target == "postgres":
        with postgres.connect() as pg, pg.cursor() as cur:
            if rows_built_since(cur, last[1]):
                return "a build on postgres since the last successful one did not succeed: every row is built and tested again"
    return None


def engine_dbt_assets(target: str) -> dg.AssetsDefinition:
    translator = EngineDbtTranslator(target, settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))

    @dbt_assets(manifest=DBT_PROJECT.manifest_path, project=DBT_PROJECT, dagster_dbt_translator=translator)
    def dbt_models(
        context: dg.AssetExecutionContext,
        config: DbtRunConfig,
        dbt: DbtCliResource,
        warehouse: WarehouseResource,
        landing: LandingResource,
    ):
        reason = "asked for" if config.full_refresh else full_refresh_reason_on(
            target, warehouse, config.conversion_window_days)
        full_refresh = reason is not None
        if full_refresh:
            context.log.info(f"full refresh: {reason}")
        # Unit tests prove the SQL on the engine, not the data: they run whenever the SQL may have
        # changed (a full refresh follows every change of the dbt project), not with every day.
        args = dbt_build_args(config.conversion_window_days, full_refresh, unit_tests=full_refresh,
                              every_asset=builds_every_asset(context, dbt_models))
        # The profile reads its settings from the environment (PGOPTIONS, FUNNEL_*, FUNNEL_RAW_PARQUET_DIR),
        # which dagster-dbt hands dbt when it starts it; set for that moment only.
        with scoped_environ(target_env(target, _settings_of(warehouse, landing))):
            invocation = dbt.cli(args, context=context, target_path=dbt_target_path(warehouse.path, target))
        yield from invocation.stream()

    return dbt_models


def build_engine_definitions(settings: Settings, target: str) -> dg.Definitions:
    target = resolve_target(target)
    return dg.Definitions(
        assets=[ingest_landing_asset, engine_raw_asset(target), engine_dbt_assets(target)],
        asset_checks=[c for c in ASSET_CHECKS if c.node_def.name == INGESTION_CHECKS],
        resources={
            "warehouse": WarehouseResource.from_settings(settings),
            "landing": LandingResource(path=str(settings.landing_dir)),
            "dbt": speedups.dbt_resource(
                settings, project_dir=DBT_PROJECT, profiles_dir=str(DBT_PROJECT.profiles_dir), target=target
            ),
        },
        jobs=[funnel_pipeline_job],
        sensors=[new_landed_files_sensor],
        schedules=[daily_funnel_schedule],
    )
