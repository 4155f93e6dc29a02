"""Every `FUNNEL_*` setting, its default and what it does: one `Settings` object, read from the
environment by `Settings.from_env()`. Nothing else reads a `FUNNEL_*` variable for a setting, and
importing this module changes nothing: the entry points call `prepare_process()`, and dbt gets its
variables from `Settings.dbt_env()` and `dbt_vars()`.

`funnel settings` prints every setting with its value, default and meaning.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"


def dbt_executable() -> Path:
    """The dbt of this environment, beside this interpreter: what every dbt subprocess runs."""
    return Path(sys.executable).with_name("dbt")


def _setting(env: str, doc: str, default_shown: str | None = None, secret: bool = False) -> dict:
    return {"env": env, "doc": doc, "default_shown": default_shown, "secret": secret}


@dataclass(frozen=True)
class Settings:
    landing_dir: Path = field(default=Path("data/landing"), metadata=_setting(
        "FUNNEL_LANDING_DIR", "the landing directory files arrive in"))
    warehouse: Path = field(default=Path("data/warehouse.duckdb"), metadata=_setting(
        "FUNNEL_WAREHOUSE", "the pipeline's DuckDB file; readers use the published copy beside it"))
    conversion_window_days: int = field(default=30, metadata=_setting(
        "FUNNEL_CONVERSION_WINDOW_DAYS",
        "the conversion window in days (kpi-definitions.md); a change rebuilds the incremental models"))
    duckdb_memory_limit: str = field(default="1.6GB", metadata=_setting(
        "FUNNEL_DUCKDB_MEMORY_LIMIT",
        "DuckDB's memory_limit per connection, ingestion and dbt alike; a run's peak is about this + 1 GB"))
    duckdb_threads: int = field(default=os.cpu_count() or 2, metadata=_setting(
        "FUNNEL_DUCKDB_THREADS", "DuckDB's threads, ingestion and dbt alike", "every core"))
    speedups: bool = field(default=True, metadata=_setting(
        "FUNNEL_SPEEDUPS",
        "the speed machinery of `funnel run` (pipelines/speedups/: a dbt process and a check process "
        "started ahead, the garbage collector tuned); 0 runs plainly, with the same results"))
    freshness_hours: float = field(default=36.0, metadata=_setting(
        "FUNNEL_FRESHNESS_HOURS", "age of the newest event after which the freshness check warns"))
    gx_docs_dir: Path | None = field(default=None, metadata=_setting(
        "FUNNEL_GX_DOCS_DIR", "where `funnel check` builds GX Data Docs (default: gx_docs/ beside the warehouse)"))
    published_copy: Path | None = field(default=None, metadata=_setting(
        "FUNNEL_PUBLISHED",
        "the published copy the dashboard reads (default: <warehouse stem>.published.duckdb beside the warehouse)"))
    log_level: str = field(default="ERROR", metadata=_setting(
        "FUNNEL_LOG_LEVEL", "level of Dagster's console log during `funnel run`"))
    target: str = field(default="duckdb", metadata=_setting(
        "FUNNEL_TARGET", "the engine dbt builds on: duckdb, postgres or spark (docs/engines.md)"))
    dbt_threads: int = field(default=2, metadata=_setting(
        "FUNNEL_DBT_THREADS", "dbt's threads on PostgreSQL and Spark (DuckDB uses FUNNEL_DUCKDB_THREADS)"))
    spark_master: str = field(default="local[2]", metadata=_setting(
        "FUNNEL_SPARK_MASTER", "the Spark master of the spark target"))
    spark_shuffle_partitions: int = field(default=4, metadata=_setting(
        "FUNNEL_SPARK_SHUFFLE_PARTITIONS", "spark.sql.shuffle.partitions of the spark target"))
    spark_schema: str = field(default="funnel", metadata=_setting(
        "FUNNEL_SPARK_SCHEMA", "the schema (database) the spark target builds the models in"))
    spark_warehouse_dir: Path | None = field(default=None, metadata=_setting(
        "FUNNEL_SPARK_WAREHOUSE_DIR",
        "the spark target's spark.sql.warehouse.dir (default: <warehouse stem>.spark/warehouse beside the warehouse)"))
    spark_metastore_dir: Path | None = field(default=None, metadata=_setting(
        "FUNNEL_SPARK_METASTORE_DIR",
        "the spark target's Derby metastore (default: <warehouse stem>.spark/ beside the warehouse)"))
    reports_dir: Path | None = field(default=None, metadata=_setting(
        "FUNNEL_REPORTS_DIR", "where the weekly KPI brief is written (default: reports/ beside the warehouse)"))
    smtp_host: str = field(default="", metadata=_setting(
        "FUNNEL_SMTP_HOST", "SMTP server of the brief and alert emails; unset: no email is sent (docs/reports.md)",
        "unset"))
    smtp_port: int = field(default=25, metadata=_setting("FUNNEL_SMTP_PORT", "SMTP port"))
    smtp_user: str = field(default="", metadata=_setting("FUNNEL_SMTP_USER", "SMTP login (unset: no login)", "unset"))
    smtp_password: str = field(default="", metadata=_setting(
        "FUNNEL_SMTP_PASSWORD", "SMTP password (`funnel settings` shows it masked)", "unset", secret=True))
    smtp_starttls: bool = field(default=False, metadata=_setting(
        "FUNNEL_SMTP_STARTTLS", "1: upgrade the SMTP connection with STARTTLS before logging in"))
    report_from: str = field(default="", metadata=_setting(
        "FUNNEL_REPORT_FROM", "sender of the brief and alert emails", "unset"))
    report_to: str = field(default="", metadata=_setting(
        "FUNNEL_REPORT_TO", "recipients of the weekly brief, comma-separated; unset: the brief is not emailed",
        "unset"))
    alert_to: str = field(default="", metadata=_setting(
        "FUNNEL_ALERT_TO", "recipients of alerts by email, comma-separated; unset: no alert email", "unset"))
    alert_webhook_url: str = field(default="", metadata=_setting(
        "FUNNEL_ALERT_WEBHOOK_URL", "Slack-compatible webhook alerts are POSTed to ({\"text\": ...}); unset: none",
        "unset", secret=True))

    def __post_init__(self) -> None:
        # Paths are absolute from here on: the dbt process and the dashboard run in other folders.
        object.__setattr__(self, "landing_dir", Path(self.landing_dir).resolve())
        object.__setattr__(self, "warehouse", Path(self.warehouse).resolve())
        for name in ("gx_docs_dir", "published_copy", "spark_warehouse_dir", "spark_metastore_dir", "reports_dir"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, Path(getattr(self, name)).resolve())

    @classmethod
    def from_env(
        cls, landing_dir: Path | str | None = None, warehouse: Path | str | None = None, *,
        environ: dict[str, str] | None = None,
    ) -> Settings:
        """The settings in force: each `FUNNEL_*` variable that is set and not empty, else its
        default; `landing_dir` and `warehouse` (the CLI's --landing and --warehouse) win when given."""
        environ = os.environ if environ is None else environ
        values = {}
        for f in fields(cls):
            raw = environ.get(f.metadata["env"], "").strip()
            if raw:
                values[f.name] = _parse(f.type, raw, f.metadata["env"])
        overrides = {"landing_dir": landing_dir, "warehouse": warehouse}
        values.update({name: value for name, value in overrides.items() if value is not None})
        return cls(**values)

    def with_(self, **changes) -> Settings:
        return replace(self, **changes)

    # ---- paths derived from the warehouse: one rule each --------------------------------------

    @property
    def published(self) -> Path:
        return self.published_copy or published_path(self.warehouse)

    @property
    def gx_docs(self) -> Path:
        return self.gx_docs_dir or self.warehouse.parent / "gx_docs"

    @property
    def reports(self) -> Path:
        return self.reports_dir or self.warehouse.parent / "reports"

    @property
    def spark_dirs(self) -> tuple[Path, Path]:
        """(spark.sql.warehouse.dir, the Derby metastore's folder) of the spark target."""
        base = self.warehouse.with_name(f"{self.warehouse.stem}.spark")
        return self.spark_warehouse_dir or base / "warehouse", self.spark_metastore_dir or base

    # ---- what other processes are handed ------------------------------------------------------

    def dbt_env(self) -> dict[str, str]:
        """Every `FUNNEL_*` variable dbt_project/profiles.yml and dbt_project.yml read: the one way dbt
        learns the settings (those files give no defaults of their own, so dbt without them stops
        with "Env var required but not provided"; `funnel dbt` runs dbt with them)."""
        return {
            "FUNNEL_WAREHOUSE": str(self.warehouse),
            "FUNNEL_PUBLISHED": str(self.published),
            "FUNNEL_CONVERSION_WINDOW_DAYS": str(self.conversion_window_days),
            "FUNNEL_DUCKDB_MEMORY_LIMIT": self.duckdb_memory_limit,
            "FUNNEL_DUCKDB_THREADS": str(self.duckdb_threads),
            "FUNNEL_DBT_THREADS": str(self.dbt_threads),
            "FUNNEL_SPARK_MASTER": self.spark_master,
            "FUNNEL_SPARK_SCHEMA": self.spark_schema,
            "FUNNEL_SPARK_SHUFFLE_PARTITIONS": str(self.spark_shuffle_partitions),
            "FUNNEL_SPARK_WAREHOUSE_DIR": str(self.spark_dirs[0]),
            "FUNNEL_SPARK_METASTORE_DIR": str(self.spark_dirs[1]),
            # Not a setting: where the project is. dbt_project.yml reads it so that dbt's partial-parse
            # cache (beside the warehouse, dbt_target_path) is not reused by the project at another
            # location (another clone, a moved folder): the cache holds the seed files' absolute paths.
            "FUNNEL_DBT_PROJECT_DIR": str(DBT_PROJECT_DIR),
        }

    def environment_values(self) -> list[str]:
        """Every setting's value as its variable would say it, in order ('' for an unset path; a secret
        that is set shows as ****)."""
        return ["****" if f.metadata["secret"] and getattr(self, f.name) else _shown(getattr(self, f.name))
                for f in fields(self)]


@contextlib.contextmanager
def scoped_environ(values: dict[str, str]) -> Iterator[None]:
    """These environment variables set for the block (dbt in this process reads its profile from them),
    the previous values back after it."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def dbt_vars(conversion_window_days: int) -> list[str]:
    """`--vars` for dbt: the one place the models' variables are spelled (a run's window may come
    from Dagster's run config instead of the settings)."""
    return ["--vars", json.dumps({"conversion_window_days": conversion_window_days})]


def setting_docs() -> list[tuple[str, str, str]]:
    """(variable, default, what it does) for every setting, in order (README.md's table)."""
    return [(f.metadata["env"], f.metadata["default_shown"] or _shown(f.default), f.metadata["doc"])
            for f in fields(Settings)]


def _shown(value) -> str:
    if value is None:
        return ""
    return ("1" if value else "0") if isinstance(value, bool) else str(value)


def _parse(kind: str, raw: str, name: str):
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "bool":
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a valid {kind}") from None
    if kind.startswith("Path"):
        return Path(raw)
    return raw


def published_path(warehouse: Path | str) -> Path:
    """Where readers find the published copy of a warehouse: beside it, `<stem>.published.duckdb`."""
    warehouse = Path(warehouse)
    return warehouse.with_name(f"{warehouse.stem}.published.duckdb")


def dbt_target_path(warehouse: Path | str, engine: str | None = None) -> Path:
    """dbt's artifacts for builds of a warehouse: beside it, `<stem>.dbt-target/` for the warehouse
    itself, `<stem>.dbt-target-<engine>/` for builds on another engine (`funnel run --target`). One
    fixed folder per warehouse and engine (runs are serialised by the writer lock) keeps dbt's
    partial-parse cache between runs (a cache is only valid for the target it was parsed for):
    parsing the project again costs ~3 s per run."""
    warehouse = Path(warehouse)
    suffix = f"-{engine}" if engine else ""
    return warehouse.with_name(f"{warehouse.stem}.dbt-target{suffix}")


def dagster_home_path(warehouse: Path | str) -> Path:
    """The Dagster instance that records the runs of a warehouse (run history, asset materializations,
    check results) when DAGSTER_HOME is not set: beside it, `<stem>.dagster/`."""
    warehouse = Path(warehouse)
    return warehouse.with_name(f"{warehouse.stem}.dagster")


TELEMETRY_OFF = {
    "DAGSTER_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
    "GX_ANALYTICS_ENABLED": "false",
}


def prepare_process() -> None:
    """Telemetry off everywhere (no call may wait on the network), and `dbt` on PATH the one beside
    this interpreter (dagster-dbt runs `dbt` from PATH, activated virtualenv or not). Called by every
    entry point before it imports Dagster, dbt, GX or Streamlit: the CLI, the Dagster definitions,
    the dashboard's launcher, the data-check runner."""
    for name, value in TELEMETRY_OFF.items():
        os.environ.setdefault(name, value)
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
