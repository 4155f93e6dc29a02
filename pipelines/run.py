"""`funnel run`: the whole asset graph, in-process through Dagster, under the single-writer lock."""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pipelines import report, speedups
from pipelines.core.settings import Settings
from pipelines.core.warehouse import connect, writer_lock
from pipelines.dbt_build import build_fingerprint
from pipelines.ingest.ledger import ensure_tables
from pipelines.ingest.load import new_files
from pipelines.lifecycle import dagster_home, unbuilt_reason

if TYPE_CHECKING:
    import dagster as dg


@dataclass
class RunOutcome:
    run_id: str
    report: str


class PipelineFailed(RuntimeError):
    def __init__(self, message: str, report_text: str):
        super().__init__(message)
        self.report = report_text


def instance(settings: Settings) -> dg.DagsterInstance:
    """The persistent Dagster instance of the warehouse (DAGSTER_HOME, else `<stem>.dagster/` beside
    it): `funnel dagster` shows the runs, materializations and check results `funnel run` recorded."""
    import dagster as dg

    return dg.DagsterInstance.from_config(str(dagster_home(settings.warehouse)))


def _report(settings: Settings, run_id: str, errors: list[str], warnings: list[str]) -> str:
    lines = []
    with connect(settings.warehouse, read_only=False) as con:
        ensure_tables(con)
        lines += report.ledger_lines(con, run_id)
        for reason, rows in report.rejection_reasons(con, run_id):
            lines.append(f"  rejected {rows:,} x {reason}")
        has_marts = con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'marts' AND table_name = 'warehouse_as_of'"
        ).fetchall()[0][0]
        if has_marts and not errors:
            lines.append("Headline KPIs:")
            for kpi, period, value in report.headline_kpis(con):
                lines.append(f"  {kpi.name:<38} {kpi.format(value):>10}   ({period})")
    lines += [f"WARNING {w}" for w in warnings] + [f"ERROR {e}" for e in errors]
    if not errors:
        lines.append(f"Published for readers: {settings.published}")
    return "\n".join(lines)


def _up_to_date(settings: Settings) -> bool:
    """True when no file is waiting and the last published build has every recorded file and used the
    same dbt project and window (pipelines.lifecycle.unbuilt_reason: the job's dbt step asks the same)."""
    if not settings.published.exists() or not settings.warehouse.exists():
        return False
    with connect(settings.warehouse) as con:
        if any(new_files(con, settings.landing_dir).values()):
            return False
        return unbuilt_reason(con, settings.warehouse, build_fingerprint(settings.conversion_window_days)) is None


def execute_job(job, settings: Settings, op_config: dict):
    """Run a Dagster job in-process; dbt's progress lines go to the run's log file, not the terminal.
    Returns (result, log path, errors, warnings)."""
    run_config = {
        "ops": op_config,
        # The command prints its own report; Dagster's event log stays in the instance.
        "loggers": {"console": {"config": {"log_level": settings.log_level}}},
    }
    run_id = str(uuid.uuid4())
    log_path = settings.warehouse.parent / "logs" / f"run-{run_id}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    from pipelines.hooks import failure_lines

    with log_path.open("w") as log, contextlib.redirect_stdout(log), instance(settings) as recorder:
        result = job.execute_in_process(instance=recorder, raise_on_error=False, run_config=run_config, run_id=run_id)
    errors, warnings = failure_lines(result.all_events)
    if not result.success and not errors:
        errors.append("the run failed (see the Dagster event log)")
    return result, log_path, errors, warnings


def _deliveries_due(settings: Settings) -> str:
    """With nothing new the job does not run, yet that is when the data goes stale: send what is due
    (the stale-data alert of the day, a brief not sent yet) when delivery is configured."""
    from pipelines.brief import brief_and_deliver, routes_configured

    if not routes_configured(settings):
        return ""
    try:
        deliveries = brief_and_deliver(settings).deliveries
    except Exception as error:  # noqa: BLE001 - delivery never fails a run (docs/reports.md)
        return f"\nWARNING nothing was delivered: {type(error).__name__}: {error}"
    return "".join(f"\nDelivered {d.kind} to {d.channel} {d.recipient}: {d.status}" for d in deliveries)


def run_pipeline(settings: Settings, wait_seconds: float = 0.0) -> RunOutcome:
    """Materialise every asset once. Raises PipelineFailed (with the report) when a step or an
    error-level check fails; WarehouseBusyError when another run holds the warehouse."""
    with writer_lock(settings.warehouse, wait_seconds=wait_seconds):
        if _up_to_date(settings):
            # No new file and the dbt project of the last published build: nothing to materialise,
            # so neither Dagster nor dbt is even loaded.
            text = _report(settings, "", [], [])
            text += "\nThe marts and the published copy are up to date: nothing rebuilt." + _deliveries_due(settings)
            return RunOutcome(run_id="", report=text)
        # With the speed machinery on, dbt's process imports dbt and the check process GX while this
        # one imports Dagster, creates the run and ingests (pipelines/speedups).
        with speedups.started(settings):
            from pipelines.definitions import build_definitions

            job = build_definitions(settings).resolve_job_def("funnel_pipeline")
            window = {"config": {"conversion_window_days": settings.conversion_window_days}}
            result, log_path, errors, warnings = execute_job(
                job, settings, {"dbt_models": window, "published_warehouse": window}
            )
        text = _report(settings, result.run_id, errors, warnings) + f"\nRun log: {log_path}"
        if errors:  # the job's failure hook has recorded the failure (pipelines/hooks.py)
            raise PipelineFailed("run failed: " + "; ".join(errors), text)
    return RunOutcome(run_id=result.run_id, report=text)


def run_checks_on_demand(settings: Settings) -> tuple[str, bool]:
    """`funnel check`: every data check now, results into audit.check_results and GX Data Docs.
    Returns the printed report and whether an error-level check failed."""
    from data_checks.runner import any_blocking_failure, format_results, run_all_checks
    from pipelines.checks import freshness_hours

    run_id = f"check-{uuid.uuid4()}"
    with writer_lock(settings.warehouse, wait_seconds=60), connect(settings.warehouse) as con:
        results = run_all_checks(con, run_id, freshness_hours=freshness_hours())
    return format_results(results), any_blocking_failure(results)
