"""Ingestion: every new landed file (and new version of one) into raw.* with its ledger and rejected rows."""


from pathlib import Path

import dagster as dg

from pipelines.core import contract
from pipelines.ingest.load import IngestSummary, ingest_landing
from pipelines.resources import LandingResource, WarehouseResource

RAW_EVENTS = dg.AssetKey(["raw", "checkout_events"])
RAW_ORDERS = dg.AssetKey(["raw", "orders"])
LOAD_LEDGER = dg.AssetKey(["audit", "load_ledger"])
STATUSES = contract.LEDGER_STATUSES
REJECTED_ROWS = dg.AssetKey(["audit", "rejected_rows"])


def _source_metadata(summary: IngestSummary, source: str) -> dict:
    files = summary.by_source(source)
    return {
        "files_new": len(files),
        **{f"files_{status}": sum(f.status == status for f in files) for status in STATUSES},
        "rows_read": sum(f.rows_read for f in files),
        "rows_loaded": sum(f.rows_loaded for f in files),
        "rows_rejected": sum(f.rows_rejected for f in files),
        "duplicates_dropped": sum(f.duplicates_dropped for f in files),
    }


@dg.multi_asset(
    name="ingest_landing",
    group_name="ingestion",
    specs=[
        dg.AssetSpec(RAW_EVENTS, description="Validated checkout events, one row per event_id (UTC)."),
        dg.AssetSpec(RAW_ORDERS, description="Every validated version of every order record (UTC)."),
        dg.AssetSpec(
            LOAD_LEDGER,
            description="One row per version of every landed file: loaded, rejected, empty or ignored, and row counts.",
        ),
        dg.AssetSpec(REJECTED_ROWS, description="Every rejected row or file with its reason, personal data masked."),
    ],
)
def ingest_landing_asset(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, landing: LandingResource
):
    with warehouse.writer_lock(), warehouse.connect() as con:
        summary = ingest_landing(con, Path(landing.path), run_id=context.run_id)
    context.log.info(
        f"{len(summary.files)} new files: {summary.total('rows_loaded')} rows loaded, "
        f"{summary.total('rows_rejected')} rejected, "
        + ", ".join(f"{summary.count(status)} files {status}" for status in STATUSES)
    )
    yield dg.MaterializeResult(asset_key=RAW_EVENTS, metadata=_source_metadata(summary, "checkout_events"))
    yield dg.MaterializeResult(asset_key=RAW_ORDERS, metadata=_source_metadata(summary, "orders"))
    yield dg.MaterializeResult(
        asset_key=LOAD_LEDGER,
        metadata={
            "files_new": len(summary.files),
            **{f"files_{status}": summary.count(status) for status in STATUSES},
            "files": dg.MetadataValue.md(_ledger_markdown(summary)),
        },
    )
    yield dg.MaterializeResult(asset_key=REJECTED_ROWS, metadata={"rows_rejected": summary.total("rows_rejected")})


def _ledger_markdown(summary: IngestSummary) -> str:
    lines = ["| file | status | read | loaded | rejected | duplicates | reason |", "|---|---|---|---|---|---|---|"]
    lines += [
        f"| {f.file_path} | {f.status} | {f.rows_read} | {f.rows_loaded} | {f.rows_rejected} | {f.duplicates_dropped} "
        f"| {(f.reason or '').replace('|', '/')} |"
        for f in summary.files[:200]
    ]
    return "\n".join(lines)
