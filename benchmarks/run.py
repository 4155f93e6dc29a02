"""The benchmark: `make bench` / `python -m benchmarks.run [options]`. See docs/performance.md.

For every size x format it generates landing data with `funnel generate` (365 days, ~3.6 events per
checkout; with --history-grows a bigger size keeps the first size's events per day over more days),
then measures on this machine, each in a fresh process whose whole process tree's RSS is
sampled from /proc (peak memory):

- floor       benchmarks/floor.sql: the same public marts in one plain DuckDB script;
- full run    `funnel run` from an empty warehouse (with the Dagster step durations of that run);
- re-run      `funnel run` again with nothing new;
- incremental `funnel run` after one more day of data landed (`funnel generate --days 1 --id-prefix b`),
              then after another (`--id-prefix c`): the second is a daily run's steady state (the
              publish has a spare copy to update: pipelines/publish.py) and is the one reported as
              `incremental` (the median of --day-repeats runs of it, each from the same state; every
              run's wall time in `incremental_repeats`), the first is `incremental_first_day`; and where the second's seconds went (benchmarks.disk.day_split: start-up and imports, each Dagster
              step, Dagster between steps, dbt's nodes by kind) and how far back its order changes
              reach (benchmarks.disk.day_reach);
- disk        the warehouse and the published copy after the full run, per million events, and the
              copy's tables with the readers that name them (benchmarks.disk);
- writes      every table of both, copied once into a scratch file: what writing a full run's tables
              costs here, against the floor (benchmarks.stages writes);
- engines     `funnel run --target postgres|spark`, full and one more day (benchmarks.engines; data
              sets up to ENGINES_MAX_EVENTS, first format only; skipped without PostgreSQL or Java);
- stages      each stage on its own on another empty warehouse: ingest (ingest_landing), dbt build
              (dbt CLI), checks (run_all_checks), publish (publish), with dbt's per-model timings;
- dashboard   every query of dashboards/data.py on the published copy, cold (caches cleared), p50/p95;
              and each page's whole run and its draw in the browser (benchmarks/dashboard.py);
- metrics     `funnel metrics` on the published copy, a fresh process per query, p50 (benchmarks/metrics.py).

It checks that the floor's marts equal the pipeline's, prints a table and writes
benchmarks/results/<timestamp>.json (or --json PATH). No figure is asserted here: docs/performance.md
compares them with the targets.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from benchmarks.disk import day_reach, day_split, disk_usage
from benchmarks.engines import ENGINES, engine_case
from benchmarks.landing import prepare_data, size_label
from benchmarks.process import json_tail, loadavg, measure, strip_stdout
from benchmarks.report import TARGETS, evaluate, machine, print_table
from pipelines.core.settings import DBT_PROJECT_DIR, Settings, dbt_executable, dbt_target_path, dbt_vars

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
FUNNEL = str(BIN / "funnel")
RESULTS_DIR = Path(__file__).resolve().parent / "results"

MEASUREMENTS = ("floor", "full", "writes", "rerun", "incremental", "dashboard", "metrics", "stages", "engines")
# The engines' case is measured at 1M events (issue 18's target); Spark at 10M takes too long here.
ENGINES_MAX_EVENTS = 1_000_000

# --- the measurements ----------------------------------------------------------------------------


def _fresh_warehouse(folder: Path) -> Path:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder / "warehouse.duckdb"


def dagster_steps(dagster_home: Path, run_id: str) -> dict[str, float]:
    """Step durations (s) of a recorded run, from the Dagster instance in dagster_home."""
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    import dagster as dg

    with dg.DagsterInstance.get() as instance:
        steps = {s.step_key: (s.end_time or 0) - (s.start_time or 0) for s in instance.get_run_step_stats(run_id)}
        run = instance.get_run_stats(run_id)
    # The whole Dagster run; the rest of `funnel run`'s wall time is start-up (imports, definitions) and the report.
    steps["(dagster run, all steps)"] = (run.end_time or 0) - (run.start_time or 0)
    return steps


def funnel_run(landing: Path, warehouse: Path, dagster_home: Path, log: Path, target: str | None = None,
               env: dict[str, str] | None = None) -> dict:
    """`funnel run` (on `target`, default DuckDB), measured, with the durations of its Dagster steps."""
    env = {**(env or {}), "DAGSTER_HOME": str(dagster_home), "FUNNEL_LOG_LEVEL": "ERROR"}
    # No dagster.yaml of its own: `funnel run` writes the one it uses by default (pipelines/lifecycle.py,
    # one WAL-mode event log), so the run records its events as a user's run does.
    dagster_home.mkdir(parents=True, exist_ok=True)
    # A failed run is recorded (with its message) rather than stopping the benchmark: other developers
    # change the pipeline in the same checkout, and the other measurements are still worth having.
    cmd = [FUNNEL, "run", "--landing", str(landing), "--warehouse", str(warehouse)]
    result = measure([*cmd, "--target", target] if target else cmd, env=env, log=log, check=False)
    found = re.search(r"run-([0-9a-f-]{36})\.log", result["stdout"])
    out = strip_stdout(result)
    if found:
        out["run_id"] = found.group(1)
        try:
            out["dagster_steps"] = dagster_steps(dagster_home, found.group(1))
        except Exception as exc:  # noqa: BLE001 - the step table is a bonus; never lose the run's figures for it
            out["dagster_steps_error"] = repr(exc)
    return out


def median_run(runs: list[dict]) -> dict:
    """The run whose wall time is the median of `runs` (the lower middle one of an even count); a failed
    run counts as the slowest."""
    ordered = sorted(runs, key=lambda run: float("inf") if "error" in run else run["wall_seconds"])
    return ordered[(len(ordered) - 1) // 2]


def one_more_day(landing: Path, warehouse: Path, dagster_home: Path, logs: Path, repeats: int) -> tuple[dict, list]:
    """`funnel run` on `landing`, `repeats` times from the same state: the run's folder (warehouse,
    published copy, dbt's target, Dagster instance) is copied before the first and restored before
    each other one. Each run's dbt run_results.json is kept beside its log (`dbt_results`). Returns the
    median run and every run's wall time: on this shared machine one run of a day varies by seconds."""
    folder = warehouse.parent
    before = folder.with_name(f"{folder.name}-before-the-day")
    if repeats > 1:
        shutil.rmtree(before, ignore_errors=True)
        shutil.copytree(folder, before, symlinks=True)
    runs = []
    try:
        for repeat in range(1, repeats + 1):
            if repeat > 1:
                shutil.rmtree(folder)
                shutil.copytree(before, folder, symlinks=True)
            os.sync()  # the copies' gigabytes are written out now, not by the kernel during the measured run
            name = "incremental" if repeats == 1 else f"incremental-{repeat}"
            results = dbt_target_path(warehouse) / "run_results.json"
            results.unlink(missing_ok=True)  # an earlier build's: only this run's dbt build is kept
            run = funnel_run(landing, warehouse, dagster_home, logs / f"{name}.log")
            kept = logs / name
            kept.mkdir(parents=True, exist_ok=True)
            if results.exists():
                shutil.copy2(results, kept / "run_results.json")
            runs.append({**run, "dbt_results": str(kept)})
    finally:
        shutil.rmtree(before, ignore_errors=True)
    return median_run(runs), [run["wall_seconds"] for run in runs]


def stage(name: str, paths: list[Path], log: Path, profile: Path | None = None, extra: list[str] = ()) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.stages", name, *map(str, paths), *extra]
    if profile:
        cmd += ["--profile", str(profile)]
    result = measure(cmd, cwd=ROOT, log=log)
    return {**strip_stdout(result), **json_tail(result["stdout"])}


def dbt_stage(warehouse: Path, case_dir: Path, window_days: int) -> dict:
    target = case_dir / "dbt_target"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    # reuse the project's parse cache like the pipeline's dbt does (dagster-dbt starts from it too)
    cache = DBT_PROJECT_DIR / "target" / "partial_parse.msgpack"
    if cache.exists():
        shutil.copy2(cache, target / "partial_parse.msgpack")
    env = Settings(warehouse=warehouse).dbt_env()  # telemetry: dbt_project.yml's flags
    cmd = [str(dbt_executable()), "build", "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
           "--target-path", str(target), "--log-path", str(case_dir / "dbt_logs"), *dbt_vars(window_days)]
    result = strip_stdout(measure(cmd, env=env, cwd=DBT_PROJECT_DIR, log=case_dir / "logs" / "dbt_build.log"))
    result["seconds"] = result["wall_seconds"]
    run_results = target / "run_results.json"
    if run_results.exists():
        data = json.loads(run_results.read_text())
        nodes = sorted(((r["unique_id"], r.get("execution_time") or 0.0) for r in data["results"]),
                       key=lambda x: -x[1])
        result["dbt_elapsed"] = data.get("elapsed_time")
        result["nodes"] = len(nodes)
        result["node_seconds_total"] = sum(t for _, t in nodes)
        result["model_seconds"] = sum(t for u, t in nodes if u.startswith("model."))
        result["test_seconds"] = sum(t for u, t in nodes if u.startswith("test."))
        result["top_nodes"] = [{"node": u, "seconds": t} for u, t in nodes[:15]]
    return result


def run_case(workdir: Path, events: int, fmt: str, args) -> dict:
    label = f"{size_label(events)}-{fmt}"
    case_dir = workdir / label
    print(f"== {label}: preparing data", flush=True)
    case: dict = {"label": label, "size": events, "format": fmt}
    case["data"] = prepare_data(case_dir, events, fmt, args.days_of[events], args.end_date, args.skip_generate,
                                args.day_rate)
    landing, plus1, plus2 = case_dir / "landing", case_dir / "landing_plus1", case_dir / "landing_plus2"
    logs = case_dir / "logs"
    profile_dir = case_dir / "profiles" if args.profile else None
    if profile_dir:
        profile_dir.mkdir(parents=True, exist_ok=True)

    todo = args.measure
    print(f"== {label}: floor", flush=True)
    floor_db = case_dir / "floor" / "floor.duckdb"
    floor_db.parent.mkdir(parents=True, exist_ok=True)
    result = measure([sys.executable, "-m", "benchmarks.floor", str(landing), str(floor_db),
                      "--window-days", str(args.window_days)], cwd=ROOT, log=logs / "floor.log")
    case["floor"] = {**strip_stdout(result), **json_tail(result["stdout"])}

    print(f"== {label}: full run from an empty warehouse", flush=True)
    warehouse = _fresh_warehouse(case_dir / "run")
    dagster_home = case_dir / "run" / "dagster_home"
    case["full_run"] = funnel_run(landing, warehouse, dagster_home, logs / "full_run.log")

    from benchmarks.floor import compare_marts

    published = warehouse.with_name(f"{warehouse.stem}.published.duckdb")
    if "error" in case["full_run"]:
        print(f"   the full run failed: {case['full_run']['error']}", flush=True)
        case["marts_equal"] = None
    else:
        case["floor_vs_pipeline"] = compare_marts(published, floor_db)
        case["marts_equal"] = all(t["equal"] for t in case["floor_vs_pipeline"].values())
        case["disk"] = disk_usage(warehouse, published, case["data"]["events"])
        if "writes" in todo:
            print(f"== {label}: writing the full run's tables once", flush=True)
            case["writes"] = stage("writes", [warehouse, published, case_dir / "writes-scratch.duckdb"],
                                   logs / "stage_writes.log")

    if "rerun" in todo:
        print(f"== {label}: re-run with nothing new", flush=True)
        case["rerun"] = funnel_run(landing, warehouse, dagster_home, logs / "rerun.log")

    if "incremental" in todo:
        print(f"== {label}: incremental runs (one more day, then another, {args.day_repeats} time(s))", flush=True)
        case["incremental_first_day"] = funnel_run(plus1, warehouse, dagster_home, logs / "incremental_first_day.log")
        case["incremental"], case["incremental_repeats"] = one_more_day(plus2, warehouse, dagster_home, logs,
                                                                        args.day_repeats)
        if "error" not in case["incremental"]:
            imports = stage("imports", [], logs / "stage_imports.log")
            case["day_split"] = day_split(case["incremental"], Path(case["incremental"]["dbt_results"]),
                                          imports["seconds"])
            case["day_reach"] = day_reach(warehouse)

    if "engines" in todo and events <= ENGINES_MAX_EVENTS and fmt == args.formats[0]:
        for target in ENGINES:
            print(f"== {label}: funnel run --target {target}, full and one more day", flush=True)
            case.setdefault("engines", {})[target] = engine_case(case_dir, landing, plus1, target)

    if "dashboard" in todo and published.exists():
        print(f"== {label}: dashboard queries", flush=True)
        case["dashboard"] = stage("dashboard", [published], logs / "dashboard.log",
                                  extra=["--reps", str(args.dashboard_reps)])
        print(f"== {label}: dashboard pages (server side, browser)", flush=True)
        from benchmarks.dashboard import run_measured

        case["dashboard_pages"] = run_measured(published, logs / "dashboard_pages.log", args.dashboard_reps,
                                               browser_rounds=0 if args.quick else 3)

    if "metrics" in todo and published.exists():
        print(f"== {label}: funnel metrics", flush=True)
        from benchmarks.metrics import measure_metrics

        case["metrics"] = measure_metrics(warehouse, 3 if args.quick else 11, logs / "metrics.log")

    full = case["full_run"]["wall_seconds"]
    case["ratio_full_run_over_floor"] = full / case["floor"]["seconds"]
    if "incremental" in case:
        case["ratio_incremental_over_full"] = case["incremental"]["wall_seconds"] / full
    if "stages" not in todo:
        return case

    print(f"== {label}: stages on their own", flush=True)
    stage_wh = _fresh_warehouse(case_dir / "stages")
    stages: dict = {}
    stages["ingest"] = stage("ingest", [landing, stage_wh], logs / "stage_ingest.log",
                             profile_dir / "ingest.prof" if profile_dir else None)
    stages["dbt_build"] = dbt_stage(stage_wh, case_dir, args.window_days)
    stages["checks"] = stage("checks", [stage_wh], logs / "stage_checks.log",
                             profile_dir / "checks.prof" if profile_dir else None)
    manifest = case_dir / "dbt_target" / "manifest.json"
    stages["publish"] = stage("publish", [stage_wh, manifest], logs / "stage_publish.log",
                              profile_dir / "publish.prof" if profile_dir else None)
    case["stages"] = stages
    return case



def parse_sizes(text: str) -> list[int]:
    """'1M,10M,30M' or '2000,500k' -> events per data set."""
    units = {"k": 1_000, "m": 1_000_000}
    sizes = []
    for item in (s.strip().lower() for s in text.split(",") if s.strip()):
        number, unit = (item[:-1], units[item[-1]]) if item[-1] in units else (item, 1)
        sizes.append(int(float(number) * unit))
    return sizes


def history_days(sizes: list[int], days: int, grows: bool) -> dict[int, int]:
    """Days of history per size: `days` each, or (`grows`) the first size's events per day kept, so a
    size covers `days` x size / first size days."""
    return {events: round(days * events / sizes[0]) if grows else days for events in sizes}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1M,10M,30M",
                        help="events per data set, comma-separated: a number, or with a k/M suffix (1M, 30M)")
    parser.add_argument("--formats", default="parquet,jsonl.gz", help="comma-separated: parquet, jsonl.gz, jsonl, mixed")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/funnel-bench"))
    parser.add_argument("--skip-generate", action="store_true", help="reuse the landing data in --workdir")
    parser.add_argument("--quick", action="store_true", help="tiny data (2,000 events over 14 days), for the tests")
    parser.add_argument("--days", type=int, default=None, help="days of history (default 365; --quick: 14)")
    parser.add_argument("--history-grows", action="store_true",
                        help="every size keeps the first size's events per day over --days days; a bigger size "
                             "covers proportionally more days (10M,30M: 365 and 1,095 days), so one more day has "
                             "the same events in every case (its late order changes grow with the orders before "
                             "it: the day's reach in the report)")
    parser.add_argument("--day-rate", action="append", default=[], metavar="NAME=VALUE",
                        help="a planted rate of the generator (as `funnel generate --rate` takes it) for the two "
                             "days after the history only, e.g. late_status_change_rate_per_day=0: days without "
                             "late changes of earlier orders")
    parser.add_argument("--end-date", type=date.fromisoformat, default=None,
                        help="last day of the history (default: 3 days ago, UTC)")
    parser.add_argument("--window-days", type=int, default=30)
    parser.add_argument("--dashboard-reps", type=int, default=None, help="repetitions per query (default 20; --quick 3)")
    parser.add_argument("--day-repeats", type=int, default=None,
                        help="runs of the measured one more day, each from the same state; the median is reported "
                             "(default 3; --quick: 2)")
    parser.add_argument("--profile", action="store_true", help="cProfile the Python stages (ingest, checks, publish)")
    parser.add_argument("--measure", default=",".join(MEASUREMENTS),
                        help=f"comma-separated subset of {','.join(MEASUREMENTS)} (the floor and the full run always)")
    parser.add_argument("--json", type=Path, default=None, help="where to write the results (default benchmarks/results/)")
    args = parser.parse_args(argv)
    if args.quick:
        sizes = [2000] if args.sizes == parser.get_default("sizes") else parse_sizes(args.sizes)
        args.days = args.days or 14
        args.dashboard_reps = args.dashboard_reps or 3
        args.day_repeats = args.day_repeats or 2
    else:
        sizes = parse_sizes(args.sizes)
    args.days = args.days or 365
    args.days_of = history_days(sizes, args.days, args.history_grows)
    args.dashboard_reps = args.dashboard_reps or 20
    args.day_repeats = args.day_repeats or 3
    args.end_date = args.end_date or (datetime.now(UTC).date() - timedelta(days=3))
    args.measure = {m.strip() for m in args.measure.split(",") if m.strip()}
    if args.measure - set(MEASUREMENTS):
        parser.error(f"--measure: unknown {sorted(args.measure - set(MEASUREMENTS))}")
    formats = args.formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    args.workdir = args.workdir.resolve()
    args.workdir.mkdir(parents=True, exist_ok=True)

    started = datetime.now(UTC)
    results = {"started_at": started.isoformat(), "machine": machine(), "targets": TARGETS,
               "options": {"sizes": sizes, "formats": formats, "workdir": str(args.workdir), "days": args.days,
                           "history_grows": args.history_grows, "day_rates": args.day_rate,
                           "end_date": args.end_date.isoformat(), "window_days": args.window_days,
                           "dashboard_reps": args.dashboard_reps, "day_repeats": args.day_repeats,
                           "quick": args.quick,
                           "measure": sorted(args.measure)}, "cases": []}
    out = args.json or RESULTS_DIR / f"{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    for events in sizes:
        for fmt in formats:
            results["cases"].append(run_case(args.workdir, events, fmt, args))
            results["verdicts"] = evaluate(results["cases"])
            out.write_text(json.dumps(results, indent=2, default=str))  # partial results survive a crash
    results["finished_at"] = datetime.now(UTC).isoformat()
    results["machine"]["loadavg_at_end"] = loadavg()
    out.write_text(json.dumps(results, indent=2, default=str))
    print_table(results["cases"], results["verdicts"])
    print(f"\nresults: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
