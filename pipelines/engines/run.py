"""`funnel run --target postgres|spark`: validate with DuckDB as always, then build on the engine.

Through Dagster in-process, like `funnel run`: ingestion and its data checks on DuckDB, the raw rows
published to the engine, every dbt model, seed and test built there. The DuckDB marts and the
published DuckDB copy are left as they are (the dashboard reads DuckDB; analysts use `funnel sql
--target T` against the engine).
"""

from __future__ import annotations

from pipelines import report, speedups
from pipelines.core.settings import Settings
from pipelines.core.warehouse import connect, writer_lock
from pipelines.dbt_build import build_fingerprint
from pipelines.engines import resolve_target
from pipelines.ingest.ledger import build_label, ensure_tables, record_successful_run
from pipelines.run import PipelineFailed, RunOutcome, execute_job


def run_on_target(settings: Settings, target: str, wait_seconds: float = 0.0) -> RunOutcome:
    target = resolve_target(target)
    with writer_lock(settings.warehouse, wait_seconds=wait_seconds):
        # As for `funnel run`: dbt's and the checks' processes import while this one imports Dagster
        # and runs the ingestion (pipelines/speedups).
        with speedups.started(settings):
            from pipelines.engines.dagster import build_engine_definitions

            job = build_engine_definitions(settings, target).resolve_job_def("funnel_pipeline")
            window = {"config": {"conversion_window_days": settings.conversion_window_days}}
            result, log_path, errors, warnings = execute_job(job, settings, {"dbt_models": window})
        text = _report(settings, target, result, errors, warnings) + f"\nRun log: {log_path}"
        if errors:  # the job's failure hook has recorded the failure (pipelines/hooks.py)
            raise PipelineFailed(f"run on {target} failed: " + "; ".join(errors), text)
        _record_success(settings, result.run_id, target)
    return RunOutcome(run_id=result.run_id, report=text)


def _record_success(settings: Settings, run_id: str, target: str) -> None:
    # The fingerprint names the target: a later DuckDB `funnel run` never takes these files as
    # already built into the DuckDB marts.
    with connect(settings.warehouse) as con:
        record_successful_run(
            con, run_id, f"built on {target}", build_label(target, build_fingerprint(settings.conversion_window_days))
        )


def _report(settings: Settings, target: str, result, errors: list[str], warnings: list[str]) -> str:
    lines = []
    with connect(settings.warehouse) as con:
        ensure_tables(con)
        lines += report.ledger_lines(con, result.run_id)
    for event in result.get_asset_materialization_events():
        key = event.asset_key.path
        if key[0] == target and len(key) == 3:
            rows = event.materialization.metadata.get("rows")
            lines.append(f"published to {target}: {'.'.join(key[1:])} ({rows.value if rows else '?'} rows)")
    checks = result.get_asset_check_evaluations()
    built = {
        e.asset_key for e in result.get_asset_materialization_events()
        if e.asset_key.path[0] not in (target, "raw", "audit")
    }
    lines.append(
        f"Built on {target}: {len(built)} models and seeds, "
        f"{sum(1 for c in checks if c.passed)} of {len(checks)} checks passed"
    )
    lines += [f"WARNING {w}" for w in warnings] + [f"ERROR {e}" for e in errors]
    if not errors:
        lines.append(f"Query it: funnel sql --target {target} \"SELECT * FROM marts.kpi_weekly ORDER BY period_start DESC LIMIT 8\"")
    return "\n".join(lines)
