"""Assembly only: assets, checks, resources, job, sensors and schedule.

Every asset and check carries the failure hook (pipelines/hooks.py), as the job does: a failed run
is recorded whether it ran the job `funnel_pipeline` or assets picked in the Dagster UI (Dagster's
implicit asset job) or given to `dg.materialize`."""

from __future__ import annotations

import warnings

import dagster as dg

from pipelines import speedups
from pipelines.assets.brief import kpi_brief
from pipelines.assets.dbt import DBT_PROJECT, dbt_models
from pipelines.assets.docs import dbt_docs_site
from pipelines.assets.publish import published_warehouse
from pipelines.assets.raw import ingest_landing_asset
from pipelines.checks import ASSET_CHECKS
from pipelines.core.settings import Settings, prepare_process
from pipelines.hooks import record_failed_run
from pipelines.jobs import funnel_pipeline_job
from pipelines.resources import LandingResource, WarehouseResource
from pipelines.schedules import daily_funnel_schedule
from pipelines.sensors import new_landed_files_sensor

# `with_hooks` gives a check definition back as a plain AssetsDefinition, which Dagster turns into an
# AssetChecksDefinition again when it builds the repository, passing a beta parameter: say nothing.
warnings.filterwarnings(
    "ignore", message="Parameter `execution_type` of function `AssetsDefinition.__init__`", category=dg.BetaWarning
)


def build_definitions(settings: Settings | None = None, target: str | None = None) -> dg.Definitions:
    prepare_process()  # `dagster dev` loads this module first: telemetry off, this interpreter's dbt on PATH
    settings = settings or Settings.from_env()
    # $FUNNEL_TARGET (or `target`) other than duckdb: the same graph built on that engine (docs/engines.md).
    from pipelines.engines import resolve_target

    if resolve_target(target) != "duckdb":
        from pipelines.engines.dagster import build_engine_definitions

        return build_engine_definitions(settings, resolve_target(target))
    return dg.Definitions(
        assets=[
            a.with_hooks({record_failed_run})
            for a in (ingest_landing_asset, dbt_models, published_warehouse, kpi_brief, dbt_docs_site)
        ],
        asset_checks=[c.with_hooks({record_failed_run}) for c in ASSET_CHECKS],
        resources={
            "warehouse": WarehouseResource.from_settings(settings),
            "landing": LandingResource(path=str(settings.landing_dir)),
            "dbt": speedups.dbt_resource(
                settings, project_dir=DBT_PROJECT, profiles_dir=str(DBT_PROJECT.profiles_dir)
            ),
        },
        jobs=[funnel_pipeline_job],
        sensors=[new_landed_files_sensor],
        schedules=[daily_funnel_schedule],
    )


defs = build_definitions()
