"""Leadership's weekly KPI brief and the alerts, after each published run (pipelines/brief).

The brief never fails or blocks the pipeline: any error is logged and shown in the materialization's
metadata, and what could not be sent is tried again next run. The attempts are recorded in the
warehouse's audit.deliveries; when there were any, the published copy is written again so readers
see them (the same copy as the run just published, plus the ledger's new rows)."""


from pathlib import Path

import dagster as dg

from pipelines.assets.dbt import DBT_PROJECT
from pipelines.assets.publish import PUBLISHED
from pipelines.brief import brief_and_deliver
from pipelines.publish import publish
from pipelines.resources import WarehouseResource

KPI_BRIEF = dg.AssetKey(["kpi_brief"])


@dg.asset(
    key=KPI_BRIEF,
    group_name="publishing",
    deps=[PUBLISHED],
    description="Leadership's weekly KPI brief (HTML, PDF) from the published copy; sends it and the alerts once.",
)
def kpi_brief(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    settings = warehouse.settings()
    try:
        files = brief_and_deliver(settings, context.run_id, lock_wait_seconds=warehouse.lock_wait_seconds)
        if files.deliveries:
            with warehouse.writer_lock(), warehouse.connect() as con:
                con.execute(f"ATTACH '{settings.published}' AS last_published (READ_ONLY)")
                fingerprint = con.execute("SELECT build_fingerprint FROM last_published.meta.published").fetchall()[0][0]
                con.execute("DETACH last_published")
                publish(con, Path(warehouse.path), DBT_PROJECT.manifest_path, fingerprint)
    except Exception as error:  # noqa: BLE001 - the brief never fails the run
        context.log.warning(f"the KPI brief was not made: {type(error).__name__}: {error}")
        return dg.MaterializeResult(metadata={"error": f"{type(error).__name__}: {error}"})
    failed = [d for d in files.deliveries if d.status != "sent"]
    for delivery in failed:
        context.log.warning(f"delivery of {delivery.kind} {delivery.key} to {delivery.recipient} failed: {delivery.error}")
    return dg.MaterializeResult(metadata={
        "week": files.brief.label,
        "html": str(files.html),
        "pdf": str(files.pdf),
        "moved": ", ".join(line.kpi.name for line in files.brief.moved) or "none",
        "sent": len(files.deliveries) - len(failed),
        "failed": len(failed),
    })
