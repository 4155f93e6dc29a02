"""A daily run, for landing directories that nobody watches with the sensor."""

from __future__ import annotations

import dagster as dg

from pipelines.jobs import funnel_pipeline_job

daily_funnel_schedule = dg.ScheduleDefinition(
    job=funnel_pipeline_job,
    cron_schedule="0 6 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
)
