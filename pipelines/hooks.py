"""A failed run records itself: the failure hook of the job `funnel_pipeline`.

A Dagster hook runs in the process that ran the step, right after it: inside `execute_in_process`
(`funnel run`, tests) and inside the run worker of a run launched from the Dagster UI, the sensor or
the schedule. (A `run_failure_sensor` would run only in the daemon, never for `execute_in_process`.)
It fires for each failed step: a dbt error, a blocking data check (Dagster fails the check's step),
an exception. Each time it rewrites the run's failure row with every failure of the run so far, read
from the run's event log, in the words `funnel run` prints.
"""

from __future__ import annotations

from collections.abc import Iterable

import dagster as dg

from pipelines.run_status import record_failure


def failure_lines(events: Iterable[dg.DagsterEvent]) -> tuple[list[str], list[str]]:
    """(errors, warnings) of a run's events: failed steps and failed asset checks, in words."""
    errors, warnings, evaluations = [], [], []
    for event in events:
        if event.is_step_failure:
            error = event.step_failure_data.error
            message = (error.message if error else "failed").strip().splitlines()
            errors.append(f"step {event.step_key} failed: {message[0] if message else ''}")
        elif event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluations.append(event.event_specific_data)
    for evaluation in evaluations:
        if evaluation.passed:
            continue
        name = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
        if evaluation.severity == dg.AssetCheckSeverity.ERROR:
            errors.append(f"check {name} failed")
        else:
            warnings.append(f"check {name} warned")
    return errors, warnings


@dg.failure_hook(required_resource_keys={"warehouse"})
def record_failed_run(context: dg.HookContext) -> None:
    """audit.pipeline_runs gets the run's failure row and the run-status file says why (run_status.py);
    an error-level check that blocked the run is alerted (pipelines/brief, docs/reports.md)."""
    records = context.instance.all_logs(
        context.run_id,
        of_type={dg.DagsterEventType.STEP_FAILURE, dg.DagsterEventType.ASSET_CHECK_EVALUATION},
    )
    errors, _ = failure_lines(record.dagster_event for record in records if record.dagster_event)
    message = "; ".join(errors) or f"step {context.step_key} failed"
    stats = context.instance.get_run_stats(context.run_id)
    started_at = None
    if stats.start_time:
        from datetime import UTC, datetime

        started_at = datetime.fromtimestamp(stats.start_time, UTC).replace(tzinfo=None)
    if record_failure(context.resources.warehouse.path, context.run_id, message, started_at=started_at):
        context.log.error(f"run recorded as failed: {message}")
        # An error-level check that blocked the run is alerted now, once per check and run (docs/reports.md).
        from pipelines.brief import alert_blocked_run

        alert_blocked_run(context.resources.warehouse.settings(), context.run_id, lock_wait_seconds=0)
    else:
        context.log.warning(f"another run holds the warehouse: only the run-status file says it failed: {message}")
