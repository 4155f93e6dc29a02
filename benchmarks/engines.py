"""The engines' case of the benchmark: `funnel run --target postgres|spark`, full and one more day.

For each engine, on a warehouse and an engine of its own (a throwaway PostgreSQL 15 on 127.0.0.1, a
local Spark with its metastore and tables in the case folder): `funnel run --target T` on
`landing/` from empty (the full run: DuckDB validates, every row travels, every model is built on
T), then on `landing_plus1/` (one more day: only the new rows travel, the incremental models build
incrementally). The target of issue 18: one more day <= 30% of that engine's full run at 1M events.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

ENGINES = ("postgres", "spark")


def unavailable(target: str) -> str | None:
    """None when `target` can be measured here, else why not."""
    from tests.engines.servers import postgres_available

    if target == "postgres":
        return postgres_available()
    return None if shutil.which("java") else "no java"


@contextlib.contextmanager
def engine_env(target: str, folder: Path) -> Iterator[dict[str, str]]:
    """The environment `funnel run --target T` needs; PostgreSQL is started here and stopped after."""
    if target == "postgres":
        from tests.engines.servers import postgres_server

        with postgres_server() as pg:
            yield pg
        return
    spark = folder / "spark"
    yield {"FUNNEL_SPARK_WAREHOUSE_DIR": str(spark / "warehouse"), "FUNNEL_SPARK_METASTORE_DIR": str(spark)}


def engine_case(case_dir: Path, landing: Path, plus1: Path, target: str) -> dict:
    from benchmarks.run import _fresh_warehouse, funnel_run

    missing = unavailable(target)
    if missing:
        return {"skipped": missing}
    folder = case_dir / f"engine-{target}"
    warehouse = _fresh_warehouse(folder)
    dagster_home = folder / "dagster_home"
    logs = case_dir / "logs"
    with engine_env(target, folder) as env:
        full = funnel_run(landing, warehouse, dagster_home, logs / f"{target}_full.log", target, env)
        day = funnel_run(plus1, warehouse, dagster_home, logs / f"{target}_plus1.log", target, env)
    result = {"full_run": full, "incremental": day}
    if "error" not in full and "error" not in day:
        result["ratio_incremental_over_full"] = day["wall_seconds"] / full["wall_seconds"]
    return result
