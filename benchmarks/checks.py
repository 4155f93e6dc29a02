"""Measure the data checks at scale: `python -m benchmarks.checks [--events 10000000] [--keep FILE]`.

Builds a warehouse the way production does: `funnel generate` data (`tools.generate`, Parquet,
about N events over 90 days) loaded by the real pipeline (`pipelines.run.run_pipeline`: ingestion,
dbt, checks, publishing), then times `run_all_checks` on it (GX Data Docs included unless
--no-docs). --keep FILE builds there (the generated landing directory is kept beside it, `<stem>.landing`)
or, when FILE exists, times the checks on it without building.
There is no second copy of the KPI logic here: the marts are dbt's.

`--ops` times instead what a pipeline run pays: each Dagster check op's checks (`pipelines.checks.
CHECK_GROUPS`) on a fresh connection, over whole tables and scoped to the newest load in the ledger (as
if this run had just loaded it), nothing written. On a warehouse built by `funnel run`:
`python -m benchmarks.checks --keep WAREHOUSE --ops` (a copy: --keep opens it read-write).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import duckdb

EVENTS_PER_CHECKOUT = 3.6  # what the generator's planted funnel gives on average (benchmarks/run.py)
DAYS = 90


def build_warehouse(path: Path, events: int) -> None:
    """About `events` generated events (Parquet, DAYS days) through the real pipeline into `path`."""
    from pipelines.core.settings import Settings
    from pipelines.run import run_pipeline
    from tools.generate import generate_landing

    landing = path.with_name(f"{path.stem}.landing")
    if not (landing / "_generation.json").exists():
        generate_landing(landing, days=DAYS, checkouts_per_day=max(1, round(events / DAYS / EVENTS_PER_CHECKOUT)),
                         seed=1, end_date=date.today() - timedelta(days=1), formats="parquet")
    run_pipeline(Settings.from_env(landing_dir=landing, warehouse=path))


def time_ops(path: Path, threads: int, repeat: int = 1) -> None:
    """Seconds (wall, process CPU) per check op, whole tables vs scoped to the newest load."""
    from data_checks.catalog import all_checks
    from data_checks.runner import run_checks
    from pipelines.checks import CHECK_GROUPS

    with duckdb.connect(str(path), read_only=True) as con:
        [(newest,)] = con.execute("SELECT max(event_time) FROM raw.checkout_events").fetchall()
        [(last,)] = con.execute(
            "SELECT run_id FROM audit.load_ledger ORDER BY loaded_at DESC, run_id LIMIT 1"
        ).fetchall()
    now = newest + timedelta(hours=1)
    checks = all_checks()
    print(f"newest load: {last}")
    for label, loads in (("whole tables", None), ("newest load", [last])):
        total_wall = total_cpu = 0.0
        for op, assets in CHECK_GROUPS.items():
            selected = [c for c in checks if c.asset in assets]
            best = None
            for _ in range(repeat):
                wall, cpu = time.perf_counter(), time.process_time()
                with duckdb.connect(str(path), read_only=True) as con:
                    con.execute(f"SET threads = {threads}")
                    con.execute("SET TimeZone = 'UTC'")
                    # As a run's check step: the newest load's rows and the latest build's (run_unverified).
                    results = run_checks(con, "bench", selected, now=now, write=False, loads=loads,
                                         latest_build=loads is not None)
                took = (time.perf_counter() - wall, time.process_time() - cpu)
                best = took if best is None or took[0] < best[0] else best
            failed = [r.check_name for r in results if not r.passed]
            print(f"{label:13s} {op:24s} {best[0]:6.2f} s wall {best[1]:6.2f} s CPU  failed: {failed or '-'}")
            total_wall += best[0]
            total_cpu += best[1]
        print(f"{label:13s} {f'all {len(CHECK_GROUPS)} ops':24s} {total_wall:6.2f} s wall {total_cpu:6.2f} s CPU")


def main(argv: list[str] | None = None) -> int:
    from data_checks.runner import any_blocking_failure, format_results, run_all_checks

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--keep", help="the warehouse file: built there (and kept) unless it exists; "
                        "default: a temporary file")
    parser.add_argument("--no-docs", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--ops", action="store_true", help="time each Dagster check op, whole vs newest load")
    parser.add_argument("--repeat", type=int, default=1, help="with --ops: best of N")
    args = parser.parse_args(argv)
    if args.ops:
        if not args.keep:
            parser.error("--ops needs --keep WAREHOUSE (an existing warehouse)")
        time_ops(Path(args.keep), args.threads, args.repeat)
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.keep) if args.keep else Path(tmp) / "warehouse.duckdb"
        started = time.perf_counter()
        if not path.exists():
            build_warehouse(path, args.events)
        built = time.perf_counter() - started
        con = duckdb.connect(str(path))
        con.execute(f"SET threads = {args.threads}")
        con.execute("SET TimeZone = 'UTC'")
        [(n_events,)] = con.execute("SELECT count(*) FROM raw.checkout_events").fetchall()
        [(newest,)] = con.execute("SELECT max(event_time) FROM raw.checkout_events").fetchall()
        started = time.perf_counter()
        results = run_all_checks(con, "bench", now=newest + timedelta(hours=1), build_docs=not args.no_docs,
                                 docs_dir=Path(tmp) / "gx_docs")
        elapsed = time.perf_counter() - started
        print(format_results(results))
        print(f"warehouse: {n_events:,} raw events, built in {built:.1f} s")
        print(f"run_all_checks: {len(results)} checks in {elapsed:.1f} s "
              f"({'with' if not args.no_docs else 'without'} Data Docs, {args.threads} threads)")
        con.close()
        return 1 if any_blocking_failure(results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
