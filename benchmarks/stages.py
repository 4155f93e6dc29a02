"""One pipeline stage, run on its own in this process: `python -m benchmarks.stages STAGE ...`.

benchmarks.run starts each stage in a fresh process so that its peak memory (sampled from /proc)
is the stage's own; the stage's duration is measured here around the stage function only (not the
interpreter's start and imports) and printed as the last line of stdout, as JSON.

    imports                                  import pipelines.definitions (the Dagster definitions), as
                                             `funnel run` does before its run starts
    ingest    LANDING WAREHOUSE              pipelines.ingest.load.ingest_landing
    checks    WAREHOUSE                      data_checks.runner.run_all_checks (no Data Docs)
    publish   WAREHOUSE MANIFEST             pipelines.publish.publish
    writes    WAREHOUSE PUBLISHED SCRATCH    every table of both files copied once into SCRATCH (removed)
    dashboard PUBLISHED [--reps N]           every query of dashboards/data.py, caches cleared each time

`--profile FILE` runs the stage under cProfile and writes FILE (pstats) and FILE.txt (top functions).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import statistics
import sys
import time
import uuid
from pathlib import Path


def _settings_connect(warehouse: Path):
    from pipelines.core.settings import Settings
    from pipelines.core.warehouse import connect

    settings = Settings.from_env(None, warehouse)
    return connect(settings.warehouse, memory_limit=settings.duckdb_memory_limit, threads=settings.duckdb_threads)


def stage_imports(args) -> dict:
    started = time.perf_counter()
    import pipelines.definitions  # noqa: F401 - the import is what is measured

    return {"seconds": time.perf_counter() - started, "modules": len(sys.modules)}


def stage_ingest(args) -> dict:
    from pipelines.ingest.load import ingest_landing

    with _settings_connect(args.warehouse) as con:
        started = time.perf_counter()
        summary = ingest_landing(con, args.landing, run_id=args.run_id)
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "files": len(summary.files), "rows_loaded": summary.total("rows_loaded"),
            "rows_rejected": summary.total("rows_rejected"), "duplicates_dropped": summary.total("duplicates_dropped")}


def stage_checks(args) -> dict:
    try:
        from data_checks.runner import run_all_checks
    except ImportError as missing:  # the checks are another developer's work in progress
        return {"skipped": f"data_checks.runner.run_all_checks not importable: {missing}"}
    with _settings_connect(args.warehouse) as con:
        started = time.perf_counter()
        results = run_all_checks(con, args.run_id, build_docs=False)
        seconds = time.perf_counter() - started
    failed = [r.check_name for r in results if not r.passed]
    return {"seconds": seconds, "checks": len(results), "failed": failed}


def stage_publish(args) -> dict:
    from pipelines.core.settings import Settings
    from pipelines.dbt_build import build_fingerprint
    from pipelines.ingest.ledger import ensure_tables
    from pipelines.publish import publish

    fingerprint = build_fingerprint(Settings.from_env().conversion_window_days)
    with _settings_connect(args.warehouse) as con:
        ensure_tables(con)
        started = time.perf_counter()
        # A first publish (no earlier copy): every table is copied whole.
        summary = publish(con, Path(args.warehouse).resolve(), Path(args.manifest), fingerprint)
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "bytes": summary.path.stat().st_size}


def stage_writes(args) -> dict:
    """What writing a full run's tables costs on this machine: every table of the warehouse and of the
    published copy copied once into a scratch DuckDB file with the pipeline's settings (read from its
    compressed columns, compressed and written again). A full run writes each of them at least once
    (the raw rows, each model's table, the published copy); the floor writes two of them."""
    scratch = Path(args.scratch)
    tables: dict[str, list[dict]] = {}
    try:
        with _settings_connect(scratch) as con:
            for alias, path in (("warehouse", args.warehouse), ("published", args.published)):
                con.execute(f"ATTACH '{Path(path).resolve()}' AS {alias} (READ_ONLY)")
                listed = con.execute(
                    "SELECT schema_name, table_name, estimated_size FROM duckdb_tables() "
                    "WHERE database_name = ? ORDER BY estimated_size DESC, schema_name, table_name", [alias]
                ).fetchall()
                for schema, table, rows in listed:
                    started = time.perf_counter()
                    con.execute(f'CREATE TABLE copied AS SELECT * FROM {alias}.{schema}."{table}"')
                    seconds = time.perf_counter() - started
                    con.execute("DROP TABLE copied")
                    con.execute("CHECKPOINT")  # every copy starts from a clean file, none pays for the last
                    tables.setdefault(alias, []).append({"table": f"{schema}.{table}", "rows": rows, "seconds": seconds})
    finally:
        for leftover in (scratch, scratch.with_name(scratch.name + ".wal")):
            leftover.unlink(missing_ok=True)
    totals = {f"{alias}_seconds": sum(t["seconds"] for t in copied) for alias, copied in tables.items()}
    return {"seconds": sum(totals.values()), **totals, "tables": tables, "scratch": str(scratch)}


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=100, method="inclusive")[int(q) - 1]


def dashboard_queries():
    """(page, query name, callable) for what each page of dashboards/app_pages reads."""
    import datetime as dt

    from dashboards import data

    bounds = data.dimension_values()["cohort_dates"]
    end = bounds[1] if bounds else dt.date.today()
    f = data.Filters(start=end - dt.timedelta(days=27), end=end)  # the pages' default: the last 4 weeks
    prev = f.shifted_back()
    queries = [
        ("overview", "status", data.status),
        ("overview", "kpis(week)", lambda: data.kpis("week")),
        ("overview", "targets", data.targets),
        ("funnel", "dimension_values", data.dimension_values),
        ("funnel", "funnel_totals", lambda: data.funnel_totals(f)),
        ("funnel", "funnel_totals(previous)", lambda: data.funnel_totals(prev)),
        ("funnel", "funnel_by_period(week)", lambda: data.funnel_by_period(f, "week")),
        ("funnel", "time_to_convert", lambda: data.time_to_convert(f)),
        ("funnel", "breakdown(plan)", lambda: data.breakdown(f, "plan")),
        ("funnel", "breakdown(country)", lambda: data.breakdown(f, "country")),
        ("funnel", "breakdown(customer_type)", lambda: data.breakdown(f, "customer_type")),
        ("dropoff", "dropoffs", lambda: data.dropoffs(f)),
        ("dropoff", "payment_failures", lambda: data.payment_failures(f, 4)),
        ("intervention", "kpis(month)", lambda: data.kpis("month")),
        ("intervention", "interventions", lambda: data.interventions(f.start, f.end)),
        ("intervention", "latest_intervened_orders", lambda: data.latest_intervened_orders(50)),
        ("health", "audit(pipeline_runs)", lambda: data.audit("pipeline_runs")),
        ("health", "audit(check_results)", lambda: data.audit("check_results")),
        ("health", "audit(rejected_by_reason)", lambda: data.audit("rejected_by_reason")),
        ("health", "audit(load_ledger)", lambda: data.audit("load_ledger")),
        ("sql", "schema", data.schema),
    ]
    return queries


def stage_dashboard(args) -> dict:
    import logging
    import warnings

    os.environ["FUNNEL_PUBLISHED"] = str(Path(args.published).resolve())
    warnings.filterwarnings("ignore")
    logging.getLogger("streamlit").setLevel(logging.ERROR)
    import streamlit as st

    for name in list(logging.root.manager.loggerDict):
        if name.startswith("streamlit"):
            logging.getLogger(name).setLevel(logging.ERROR)

    queries = dashboard_queries()
    times: dict[str, list[float]] = {name: [] for _, name, _ in queries}
    pages: dict[str, list[float]] = {}
    started = time.perf_counter()
    for _ in range(args.reps):
        page_totals: dict[str, float] = {}
        for page, name, call in queries:
            st.cache_data.clear()  # every repetition is a cold read of the published copy
            t0 = time.perf_counter()
            call()
            elapsed = time.perf_counter() - t0
            times[name].append(elapsed)
            page_totals[page] = page_totals.get(page, 0.0) + elapsed
        for page, total in page_totals.items():
            pages.setdefault(page, []).append(total)
    seconds = time.perf_counter() - started
    page_of = {name: page for page, name, _ in queries}
    return {
        "seconds": seconds,
        "reps": args.reps,
        "queries": {name: {"page": page_of[name], "p50_ms": 1000 * _percentile(v, 50),
                           "p95_ms": 1000 * _percentile(v, 95), "max_ms": 1000 * max(v)}
                    for name, v in times.items()},
        "pages": {page: {"p50_ms": 1000 * _percentile(v, 50), "p95_ms": 1000 * _percentile(v, 95)}
                  for page, v in pages.items()},
    }


STAGES = {"imports": stage_imports, "ingest": stage_ingest, "checks": stage_checks, "publish": stage_publish, "dashboard": stage_dashboard,
          "writes": stage_writes}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.stages")
    parser.add_argument("stage", choices=sorted(STAGES))
    parser.add_argument("paths", nargs="*", type=Path)
    parser.add_argument("--run-id", default=None)
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--profile", type=Path, default=None)
    args = parser.parse_args(argv)
    args.run_id = args.run_id or f"bench-{uuid.uuid4()}"
    match args.stage:
        case "ingest":
            args.landing, args.warehouse = args.paths
        case "checks":
            (args.warehouse,) = args.paths
        case "publish":
            args.warehouse, args.manifest = args.paths
        case "dashboard":
            (args.published,) = args.paths
        case "writes":
            args.warehouse, args.published, args.scratch = args.paths
    stage = STAGES[args.stage]
    if args.profile:
        profiler = cProfile.Profile()
        result = profiler.runcall(stage, args)
        profiler.dump_stats(str(args.profile))
        text = io.StringIO()
        stats = pstats.Stats(profiler, stream=text).strip_dirs().sort_stats("cumulative")
        stats.print_stats(40)
        stats.sort_stats("tottime").print_stats(25)
        Path(str(args.profile) + ".txt").write_text(text.getvalue())
        result["profile"] = str(args.profile)
    else:
        result = stage(args)
    sys.stdout.flush()
    print("\n" + json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
