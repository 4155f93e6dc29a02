"""The one job: ingest, build every dbt model and test, check, publish; in-process (2-core machines)."""

from __future__ import annotations

import dagster as dg

funnel_pipeline_job = dg.define_asset_job(
    name="funnel_pipeline",
    selection=dg.AssetSelection.all(),
    executor_def=dg.in_process_executor,
    description="Load new landed files, rebuild the KPI marts, run the data checks, publish for readers.",
)
