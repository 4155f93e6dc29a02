"""`funnel run`: the whole asset graph, in-process through Dagster, under the single-writer lock."""

from __future__ import annotations

import contextlib
import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pipelines import report, warm_dbt
from pipelines.dbt_build import build_fingerprint
from pipelines.ingest.ledger import ensure_tables, last_published_fingerprint
from pipelines.ingest.load import new_files
from pipelines.run_status import write_run_status
from pipelines.settings import Settings
from pipelines.warehouse import connect, writer_lock

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


def _instance() -> dg.DagsterInstance:
    import dagster as dg

    # With DAGSTER_HOME set the run is recorded where `dagster dev` shows it; otherwise it leaves no trace.
    return dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()


def _failures(result: dg.ExecuteInProcessResult) -> tuple[list[str], list[str]]:
    """(errors, warnings): failed steps and failed asset checks, in words."""
    import dagster as dg

    errors, warnings = [], []
    for event in result.all_events:
        if event.is_step_failure:
            error = event.step_failure_data.error
            message = (error.message if error else "failed").strip().splitlines()
            errors.append(f"step {event.step_key} failed: {message[0] if message else ''}")
    for evaluation in result.get_asset_check_evaluations():
        if evaluation.passed:
            continue
        name = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
        if evaluation.severity == dg.AssetCheckSeverity.ERROR:
            errors.append(f"check {name} failed")
        else:
            warnings.append(f"check {name} warned")
    return errors, warnings


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
                lines.append(f"  {kpi:<38} {report.format_value(kpi, value):>10}   ({period})")
    lines += [f"WARNING {w}" for w in warnings] + [f"ERROR {e}" for e in errors]
    if not errors:
        lines.append(f"Published for readers: {settings.published}")
    return "\n".join(lines)


def _record_failure(settings: Settings, run_id: str, message: str) -> None:
    now = datetime.now(UTC).replace(tzinfo=None)
    with connect(settings.warehouse) as con:
        ensure_tables(con)
        con.execute(
            "INSERT INTO audit.pipeline_runs VALUES (?, ?, ?, 'failure', ?, NULL, NULL, NULL, NULL, NULL)",
            [run_id, now, now, message],
        )
    write_run_status(settings.warehouse, run_id=run_id, status="failure", message=message)


def _up_to_date(settings: Settings) -> bool:
    """True when no file is waiting and the last published build used the same dbt project."""
    if not settings.published.exists() or not settings.warehouse.exists():
        return False
    with connect(settings.warehouse) as con:
        waiting = any(new_files(con, settings.landing_dir).values())
        last = last_published_fingerprint(con)
    return not waiting and last == build_fingerprint(settings.conversion_window_days)


def execute_job(job, settings: Settings, op_config: dict):
    """Run a Dagster job in-process; dbt's progress lines go to the run's log file, not the terminal.
    Returns (result, log path, errors, warnings)."""
    run_config = {
        "ops": op_config,
        # The command prints its own report; Dagster's event log stays in the instance.
        "loggers": {"console": {"config": {"log_level": os.environ.get("FUNNEL_LOG_LEVEL", "ERROR")}}},
    }
    run_id = str(uuid.uuid4())
    log_path = settings.warehouse.parent / "logs" / f"run-{run_id}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w") as log, contextlib.redirect_stdout(log):
        result = job.execute_in_process(instance=_instance(), raise_on_error=False, run_config=run_config, run_id=run_id)
    errors, warnings = _failures(result)
    if not result.success and not errors:
        errors.append("the run failed (see the Dagster event log)")
    return result, log_path, errors, warnings


def run_pipeline(settings: Settings, wait_seconds: float = 0.0) -> RunOutcome:
    """Materialise every asset once. Raises PipelineFailed (with the report) when a step or an
    error-level check fails; WarehouseBusyError when another run holds the warehouse."""
    with writer_lock(settings.warehouse, wait_seconds=wait_seconds):
        if _up_to_date(settings):
            # No new file and the dbt project of the last published build: nothing to materialise,
            # so neither Dagster nor dbt is even loaded.
            text = _report(settings, "", [], [])
            return RunOutcome(run_id="", report=text + "\nThe marts and the published copy are up to date: nothing rebuilt.")
        # dbt's process imports dbt (and, when asked for, the check process GX) while this one
        # imports Dagster, creates the run and ingests.
        from pipelines import warm_checks

        with warm_dbt.started(), warm_checks.started() if settings.check_process else contextlib.nullcontext():
            from pipelines.definitions import build_definitions

            job = build_definitions(settings).resolve_job_def("funnel_pipeline")
            window = {"config": {"conversion_window_days": settings.conversion_window_days}}
            result, log_path, errors, warnings = execute_job(
                job, settings, {"dbt_models": window, "published_warehouse": window}
            )
        text = _report(settings, result.run_id, errors, warnings) + f"\nRun log: {log_path}"
        if errors:
            _record_failure(settings, result.run_id, "; ".join(errors))
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
