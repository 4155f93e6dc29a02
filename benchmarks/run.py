"""The benchmark: `make bench` / `python -m benchmarks.run [options]`. See docs/performance.md.

For every size x format it generates landing data with `funnel generate` (365 days, ~3.6 events per
checkout), then measures on this machine, each in a fresh process whose whole process tree's RSS is
sampled from /proc (peak memory):

- floor       benchmarks/floor.sql: the same public marts in one plain DuckDB script;
- full run    `funnel run` from an empty warehouse (with the Dagster step durations of that run);
- re-run      `funnel run` again with nothing new;
- incremental `funnel run` after one more day of data landed (`funnel generate --days 1 --id-prefix b`);
- stages      each stage on its own on another empty warehouse: ingest (ingest_landing), dbt build
              (dbt CLI), checks (run_all_checks), publish (publish), with dbt's per-model timings;
- dashboard   every query of dashboards/data.py on the published copy, cold (caches cleared), p50/p95.

It checks that the floor's marts equal the pipeline's, prints a table and writes
benchmarks/results/<timestamp>.json (or --json PATH). No figure is asserted here: docs/performance.md
compares them with the targets.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
FUNNEL = str(BIN / "funnel")
DBT = str(BIN / "dbt")
DBT_PROJECT_DIR = ROOT / "dbt_project"
RESULTS_DIR = Path(__file__).resolve().parent / "results"
EVENTS_PER_CHECKOUT = 3.6
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")

MEASUREMENTS = ("floor", "full", "rerun", "incremental", "dashboard", "stages")
TARGETS = {
    "full_run_over_floor_max": 2.0,
    "full_run_seconds_max_10M": 90.0,
    "peak_rss_gb_max": 3.0,
    "incremental_over_full_max": 0.20,
    "incremental_10M_over_1M_max": 3.0,
    "rerun_seconds_max": 10.0,
    "dashboard_p95_ms_max": 100.0,
}


# --- measuring a process tree -------------------------------------------------------------------


def loadavg() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry.name}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def tree_rss(root: int) -> int:
    """Resident bytes of a process and all its descendants now."""
    children = _children_map()
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_SIZE
        except (OSError, IndexError, ValueError):
            pass
        todo += children.get(pid, [])
    return total


def measure(cmd: list[str], *, env: dict | None = None, cwd: Path | None = None, log: Path | None = None,
            timeout: float = 7200, check: bool = True) -> dict:
    """Run a command; wall seconds, peak RSS of its process tree, load average before/after, stdout."""
    load_before = loadavg()
    full_env = {**os.environ, **(env or {})}
    out = subprocess.PIPE
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=full_env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, text=True)
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], tree_rss(proc.pid))
            done.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        stdout, _ = proc.communicate(timeout=timeout)
    finally:
        done.set()
        sampler.join()
    wall = time.perf_counter() - started
    if log:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(stdout)
    result = {"wall_seconds": wall, "peak_rss_mb": peak[0] / 2**20, "exit_code": proc.returncode,
              "loadavg_before": load_before, "loadavg_after": loadavg()}
    if proc.returncode != 0:
        tail = "\n".join(stdout.strip().splitlines()[-15:])
        if check:
            raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{tail}")
        result["error"] = f"exit code {proc.returncode}: {tail}"
    result["stdout"] = stdout
    return result


def _json_tail(stdout: str) -> dict:
    """The JSON object that benchmarks.stages / benchmarks.floor print last."""
    for line in reversed(stdout.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            return json.loads(line)
    raise ValueError("no JSON result in the output")


def _strip(result: dict) -> dict:
    return {k: v for k, v in result.items() if k != "stdout"}


# --- the data -------------------------------------------------------------------------------------


def size_label(events: int) -> str:
    for unit, name in ((1_000_000, "M"), (1_000, "k")):
        if events >= unit and events % (unit // 10) == 0:
            value = events / unit
            return f"{value:g}{name}"
    return str(events)


def _link_tree(source: Path, target: Path) -> None:
    """A copy of a landing directory whose data files are hard links (they are never edited) and
    whose generator state is real copies (the generator rewrites it)."""
    for path in source.rglob("*"):
        dest = target / path.relative_to(source)
        if path.is_dir():
            dest.mkdir(parents=True, exist_ok=True)
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        if path.parts[len(source.parts)] in ("checkout_events", "orders"):
            os.link(path, dest)
        else:
            shutil.copy2(path, dest)


def prepare_data(case_dir: Path, events: int, fmt: str, days: int, end: date, skip_generate: bool) -> dict:
    """`landing` (days of history ending on `end`) and `landing_plus1` (the same + the next day)."""
    base, plus1 = case_dir / "landing", case_dir / "landing_plus1"
    checkouts_per_day = max(1, round(events / days / EVENTS_PER_CHECKOUT))
    info: dict = {"checkouts_per_day": checkouts_per_day, "days": days, "end_date": end.isoformat()}
    if not (skip_generate and (base / "_generation.json").exists()):
        shutil.rmtree(case_dir, ignore_errors=True)
        case_dir.mkdir(parents=True)
        result = measure([FUNNEL, "generate", "--out", str(base), "--days", str(days), "--checkouts-per-day",
                          str(checkouts_per_day), "--seed", "1", "--format", fmt, "--end-date", end.isoformat()])
        info["generate"] = _strip(result)
    if not (skip_generate and (plus1 / "_generation.json").exists()
            and json.loads((plus1 / "_generation.json").read_text()).get("id_prefix") == "b"):
        shutil.rmtree(plus1, ignore_errors=True)
        _link_tree(base, plus1)
        result = measure([FUNNEL, "generate", "--out", str(plus1), "--days", "1", "--checkouts-per-day",
                          str(checkouts_per_day), "--seed", "1", "--format", fmt, "--end-date",
                          (end + timedelta(days=1)).isoformat(), "--id-prefix", "b"])
        info["generate_plus1"] = _strip(result)
    generation = json.loads((base / "_generation.json").read_text())
    extra = json.loads((plus1 / "_generation.json").read_text())
    info.update(events=generation["events"], order_rows=generation["order_rows"],
                files=len(generation["files"]), plus1_events=extra["events"], plus1_order_rows=extra["order_rows"],
                landing_bytes=sum(p.stat().st_size for p in base.rglob("*") if p.is_file()))
    return info


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


def funnel_run(landing: Path, warehouse: Path, dagster_home: Path, log: Path) -> dict:
    env = {"DAGSTER_HOME": str(dagster_home), "FUNNEL_LOG_LEVEL": "ERROR"}
    dagster_home.mkdir(parents=True, exist_ok=True)
    (dagster_home / "dagster.yaml").touch()  # default sqlite storage, without Dagster's warning about it
    # A failed run is recorded (with its message) rather than stopping the benchmark: other developers
    # change the pipeline in the same checkout, and the other measurements are still worth having.
    result = measure([FUNNEL, "run", "--landing", str(landing), "--warehouse", str(warehouse)], env=env, log=log,
                     check=False)
    found = re.search(r"run-([0-9a-f-]{36})\.log", result["stdout"])
    out = _strip(result)
    if found:
        out["run_id"] = found.group(1)
        try:
            out["dagster_steps"] = dagster_steps(dagster_home, found.group(1))
        except Exception as exc:  # noqa: BLE001 - the step table is a bonus; never lose the run's figures for it
            out["dagster_steps_error"] = repr(exc)
    return out


def stage(name: str, paths: list[Path], log: Path, profile: Path | None = None, extra: list[str] = ()) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.stages", name, *map(str, paths), *extra]
    if profile:
        cmd += ["--profile", str(profile)]
    result = measure(cmd, cwd=ROOT, log=log)
    return {**_strip(result), **_json_tail(result["stdout"])}


def dbt_stage(warehouse: Path, case_dir: Path, window_days: int) -> dict:
    target = case_dir / "dbt_target"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    # reuse the project's parse cache like the pipeline's dbt does (dagster-dbt starts from it too)
    cache = DBT_PROJECT_DIR / "target" / "partial_parse.msgpack"
    if cache.exists():
        shutil.copy2(cache, target / "partial_parse.msgpack")
    env = {"FUNNEL_WAREHOUSE": str(warehouse), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DO_NOT_TRACK": "1"}
    cmd = [DBT, "build", "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
           "--target-path", str(target), "--log-path", str(case_dir / "dbt_logs"),
           "--vars", json.dumps({"conversion_window_days": window_days})]
    result = _strip(measure(cmd, env=env, cwd=DBT_PROJECT_DIR, log=case_dir / "logs" / "dbt_build.log"))
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
    case["data"] = prepare_data(case_dir, events, fmt, args.days, args.end_date, args.skip_generate)
    landing, plus1 = case_dir / "landing", case_dir / "landing_plus1"
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
    case["floor"] = {**_strip(result), **_json_tail(result["stdout"])}

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

    if "rerun" in todo:
        print(f"== {label}: re-run with nothing new", flush=True)
        case["rerun"] = funnel_run(landing, warehouse, dagster_home, logs / "rerun.log")

    if "incremental" in todo:
        print(f"== {label}: incremental run (one more day)", flush=True)
        case["incremental"] = funnel_run(plus1, warehouse, dagster_home, logs / "incremental.log")

    if "dashboard" in todo and published.exists():
        print(f"== {label}: dashboard queries", flush=True)
        case["dashboard"] = stage("dashboard", [published], logs / "dashboard.log",
                                  extra=["--reps", str(args.dashboard_reps)])

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


def evaluate(cases: list[dict]) -> list[dict]:
    """Each target against the measured figures: met or missed, and by how much."""
    verdicts = []

    def add(case: str, name: str, value: float, limit: float, unit: str) -> None:
        verdicts.append({"case": case, "target": name, "value": value, "limit": limit, "unit": unit,
                         "met": value <= limit, "miss_factor": value / limit if limit else None})

    for c in cases:
        for key in ("full_run", "rerun", "incremental"):
            if "error" in c.get(key, {}):
                verdicts.append({"case": c["label"], "target": f"{key} FAILED", "value": float("nan"), "limit": 0,
                                 "unit": "", "met": False, "miss_factor": float("nan"),
                                 "error": c[key]["error"]})
        runs = [c[k] for k in ("full_run", "rerun", "incremental") if k in c]
        peak = max(r["peak_rss_mb"] for r in runs) / 1024
        add(c["label"], "full run / floor", c["ratio_full_run_over_floor"], TARGETS["full_run_over_floor_max"], "x")
        if c["size"] >= 10_000_000:
            add(c["label"], "full run seconds", c["full_run"]["wall_seconds"], TARGETS["full_run_seconds_max_10M"], "s")
        add(c["label"], "peak RSS of a run (GB)", peak, TARGETS["peak_rss_gb_max"], "GB")
        if "incremental" in c:
            add(c["label"], "incremental / full run", c["ratio_incremental_over_full"],
                TARGETS["incremental_over_full_max"], "x")
        if "rerun" in c:
            add(c["label"], "re-run seconds", c["rerun"]["wall_seconds"], TARGETS["rerun_seconds_max"], "s")
        if c["size"] >= 10_000_000 and "dashboard" in c:
            worst = max(q["p95_ms"] for q in c["dashboard"]["queries"].values())
            add(c["label"], "dashboard worst query p95 (ms)", worst, TARGETS["dashboard_p95_ms_max"], "ms")
    by_key = {(c["size"], c["format"]): c for c in cases}
    for (size, fmt), c in by_key.items():
        small = by_key.get((size // 10, fmt))
        if size >= 10_000_000 and small and "incremental" in c and "incremental" in small:
            add(c["label"], "incremental on 10M / on 1M", c["incremental"]["wall_seconds"] /
                small["incremental"]["wall_seconds"], TARGETS["incremental_10M_over_1M_max"], "x")
    return verdicts


def machine() -> dict:
    meminfo = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    import duckdb

    def git(*cmd: str) -> str:
        try:
            out = subprocess.run(["git", *cmd], cwd=ROOT, capture_output=True, text=True, timeout=30, check=False)
            return out.stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    return {"git_commit": git("rev-parse", "HEAD"),
            # other developers edit the same checkout: the files changed but not committed at the start
            "git_uncommitted": git("status", "--porcelain", "--untracked-files=no").splitlines(),
            "nproc": os.cpu_count(), "cpu": cpu, "mem_total_gb": int(meminfo["MemTotal"].split()[0]) / 2**20,
            "python": platform.python_version(), "duckdb": duckdb.__version__, "platform": platform.platform(),
            "loadavg_at_start": loadavg()}


def print_table(cases: list[dict], verdicts: list[dict]) -> None:
    def row(*cells):
        print("  ".join(str(c).ljust(w) for c, w in zip(cells, (34, 14, 14, 14, 14), strict=False)))

    for c in cases:
        print(f"\n{c['label']}: {c['data']['events']:,} events, {c['data']['order_rows']:,} order rows, "
              f"{c['data']['files']} files; floor marts equal the pipeline's: {c['marts_equal']}")
        row("measurement", "seconds", "peak RSS MB", "load before", "load after")
        items = [("floor (one DuckDB script)", c["floor"]["seconds"], c["floor"])]
        items += [(title, c[key]["wall_seconds"], c[key]) for key, title in
                  (("full_run", "full run from empty"), ("rerun", "re-run, nothing new"),
                   ("incremental", "incremental, +1 day")) if key in c]
        items += [(f"stage: {name}", s.get("seconds", float("nan")), s) for name, s in c.get("stages", {}).items()]
        for name, seconds, r in items:
            row(name, f"{seconds:.2f}", f"{r['peak_rss_mb']:.0f}", r["loadavg_before"][0], r["loadavg_after"][0])
        for run_key in ("full_run", "incremental"):
            steps = c.get(run_key, {}).get("dagster_steps") or {}
            for key, seconds in sorted(steps.items(), key=lambda kv: -kv[1])[:9]:
                row(f"  {run_key}: {key}"[:34], f"{seconds:.2f}", "", "", "")
        print(f"full run / floor: {c['ratio_full_run_over_floor']:.2f}x" + (
            f"; incremental / full run: {c['ratio_incremental_over_full']:.1%}" if "incremental" in c else ""))
        row("dashboard query", "p50 ms", "p95 ms", "page", "")
        for name, q in c.get("dashboard", {}).get("queries", {}).items():
            row(f"  {name}", f"{q['p50_ms']:.1f}", f"{q['p95_ms']:.1f}", q["page"], "")
    print("\ntargets:")
    for v in verdicts:
        status = "met" if v["met"] else ("FAILED" if "error" in v else f"MISSED by {v['miss_factor']:.2f}x")
        print(f"  {v['case']:<14} {v['target']:<32} {v['value']:>9.2f} {v['unit']:<3} (limit {v['limit']:g}) {status}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,10000000", help="events per data set, comma-separated")
    parser.add_argument("--formats", default="parquet,jsonl.gz", help="comma-separated: parquet, jsonl.gz, jsonl, mixed")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/funnel-bench"))
    parser.add_argument("--skip-generate", action="store_true", help="reuse the landing data in --workdir")
    parser.add_argument("--quick", action="store_true", help="tiny data (2,000 events over 14 days), for the tests")
    parser.add_argument("--days", type=int, default=None, help="days of history (default 365; --quick: 14)")
    parser.add_argument("--end-date", type=date.fromisoformat, default=None,
                        help="last day of the history (default: 3 days ago, UTC)")
    parser.add_argument("--window-days", type=int, default=30)
    parser.add_argument("--dashboard-reps", type=int, default=None, help="repetitions per query (default 20; --quick 3)")
    parser.add_argument("--profile", action="store_true", help="cProfile the Python stages (ingest, checks, publish)")
    parser.add_argument("--measure", default=",".join(MEASUREMENTS),
                        help=f"comma-separated subset of {','.join(MEASUREMENTS)} (the floor and the full run always)")
    parser.add_argument("--json", type=Path, default=None, help="where to write the results (default benchmarks/results/)")
    args = parser.parse_args(argv)
    if args.quick:
        sizes = [2000] if args.sizes == parser.get_default("sizes") else [int(s) for s in args.sizes.split(",")]
        args.days = args.days or 14
        args.dashboard_reps = args.dashboard_reps or 3
    else:
        sizes = [int(s) for s in args.sizes.split(",")]
    args.days = args.days or 365
    args.dashboard_reps = args.dashboard_reps or 20
    args.end_date = args.end_date or (datetime.now(UTC).date() - timedelta(days=3))
    args.measure = {m.strip() for m in args.measure.split(",") if m.strip()}
    if args.measure - set(MEASUREMENTS):
        parser.error(f"--measure: unknown {sorted(args.measure - set(MEASUREMENTS))}")
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    args.workdir = args.workdir.resolve()
    args.workdir.mkdir(parents=True, exist_ok=True)

    started = datetime.now(UTC)
    results = {"started_at": started.isoformat(), "machine": machine(), "targets": TARGETS,
               "options": {"sizes": sizes, "formats": formats, "workdir": str(args.workdir), "days": args.days,
                           "end_date": args.end_date.isoformat(), "window_days": args.window_days,
                           "dashboard_reps": args.dashboard_reps, "quick": args.quick,
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
