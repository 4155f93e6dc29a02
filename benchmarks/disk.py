"""Where a run's bytes and a day's seconds go: the warehouse and the published copy on disk, the
split of a one-more-day run into imports, Dagster, dbt nodes, checks and publishing, and how far
back in the history that day's order changes reach."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MILLION = 1_000_000


def _text(folder: Path, pattern: str) -> str:
    return "\n".join(p.read_text() for p in sorted(folder.rglob(pattern)) if p.is_file())


def published_tables(published: Path) -> list[dict]:
    """Each table of the published copy: rows, bytes (its storage blocks), and which readers name it:
    the dashboard, the weekly brief, the semantic layer (`funnel metrics`), analysts (`funnel sql`,
    the public tables of kpi-definitions.md), the copy's own bookkeeping."""
    import duckdb

    from pipelines.engines.compare import PUBLIC_TABLES

    dashboard = _text(ROOT / "dashboards", "*.py")
    brief = _text(ROOT / "pipelines" / "brief", "*.py")
    semantic = _text(ROOT / "dbt_project" / "models" / "semantic", "*")
    con = duckdb.connect(str(published), read_only=True)
    try:
        (block_size,) = con.execute("SELECT block_size FROM pragma_database_size()").fetchone()
        tables = con.execute(
            "SELECT schema_name, table_name, estimated_size FROM duckdb_tables() ORDER BY ALL"
        ).fetchall()
        out = []
        for schema, table, rows in tables:
            (blocks,) = con.execute(
                f"SELECT count(DISTINCT block_id) FROM pragma_storage_info('{schema}.{table}') WHERE persistent"
            ).fetchone()
            named = f"{schema}.{table}"
            readers = [name for name, reads in (
                ("dashboard", named in dashboard),
                ("brief", named in brief),
                ("semantic layer", schema == "marts" and table in semantic),
                ("analysts", schema == "marts" and table in PUBLIC_TABLES),
                ("bookkeeping", schema == "meta"),
            ) if reads]
            out.append({"table": named, "rows": rows, "bytes": blocks * block_size, "readers": readers})
        return out
    finally:
        con.close()


def disk_usage(warehouse: Path, published: Path, events: int) -> dict:
    """Bytes of the warehouse and of the published copy, in all and per million events, and whether
    every table of the copy has a reader."""
    tables = published_tables(published)
    sizes = {"warehouse": warehouse.stat().st_size, "published": published.stat().st_size}
    return {
        **{f"{name}_bytes": size for name, size in sizes.items()},
        **{f"{name}_mb_per_million_events": size / 2**20 / (events / MILLION) for name, size in sizes.items()},
        "published_tables": tables,
        "published_tables_without_reader": [t["table"] for t in tables if not t["readers"]],
    }


def day_split(run: dict, dbt_target: Path, imports_seconds: float | None) -> dict[str, float]:
    """Where the seconds of one `funnel run` went (a one-more-day run): start-up outside the Dagster
    run (of which `imports_seconds` are the imports and definitions), each Dagster step, Dagster's
    own time between the steps (events, storage), and within the dbt step: dbt's own elapsed time
    (the rest of the step is dbt's start-up and parsing) and its nodes' time by kind, summed over
    dbt's threads (so it can exceed the elapsed time). Both from run_results.json in `dbt_target`."""
    steps = dict(run.get("dagster_steps") or {})
    whole = steps.pop("(dagster run, all steps)", 0.0)
    split = {"outside the Dagster run (start-up, imports, report)": run["wall_seconds"] - whole}
    if imports_seconds is not None:
        split["  of which: import pipelines.definitions"] = imports_seconds
    split.update({f"step {name}": seconds for name, seconds in steps.items()})
    split["Dagster between steps (events, storage)"] = whole - sum(steps.values())
    results = dbt_target / "run_results.json"
    if results.exists() and "dbt_models" in steps:
        recorded = json.loads(results.read_text())
        split["  dbt_models: dbt's elapsed time"] = recorded["elapsed_time"]
        split["  dbt_models: start-up and parse"] = steps["dbt_models"] - recorded["elapsed_time"]
        by_kind: dict[str, float] = {}
        for node in recorded["results"]:
            kind = node["unique_id"].split(".")[0]
            by_kind[kind] = by_kind.get(kind, 0.0) + (node.get("execution_time") or 0.0)
        split.update({f"  dbt_models: {kind} nodes (summed over threads)": t for kind, t in sorted(by_kind.items())})
    return split


def day_reach(warehouse: Path) -> dict:
    """How far back in the history the newest load's orders reach: its order versions, how many of
    them change an order loaded before (not a new order), the days those changed orders were created
    on and the cohort days of their checkouts (`marts.dash_checkout_steps`, the home of a checkout's
    cohort day) against all cohort days, and the changed orders' age in days at the newest
    `created_at` of the load (median, p90, oldest). A day whose changes reach most of the history
    makes every table that holds them rewrite rows all over it (docs/performance.md)."""
    from pipelines.core.warehouse import connect

    with connect(warehouse, read_only=True) as con:  # the pipeline's session settings (UTC)
        con.execute("SET enable_progress_bar = false")
        row = con.execute("""
            WITH newest AS (SELECT max(_loaded_at) AS loaded_at FROM raw.orders),
            day AS (
                SELECT o.order_id, o.checkout_id, o.created_at
                FROM raw.orders AS o JOIN newest AS n ON o._loaded_at = n.loaded_at
            ),
            changed AS (
                SELECT * FROM day
                WHERE order_id IN (SELECT order_id FROM raw.orders, newest WHERE _loaded_at < newest.loaded_at)
            ),
            ages AS (
                SELECT date_diff('day', c.created_at, (SELECT max(created_at) FROM day)) AS age_days FROM changed AS c
            )
            SELECT
                (SELECT count(*) FROM day),
                (SELECT count(*) FROM changed),
                (SELECT count(DISTINCT CAST(created_at AS DATE)) FROM changed),
                (SELECT count(DISTINCT CAST(created_at AS DATE)) FROM raw.orders),
                (SELECT count(DISTINCT cohort_date) FROM marts.dash_checkout_steps
                    WHERE checkout_id IN (SELECT checkout_id FROM changed)),
                (SELECT count(DISTINCT cohort_date) FROM marts.dash_checkout_steps),
                (SELECT quantile_disc(age_days, 0.5) FROM ages),
                (SELECT quantile_disc(age_days, 0.9) FROM ages),
                (SELECT max(age_days) FROM ages)
        """).fetchone()
    names = ("order_versions", "changes_of_earlier_orders", "order_days_touched", "order_days",
             "cohort_days_touched", "cohort_days", "age_days_median", "age_days_p90", "age_days_oldest")
    return dict(zip(names, row, strict=True))
