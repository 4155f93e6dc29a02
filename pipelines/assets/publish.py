"""The published copy of the warehouse that every reader opens.

Publishing completes a run, so this asset records it: the run's `success` row in audit.pipeline_runs
(before the copy is written, so the copy holds it) and the run-status file once the copy is in place.
A failed run is recorded by the job's failure hook instead (pipelines/hooks.py)."""


from pathlib import Path

import dagster as dg

from pipelines.assets.dbt import DBT_PROJECT, WindowConfig, dbt_models, project_only_keys
from pipelines.assets.raw import ingest_landing_asset
from pipelines.dbt_build import build_fingerprint
from pipelines.ingest.ledger import record_successful_run
from pipelines.publish import publish
from pipelines.resources import WarehouseResource
from pipelines.run_status import write_run_status

PUBLISHED = dg.AssetKey(["published_warehouse"])


@dg.asset(
    key=PUBLISHED,
    group_name="publishing",
    # Not on what an incremental build leaves as it is (project_only_keys: seeds, time spine, staging
    # views): a dep the run does not materialise would skip this step. Publishing copies every public
    # table as it stands in the warehouse, those included.
    deps=[*(dbt_models.keys - project_only_keys(dbt_models)), ingest_landing_asset],
    description="Read-only copy of the marts, audit and meta schemas for the dashboard and analysts.",
)
def published_warehouse(
    context: dg.AssetExecutionContext, config: WindowConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    with warehouse.writer_lock(), warehouse.connect() as con:
        # The run is complete once it is published: record it first so readers see it.
        fingerprint = build_fingerprint(config.conversion_window_days)
        record_successful_run(con, context.run_id, "published", fingerprint)
        summary = publish(con, Path(warehouse.path), DBT_PROJECT.manifest_path, fingerprint)
    write_run_status(warehouse.path, run_id=context.run_id, status="success", message="published")
    return dg.MaterializeResult(
        metadata={
            "path": str(summary.path),
            "bytes": summary.path.stat().st_size,
            "started_from": summary.started_from,
            "tables_copied_whole": len(summary.copied),
            "rows_replaced": dg.MetadataValue.json(summary.updated),
        }
    )
