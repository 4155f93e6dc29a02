"""The dbt semantic layer (MetricFlow): every KPI as a metric, queried by any dimension (docs/metrics.md).

The metrics are defined once in dbt_project/models/semantic/. `funnel metrics` asks MetricFlow's
engine for them in this process, without the `mf` CLI, which checks PyPI for a newer version on every
call (no network here, nor in analysts' air-gapped warehouses) and runs `dbt debug` (a connection
check) before every query: the two made `mf query` cost ~2.5 s for ~0.1 s of SQL.

- The semantic manifest comes from `dbt parse` with the target MetricFlow reads, into a folder beside
  the warehouse (`semantic_target_path`), parsed again only when a file of the dbt project is newer.
  Not the run's manifest: a run with no new data skips dbt, while a metrics-only change must show.
- DuckDB: the published copy, opened read-only by this process (with pipelines/core/warehouse.py's
  session settings), so a query never blocks a run or a dashboard reader. Without dbt's imports and adapter (~1.7 s) a query
  costs ~0.6 s of imports plus its SQL. The profile's `published` target (read-only) is the same
  file for dbt itself (`dbt parse`, `dbt docs generate`).
- PostgreSQL: through the dbt adapter of the profile's `postgres` target (MetricFlow's own client).
- Spark: MetricFlow has no renderer for it (dbt-metricflow supports Databricks, not Spark): refused.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pipelines.core.settings import DBT_PROJECT_DIR, Settings, dbt_executable
from pipelines.core.warehouse import configure
from pipelines.dbt_build import project_files

# The dbt target MetricFlow reads, per engine of FUNNEL_TARGET.
METRICS_TARGETS = {"duckdb": "published", "postgres": "postgres"}


class MetricsError(ValueError):
    """A metrics request that cannot be answered: the message says why."""


@dataclass(frozen=True)
class MetricsResult:
    columns: list[str]
    rows: list[tuple]
    sql: str


def semantic_target_path(warehouse: Path | str, engine: str = "duckdb") -> Path:
    """dbt's artifacts for the metrics' target of an engine (semantic manifest, docs site): beside the
    warehouse, `<stem>.dbt-published/` for the published copy, `<stem>.dbt-postgres/` for PostgreSQL
    (a manifest names its target's database); the run's own artifacts are in `<stem>.dbt-target/`."""
    warehouse = Path(warehouse)
    return warehouse.with_name(f"{warehouse.stem}.dbt-{dbt_target(engine)}")


def dbt_target(engine: str) -> str:
    if engine not in METRICS_TARGETS:
        raise MetricsError(
            f"MetricFlow does not support the {engine} target (docs/metrics.md, 'How it runs'): "
            f"use {' or '.join(METRICS_TARGETS)}"
        )
    return METRICS_TARGETS[engine]


def dbt_environment(settings: Settings) -> dict[str, str]:
    """What dbt's profiles.yml reads for the metrics' targets: the settings' variables (the published
    copy among them) and PostgreSQL's connection and session settings (libpq_environment)."""
    from pipelines.engines.postgres import libpq_environment

    return {**os.environ, **settings.dbt_env(), **libpq_environment()}


def run_dbt(settings: Settings, engine: str, *command: str) -> None:
    """`dbt <command>` on the metrics' target of `engine`, its artifacts in semantic_target_path."""
    dbt = dbt_executable()
    argv = [str(dbt), *command, "--target", dbt_target(engine), "--target-path",
            str(semantic_target_path(settings.warehouse, engine)), "--quiet"]
    done = subprocess.run(argv, cwd=DBT_PROJECT_DIR, env=dbt_environment(settings), capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        raise MetricsError(f"`dbt {' '.join(command)}` failed:\n{done.stdout}{done.stderr}".rstrip())


def semantic_manifest_path(settings: Settings, engine: str) -> Path:
    """The semantic manifest of the dbt project as it is now: `dbt parse` (~6 s) when it is missing
    or older than a file of the project."""
    manifest = semantic_target_path(settings.warehouse, engine) / "semantic_manifest.json"
    newest_source = max(p.stat().st_mtime for p in [*project_files(), DBT_PROJECT_DIR / "profiles.yml"])
    if not manifest.exists() or manifest.stat().st_mtime < newest_source:
        run_dbt(settings, engine, "parse")
    return manifest


class DuckDbPublishedClient:
    """MetricFlow's SqlClient protocol over one read-only connection to the published copy."""

    def __init__(self, settings: Settings):
        import duckdb
        from metricflow.protocols.sql_client import SqlEngine
        from metricflow.sql.render.duckdb_renderer import DuckDbSqlPlanRenderer

        self._con = duckdb.connect(str(settings.published), read_only=True)
        configure(self._con, settings.duckdb_memory_limit, settings.duckdb_threads)
        self.sql_engine_type = SqlEngine.DUCKDB
        self.sql_plan_renderer = DuckDbSqlPlanRenderer()

    def query(self, stmt: str, sql_bind_parameter_set=None):
        from metricflow.data_table.mf_table import MetricFlowDataTable

        params = dict(sql_bind_parameter_set.param_dict) if sql_bind_parameter_set else {}
        cursor = self._con.execute(stmt, {k: v.value for k, v in params.items()} if params else None)
        columns = [d[0] for d in cursor.description]
        return MetricFlowDataTable.create_from_rows(column_names=columns, rows=cursor.fetchall())

    def execute(self, stmt: str, sql_bind_parameter_set=None) -> None:
        raise MetricsError("the published copy is read-only: MetricFlow may only query it")

    def dry_run(self, stmt: str, sql_bind_parameter_set=None) -> None:
        self._con.execute(f"EXPLAIN {stmt}")

    def close(self) -> None:
        self._con.close()

    def render_bind_parameter_key(self, bind_parameter_key: str) -> str:
        return f"${bind_parameter_key}"


def _adapter_client(settings: Settings, engine: str):
    """MetricFlow's client over the dbt adapter of the engine's target (profiles.yml)."""
    from argparse import Namespace

    from dbt.adapters.factory import get_adapter, register_adapter
    from dbt.config.runtime import RuntimeConfig
    from dbt.flags import set_from_args
    from dbt.mp_context import get_mp_context
    from dbt_common.context import set_invocation_context
    from dbt_metricflow.cli.dbt_connectors.adapter_backed_client import AdapterBackedSqlClient

    environment = dbt_environment(settings)
    set_invocation_context(environment)
    os.environ["PGOPTIONS"] = environment["PGOPTIONS"]  # libpq reads the session's settings from this process's environment
    args = Namespace(project_dir=str(DBT_PROJECT_DIR), profiles_dir=str(DBT_PROJECT_DIR),
                     target=dbt_target(engine), profile=None, threads=None, vars={})
    set_from_args(args, None)
    config = RuntimeConfig.from_args(args)
    register_adapter(config, get_mp_context())
    return AdapterBackedSqlClient(get_adapter(config))


class SemanticLayer:
    """MetricFlow's engine over the metrics of the dbt project, on one engine's public tables."""

    def __init__(self, settings: Settings, engine: str = "duckdb"):
        dbt_target(engine)  # refuse an engine MetricFlow cannot query before any work
        if engine == "duckdb" and not settings.published.exists():
            raise MetricsError(f"no published copy at {settings.published}: run `funnel run` first")
        from metricflow.engine.metricflow_engine import MetricFlowEngine
        from metricflow_semantics.model.dbt_manifest_parser import parse_manifest_from_dbt_generated_manifest
        from metricflow_semantics.model.semantic_manifest_lookup import SemanticManifestLookup

        manifest = semantic_manifest_path(settings, engine).read_text()
        self.manifest = parse_manifest_from_dbt_generated_manifest(manifest_json_string=manifest)
        self._client = DuckDbPublishedClient(settings) if engine == "duckdb" else _adapter_client(settings, engine)
        self._engine = MetricFlowEngine(SemanticManifestLookup(self.manifest), self._client)

    def close(self) -> None:
        self._client.close()

    def metrics(self) -> list[tuple[str, str, str]]:
        """(name, type, description) of every metric, by name."""
        return sorted((m.name, m.type.value, m.description or "") for m in self.manifest.metrics)

    def dimensions(self, metric_names: Sequence[str]) -> list[str]:
        """The names MetricFlow accepts in --group-by for all of `metric_names`."""
        return sorted({d.dunder_name for d in self._engine.simple_dimensions_for_metrics(list(metric_names), ())})

    def query(self, metrics: Sequence[str], group_by: Sequence[str] = (), where: Sequence[str] = (),
              start: datetime | None = None, end: datetime | None = None,
              order: Sequence[str] = ()) -> MetricsResult:
        from metricflow.engine.metricflow_engine import MetricFlowQueryRequest
        from metricflow_semantics.errors.error_classes import MetricFlowException

        known = {m.name for m in self.manifest.metrics}
        unknown = [m for m in metrics if m not in known]
        if unknown:
            raise MetricsError(f"unknown metric(s) {', '.join(unknown)}: `funnel metrics --list` lists them")
        request = MetricFlowQueryRequest.create(
            metric_names=list(metrics), group_by_names=list(group_by) or None, where_constraints=list(where) or None,
            time_constraint_start=start, time_constraint_end=end, order_by_names=list(order) or None,
        )
        try:
            result = self._engine.query(request)
        except MetricFlowException as invalid:
            raise MetricsError(str(invalid)) from None
        table = result.result_df
        return MetricsResult(list(table.column_names), [tuple(r) for r in table.rows], result.sql or "")


def catalog_text(layer: SemanticLayer, metric_names: Sequence[str] = ()) -> str:
    """`funnel metrics --list`: the metrics (or those named), then the dimensions all of them accept."""
    listed = [m for m in layer.metrics() if not metric_names or m[0] in metric_names]
    width = max(len(name) for name, _, _ in listed)
    lines = ["metrics (--metrics):"]
    lines += [f"  {name.ljust(width)}  {kind.ljust(6)}  {description}" for name, kind, description in listed]
    lines.append("dimensions (--group-by, and Dimension('...') in --where), for every metric above:")
    lines += [f"  {name}" for name in layer.dimensions([name for name, _, _ in listed])]
    return "\n".join(lines) + "\n"
