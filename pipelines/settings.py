"""Paths and settings from FUNNEL_* environment variables, in one place."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
# Per DuckDB connection (profiles.yml has the same default). dbt's process is a run's memory peak,
# ~0.2 GiB above this limit (at 10M events 1.72 GiB of RSS with 1.6GB, 2.02-2.05 GiB with 2GB, the build
# no slower; docs/performance.md).
DEFAULT_DUCKDB_MEMORY_LIMIT = "1.6GB"

# Telemetry off everywhere: no call may wait on the network.
for _name, _value in {
    "DAGSTER_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
    "GX_ANALYTICS_ENABLED": "false",
}.items():
    os.environ.setdefault(_name, _value)

# dagster-dbt runs `dbt` from PATH: make it the one installed beside this interpreter, so the
# project works whether or not its virtual environment is activated.
_BIN = str(Path(sys.executable).parent)
if _BIN not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _BIN + os.pathsep + os.environ.get("PATH", "")


def published_path(warehouse: Path | str) -> Path:
    """Where readers find the published copy of a warehouse: beside it, `<stem>.published.duckdb`."""
    warehouse = Path(warehouse)
    return warehouse.with_name(f"{warehouse.stem}.published.duckdb")


def dbt_target_path(warehouse: Path | str) -> Path:
    """dbt's artifacts for builds of a warehouse: beside it, `<stem>.dbt-target/`. One fixed folder
    per warehouse (runs are serialised by the writer lock) keeps dbt's partial-parse cache between
    runs: parsing the project again costs ~3 s per run."""
    warehouse = Path(warehouse)
    return warehouse.with_name(f"{warehouse.stem}.dbt-target")


def dagster_home_path(warehouse: Path | str) -> Path:
    """The Dagster instance that records the runs of a warehouse (run history, asset materializations,
    check results) when DAGSTER_HOME is not set: beside it, `<stem>.dagster/`."""
    warehouse = Path(warehouse)
    return warehouse.with_name(f"{warehouse.stem}.dagster")


@dataclass(frozen=True)
class Settings:
    landing_dir: Path
    warehouse: Path
    conversion_window_days: int = 30
    duckdb_memory_limit: str = DEFAULT_DUCKDB_MEMORY_LIMIT
    duckdb_threads: int = 2
    # Run the data checks in a process that imports GX while the run starts (pipelines/warm_checks.py):
    # GX's ~2.3 s import leaves the run's critical path, for ~0.35 GiB more memory during the dbt build.
    check_process: bool = True

    @property
    def published(self) -> Path:
        return published_path(self.warehouse)

    @classmethod
    def from_env(cls, landing_dir: str | Path | None = None, warehouse: str | Path | None = None) -> Settings:
        return cls(
            landing_dir=Path(landing_dir or os.environ.get("FUNNEL_LANDING_DIR", "data/landing")).resolve(),
            warehouse=Path(warehouse or os.environ.get("FUNNEL_WAREHOUSE", "data/warehouse.duckdb")).resolve(),
            conversion_window_days=int(os.environ.get("FUNNEL_CONVERSION_WINDOW_DAYS", "30")),
            duckdb_memory_limit=os.environ.get("FUNNEL_DUCKDB_MEMORY_LIMIT", DEFAULT_DUCKDB_MEMORY_LIMIT),
            duckdb_threads=int(os.environ.get("FUNNEL_DUCKDB_THREADS", str(os.cpu_count() or 2))),
            check_process=os.environ.get("FUNNEL_CHECK_PROCESS", "1").lower() not in ("0", "false", "no"),
        )
