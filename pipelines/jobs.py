"""The one job: ingest, build every dbt model and test, check, publish; in-process (2-core machines).

Its run lifecycle is part of it, so a run launched from the Dagster UI, the sensor or the schedule
leaves what `funnel run` leaves: `published_warehouse` records a published run, the failure hook
records a failed one (audit.pipeline_runs and the run-status file; pipelines/hooks.py)."""

from __future__ import annotations

import dagster as dg

from pipelines.hooks import record_failed_run

funnel_pipeline_job = dg.define_asset_job(
    name="funnel_pipeline",
    selection=dg.AssetSelection.all(),
    executor_def=dg.in_process_executor,
    hooks={record_failed_run},
    description="Load new landed files, rebuild the KPI marts, run the data checks, publish for readers, "
    "make the weekly KPI brief and send what is due, build the dbt docs site.",
)
