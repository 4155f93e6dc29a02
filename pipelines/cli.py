"""The `funnel` command. Thin: each subcommand calls the modules that do the work."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from pipelines import speedups
from pipelines.core.settings import Settings, prepare_process

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_BUSY = 75  # EX_TEMPFAIL: try again once the other writer is done


def _fail(message: str, code: int = EXIT_FAILED) -> int:
    print(f"funnel: {message}", file=sys.stderr)
    return code


def cmd_generate(args: argparse.Namespace) -> int:
    from datetime import date

    from tools.generate import SegmentChange, generate_landing

    try:
        summary = generate_landing(
            Path(args.out),
            days=args.days,
            checkouts_per_day=args.checkouts_per_day,
            seed=args.seed,
            formats=args.format,
            end_date=date.fromisoformat(args.end_date) if args.end_date else None,
            id_prefix=args.id_prefix,
            history_days=args.history_days,
            segment_change=SegmentChange.parse(args.rate_change) if args.rate_change else None,
            **dict(args.rate),
        )
    except (ValueError, TypeError) as invalid:
        return _fail(str(invalid), EXIT_USAGE)
    print(
        f"wrote {summary.events:,} events and {summary.order_rows:,} order rows "
        f"in {len(summary.files)} files to {args.out}"
    )
    return 0


def planted_rate(text: str) -> tuple[str, float | tuple[float, ...]]:
    """`NAME=VALUE` or `NAME=V1,V2,...` for --rate (a field of tools.generate.PlantedRates)."""
    name, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    try:
        numbers = tuple(float(v) for v in value.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{name}: not a number or list of numbers: {value!r}") from None
    return name, numbers if len(numbers) > 1 else numbers[0]


def cmd_run(args: argparse.Namespace) -> int:
    from pipelines.core.warehouse import WarehouseBusyError
    from pipelines.run import PipelineFailed, run_pipeline

    settings = Settings.from_env(args.landing, args.warehouse)
    if not settings.landing_dir.is_dir():
        return _fail(
            f"landing directory {settings.landing_dir} does not exist: pass --landing DIR or set "
            "FUNNEL_LANDING_DIR (`funnel generate --out DIR` makes sample data)",
            EXIT_USAGE,
        )
    from pipelines.engines import UnknownTarget, resolve_target

    try:
        target = resolve_target(args.target)
    except UnknownTarget as unknown:
        return _fail(str(unknown), EXIT_USAGE)
    try:
        if target == "duckdb":
            outcome = run_pipeline(settings, wait_seconds=args.wait)
        else:
            from pipelines.engines.run import run_on_target

            outcome = run_on_target(settings, target, wait_seconds=args.wait)
    except WarehouseBusyError as busy:
        return _fail(str(busy), EXIT_BUSY)
    except PipelineFailed as failed:
        print(failed.report)
        return _fail(f"{failed}\nThe published data for readers was left as it was at the last good run.")
    print(outcome.report)
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from pipelines.run import run_checks_on_demand

    settings = Settings.from_env(None, args.warehouse)
    if not settings.warehouse.exists():
        return _fail(f"warehouse {settings.warehouse} does not exist: run `funnel run` first", EXIT_USAGE)
    report, blocking_failure = run_checks_on_demand(settings)
    print(report)
    return EXIT_FAILED if blocking_failure else 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    from dashboards.launch import serve

    settings = Settings.from_env(None, args.warehouse)
    if not settings.published.exists():
        return _fail(
            f"no published data at {settings.published}: run `funnel run --warehouse {settings.warehouse}` first",
            EXIT_USAGE,
        )
    return serve(settings.published, port=args.port, address=args.host)


def cmd_dagster(args: argparse.Namespace) -> int:
    """`dagster dev` (the UI, and the daemon that runs launched runs, the sensor and the schedule) over
    the warehouse's Dagster instance, the one `funnel run` records into."""
    import signal
    import subprocess

    from pipelines.core.settings import PROJECT_ROOT
    from pipelines.lifecycle import dagster_home

    settings = Settings.from_env(args.landing, args.warehouse)
    home = dagster_home(settings.warehouse)
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "DAGSTER_DISABLE_TELEMETRY": "1",
        "FUNNEL_WAREHOUSE": str(settings.warehouse),
        "FUNNEL_LANDING_DIR": str(settings.landing_dir),
    }
    dagster = str(Path(sys.executable).with_name("dagster"))
    command = [dagster, "dev", "-w", str(PROJECT_ROOT / "workspace.yaml"), "-h", args.host, "-p", str(args.port)]
    print(
        f"Dagster UI on http://{args.host}:{args.port} for {settings.warehouse} (landing {settings.landing_dir}, "
        f"Dagster instance {home}); Ctrl-C stops it",
        flush=True,
    )
    # `dagster dev` shuts its webserver, daemon and code servers down on SIGINT only: SIGTERM to this
    # command becomes SIGINT to it. A command started in the background ignores SIGINT, and a child
    # would inherit that; a handled signal is reset to its default in the child instead.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    child = subprocess.Popen(command, env=env, cwd=PROJECT_ROOT)
    signal.signal(signal.SIGTERM, lambda *_: child.send_signal(signal.SIGINT))
    while True:
        try:
            return child.wait()
        except KeyboardInterrupt:  # Ctrl-C reached `dagster dev` too: wait for it to stop
            continue


def cmd_dbt(args: argparse.Namespace) -> int:
    import subprocess

    from pipelines.core.settings import DBT_PROJECT_DIR, dbt_executable
    from pipelines.engines import TARGETS
    from pipelines.engines.build import target_env

    settings = Settings.from_env(warehouse=args.warehouse)
    argv = args.dbt_args[1:] if args.dbt_args[:1] == ["--"] else list(args.dbt_args)
    if not argv:
        return _fail("give dbt a command, e.g. `funnel dbt build --select +kpi_weekly`", EXIT_USAGE)
    given = next((argv[i + 1] for i, arg in enumerate(argv[:-1]) if arg in ("--target", "-t")), None)
    target = given or settings.target
    # An engine's target gets what its runs get (PostgreSQL's UTC, Spark's raw Parquet); the profile's
    # other targets (the read-only `published`) the settings alone.
    dbt_env = target_env(target, settings) if target in TARGETS else settings.dbt_env()
    env = {**os.environ, **dbt_env}  # telemetry: off in dbt_project.yml's flags
    dbt = dbt_executable()
    command = argv if given else [*argv, "--target", target]
    return subprocess.run([str(dbt), *command], cwd=DBT_PROJECT_DIR, env=env, check=False).returncode


def cmd_settings(args: argparse.Namespace) -> int:
    """Every setting: its variable, the value in force, its default and what it does."""
    from pipelines.core.settings import setting_docs

    settings = Settings.from_env()
    for (variable, default, meaning), value in zip(setting_docs(), settings.environment_values(), strict=True):
        print(f"{variable}={value}\n    default: {default or '(derived, see below)'}\n    {meaning}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """The weekly KPI brief as HTML and PDF; with --send, also what is due (docs/reports.md)."""
    from pipelines.brief import brief_and_deliver, write_brief
    from pipelines.brief.data import BriefError, parse_week
    from pipelines.core.warehouse import WarehouseBusyError

    settings = Settings.from_env(None, args.warehouse)
    if args.out:
        settings = settings.with_(reports_dir=Path(args.out))
    try:
        if args.send:
            if args.week or args.explain:
                return _fail("--send sends the latest brief: leave out --week and --explain", EXIT_USAGE)
            files = brief_and_deliver(settings)
        else:
            files = write_brief(settings, parse_week(args.week) if args.week else None, explain=tuple(args.explain))
    except (BriefError, FileNotFoundError) as error:
        return _fail(str(error), EXIT_USAGE)
    except WarehouseBusyError as busy:
        return _fail(str(busy), EXIT_BUSY)
    print(f"{files.brief.label}: {files.html} and {files.pdf}")
    for line in files.brief.moved:
        print(f"moved: {line.kpi.label} {line.kpi.format(line.previous_value)} -> {line.kpi.format(line.value)}")
    for delivery in files.deliveries:
        print(f"{delivery.status} {delivery.kind} {delivery.key} by {delivery.channel} to {delivery.recipient}"
              + (f": {delivery.error}" if delivery.error else ""))
    return 0


def cmd_sql(args: argparse.Namespace) -> int:
    from pipelines.engines import UnknownTarget, resolve_target
    from pipelines.engines.sql import SqlError, format_result, run_sql

    settings = Settings.from_env(None, args.warehouse)
    try:
        target = resolve_target(args.target)
    except UnknownTarget as unknown:
        return _fail(str(unknown), EXIT_USAGE)
    query = sys.stdin.read() if args.query == "-" else args.query
    try:
        result = run_sql(target, query, settings, row_limit=args.max_rows, timeout_s=args.timeout)
    except SqlError as failed:
        return _fail(str(failed))
    sys.stdout.write(format_result(result.columns, result.rows, args.format))
    if result.truncated:
        print(f"funnel: showing the first {args.max_rows:,} rows only (--max-rows)", file=sys.stderr)
    return 0


def _names(text: str | None) -> list[str]:
    """`a,b , c` -> ["a", "b", "c"] (--metrics, --group-by, --order)."""
    return [name.strip() for name in (text or "").split(",") if name.strip()]


def cmd_metrics(args: argparse.Namespace) -> int:
    from pipelines.engines import UnknownTarget, resolve_target
    from pipelines.engines.sql import format_result
    from pipelines.metrics import MetricsError, SemanticLayer, catalog_text

    if not args.list and not args.metrics:
        return _fail("metrics: give --metrics M[,M...] (or --list to see them)", EXIT_USAGE)
    settings = Settings.from_env(None, args.warehouse)
    try:
        layer = SemanticLayer(settings, resolve_target(args.target))
    except (UnknownTarget, MetricsError) as failed:
        return _fail(str(failed), EXIT_USAGE)
    try:
        if args.list:
            sys.stdout.write(catalog_text(layer, _names(args.metrics)))
            return 0
        # Without --order, rows come in the order of the --group-by columns (MetricFlow's is arbitrary).
        result = layer.query(_names(args.metrics), _names(args.group_by), args.where, args.start, args.end,
                             _names(args.order) or _names(args.group_by))
    except MetricsError as failed:
        return _fail(str(failed), EXIT_USAGE)
    finally:
        layer.close()
    sys.stdout.write(format_result(result.columns, result.rows, args.format))
    if args.show_sql:
        print(result.sql, file=sys.stderr)
    return 0


def cmd_docs(args: argparse.Namespace) -> int:
    import signal

    from pipelines.dbt_docs import DocsSiteError, docs_server, docs_site_path, generate_site, site_is_stale

    settings = Settings.from_env(None, args.warehouse)
    site = docs_site_path(settings.warehouse)
    if site_is_stale(settings):
        print("generating the dbt docs site (dbt docs generate on the published copy)...", flush=True)
        try:
            generate_site(settings)
        except (FileNotFoundError, DocsSiteError) as failed:
            return _fail(str(failed))
    try:
        server = docs_server(site, args.host, args.port)
    except OSError as failed:
        return _fail(f"cannot serve on {args.host}:{args.port}: {failed.strerror}")
    print(f"dbt docs on http://{args.host}:{args.port} ({site}); Ctrl-C stops it", flush=True)
    # Ctrl-C or SIGTERM stops it, even when started in the background (which ignores SIGINT).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def _utc_datetime(text: str):
    """--start / --end: an ISO date or date-time, UTC."""
    from datetime import datetime

    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date or date-time: {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="funnel", description="Checkout funnel KPIs: load, build, check, serve.")
    commands = parser.add_subparsers(dest="command", required=True)

    generate = commands.add_parser("generate", help="write synthetic landing data in every contract format")
    generate.add_argument("--out", required=True, help="landing directory to write")
    generate.add_argument("--days", type=int, default=90)
    generate.add_argument("--checkouts-per-day", type=int, default=200)
    generate.add_argument("--seed", type=int, default=0)
    generate.add_argument("--format", default="mixed", choices=["mixed", "parquet", "jsonl.gz", "jsonl"])
    generate.add_argument("--end-date", help="last day of data (UTC, YYYY-MM-DD); default yesterday")
    generate.add_argument("--id-prefix", default="", help="prefix for ids, to add a later batch beside an earlier one")
    generate.add_argument("--history-days", type=int, default=90,
                          help="days before the range holding returning customers' earlier orders (first call); "
                               "0: none, orders and checkouts cover the same days")
    generate.add_argument(
        "--rate", type=planted_rate, action="append", default=[], metavar="NAME=VALUE",
        help="plant a rate, e.g. manual_intervention_rate=0.1 or step_continue=0.7,0.8,0.75,0.9 (docs/generator.md)",
    )
    generate.add_argument(
        "--rate-change", metavar="RATE=VALUE,COLUMN=SEGMENT,since=YYYY-MM-DD",
        help="plant a rate in one segment from a day on, e.g. order_rate=0.2,device=mobile,since=2026-10-05",
    )
    generate.set_defaults(handler=cmd_generate)

    run = commands.add_parser("run", help="load new files, rebuild the marts, check, publish")
    run.add_argument("--landing", help="landing directory (default $FUNNEL_LANDING_DIR or data/landing)")
    run.add_argument("--warehouse", help="DuckDB file (default $FUNNEL_WAREHOUSE or data/warehouse.duckdb)")
    run.add_argument("--wait", type=float, default=0.0, help="seconds to wait for another run to finish")
    run.add_argument(
        "--target", help="engine to build on: duckdb (default), postgres or spark (default $FUNNEL_TARGET)"
    )
    run.set_defaults(handler=cmd_run)

    check = commands.add_parser("check", help="run every data check now; non-zero exit on an error-level failure")
    check.add_argument("--warehouse")
    check.set_defaults(handler=cmd_check)

    sql = commands.add_parser("sql", help="run one read-only query against the public tables of a target")
    sql.add_argument("query", help="the SQL query ('-' reads it from standard input)")
    sql.add_argument("--target", help="duckdb (the published copy; default), postgres or spark (default $FUNNEL_TARGET)")
    sql.add_argument("--format", default="table", choices=["table", "csv", "json"])
    sql.add_argument("--warehouse", help="DuckDB file whose published copy is read (and beside which Spark keeps its tables)")
    sql.add_argument("--max-rows", type=int, default=10_000, help="rows at most (default 10000)")
    sql.add_argument("--timeout", type=float, default=60.0, help="seconds before the query is stopped (default 60)")
    sql.set_defaults(handler=cmd_sql)

    brief = commands.add_parser("report", help="write leadership's weekly KPI brief (HTML and PDF) from the published copy")
    brief.add_argument("--week", help="ISO week YYYY-Www, closed (default: the latest closed week)")
    brief.add_argument("--out", help="folder to write to (default $FUNNEL_REPORTS_DIR or reports/ beside the warehouse)")
    brief.add_argument("--warehouse", help="DuckDB file whose published copy is read")
    brief.add_argument("--explain", action="append", default=[], metavar="KPI",
                       help="show what drove a rate's change even when it did not move (repeatable)")
    brief.add_argument("--send", action="store_true",
                       help="also send the brief and the alerts that are due and not yet sent (docs/reports.md)")
    brief.set_defaults(handler=cmd_report)

    dashboard = commands.add_parser("dashboard", help="serve the KPI dashboard")
    dashboard.add_argument("--warehouse")
    dashboard.add_argument("--port", type=int, default=8501)
    dashboard.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    dashboard.set_defaults(handler=cmd_dashboard)

    dbt = commands.add_parser(
        "dbt", help="run a dbt command on the project with the settings in force (profiles.yml reads them)",
        description="Runs `dbt ARGS` in dbt_project/ with every FUNNEL_* setting handed to dbt (the profile and "
                    "the conversion window read them; they have no defaults of their own) and --target "
                    "$FUNNEL_TARGET unless ARGS name a target, e.g. `funnel dbt build --select +kpi_weekly`.")
    dbt.add_argument("--warehouse", help="DuckDB file (default $FUNNEL_WAREHOUSE or data/warehouse.duckdb)")
    dbt.add_argument("dbt_args", nargs=argparse.REMAINDER, metavar="ARGS", help="dbt's command and options")
    dbt.set_defaults(handler=cmd_dbt)

    shown = commands.add_parser("settings", help="print every FUNNEL_* setting: value in force, default, meaning")
    shown.set_defaults(handler=cmd_settings)
    ui = commands.add_parser("dagster", help="serve the Dagster UI over the runs `funnel run` recorded")
    ui.add_argument("--warehouse", help="DuckDB file (default $FUNNEL_WAREHOUSE or data/warehouse.duckdb)")
    ui.add_argument("--landing", help="landing directory runs launched from the UI read (default $FUNNEL_LANDING_DIR or data/landing)")
    ui.add_argument("--port", type=int, default=3000)
    ui.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    ui.set_defaults(handler=cmd_dagster)

    metrics = commands.add_parser("metrics", help="query the KPIs as dbt semantic-layer metrics by any dimension (MetricFlow)")
    metrics.add_argument("--metrics", help="metrics to compute, comma-separated (see --list)")
    metrics.add_argument("--list", action="store_true", help="list the metrics and the dimensions they can be grouped by")
    metrics.add_argument("--group-by", help="dimensions, comma-separated, e.g. metric_time__week,checkout__plan")
    metrics.add_argument("--where", action="append", default=[],
                         help="filter, e.g. \"{{ Dimension('checkout__plan') }} = 'pro'\" (repeatable)")
    metrics.add_argument("--start", type=_utc_datetime, help="first metric_time (ISO date, UTC)")
    metrics.add_argument("--end", type=_utc_datetime, help="last metric_time (ISO date, UTC)")
    metrics.add_argument("--order", help="columns to order by, comma-separated; a leading '-' sorts descending")
    metrics.add_argument("--format", default="table", choices=["table", "csv", "json"])
    metrics.add_argument("--show-sql", action="store_true", help="also print the SQL MetricFlow ran (on standard error)")
    metrics.add_argument("--target", help="duckdb (the published copy; default) or postgres (default $FUNNEL_TARGET)")
    metrics.add_argument("--warehouse", help="DuckDB file whose published copy is read")
    metrics.set_defaults(handler=cmd_metrics)

    docs = commands.add_parser("docs", help="serve the dbt docs site (models, columns, tests, lineage, metrics)")
    docs.add_argument("--warehouse", help="DuckDB file whose published copy is documented")
    docs.add_argument("--port", type=int, default=8580)
    docs.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    docs.set_defaults(handler=cmd_docs)
    return parser


def main(argv: list[str] | None = None) -> int:
    prepare_process()
    args = build_parser().parse_args(argv)
    return args.handler(args)


def console() -> None:
    """The `funnel` console script: `main` with the garbage collector tuned for a short-lived process.

    A run holds millions of long-lived objects (Dagster, dbt's manifest, Great Expectations). With
    CPython's default thresholds a +1-day run at 10M events spent ~1.1 s in ~1,200 collections over
    them, and the interpreter's exit another ~1.3 s in a last full collection (pipelines/speedups).
    Tests call `main` directly and keep the defaults."""
    try:
        settings = Settings.from_env()
    except ValueError as error:  # a FUNNEL_* variable that does not parse
        sys.exit(_fail(str(error), EXIT_USAGE))
    with speedups.tuned_gc(settings):
        code = main()
    sys.exit(code)


if __name__ == "__main__":
    console()
