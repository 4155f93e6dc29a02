"""The dbt project as Dagster assets: every model and seed an asset, every dbt test an asset check."""


from collections.abc import Mapping
from typing import Any

import dagster as dg
import duckdb
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)

from pipelines.core.settings import DBT_PROJECT_DIR, Settings, dbt_target_path, dbt_vars, scoped_environ
from pipelines.dbt_build import build_fingerprint, project_files, rows_built_since
from pipelines.ingest.ledger import ensure_tables, last_successful_build
from pipelines.resources import WarehouseResource

DBT_PROJECT = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


def _manifest_is_stale(project: DbtProject) -> bool:
    manifest = project.manifest_path
    if not manifest.exists():
        return True
    built = manifest.stat().st_mtime
    return any(p.stat().st_mtime > built for p in project_files())


def prepare_manifest(project: DbtProject = DBT_PROJECT) -> None:
    """dagster-dbt reads target/manifest.json when definitions load: build it when missing or stale
    (`dbt parse`, which reads the settings like every dbt command)."""
    if _manifest_is_stale(project):
        with scoped_environ(Settings.from_env().dbt_env()):
            project.preparer.prepare(project)


prepare_manifest()


class FunnelDbtTranslator(DagsterDbtTranslator):
    """Models and seeds are keyed `<schema>/<name>`; sources keep `<source>/<table>` (raw/..., audit/...)."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] in ("model", "seed", "snapshot"):
            schema = dbt_resource_props.get("config", {}).get("schema") or dbt_resource_props["schema"]
            return dg.AssetKey([schema, dbt_resource_props["name"]])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return dbt_resource_props.get("config", {}).get("schema") or "dbt"


TRANSLATOR = FunnelDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))


# The dbt tag (dbt_project.yml) of the nodes of which a build writes only what follows from the
# project's files: the seeds, the time spine, the staging views. Dagster carries dbt's tags as asset tags.
PROJECT_ONLY = "project_only"


def dbt_build_args(
    conversion_window_days: int, full_refresh: bool, unit_tests: bool = False, *, every_asset: bool
) -> list[str]:
    """`every_asset`: the run builds every dbt asset (a `funnel run`), not assets picked in the UI."""
    # Unit tests check the SQL, not the data: on DuckDB `make test` runs them, so a run needs only
    # the data tests; on another engine they prove the SQL there and run with every build.
    args = ["build", *dbt_vars(conversion_window_days)]
    if not unit_tests:
        args += ["--exclude-resource-type", "unit_test"]
    if full_refresh:
        return [*args, "--full-refresh"]
    if not every_asset:
        return args  # what was picked is built, a seed included
    # An incremental build has the project and window of the last published build (full_refresh_reason):
    # what follows from the project alone is as a build of that project wrote and tested it.
    return [*args, "--exclude", f"tag:{PROJECT_ONLY}"]


def builds_every_asset(context: dg.AssetExecutionContext, assets: dg.AssetsDefinition) -> bool:
    """Whether the step builds every asset of `assets` (the dbt assets as defined, not a subset)."""
    return set(context.selected_asset_keys) == set(assets.keys)


def project_only_keys(assets: dg.AssetsDefinition) -> set[dg.AssetKey]:
    """The assets of `assets` that an incremental build leaves as they are (PROJECT_ONLY)."""
    return {key for key, tags in assets.tags_by_key.items() if PROJECT_ONLY in tags}


class WindowConfig(dg.Config):
    conversion_window_days: int = Settings.from_env().conversion_window_days


class DbtRunConfig(WindowConfig):
    # Rebuild incremental models from scratch. Also done by itself whenever the dbt project or the
    # window changed since the last published build (their rows were computed by other rules).
    full_refresh: bool = False


def full_refresh_reason(warehouse: WarehouseResource, conversion_window_days: int) -> str | None:
    """Why this build must rewrite every row, or None (an incremental build)."""
    with warehouse.connect() as con:
        ensure_tables(con)
        last = last_successful_build(con)
        if last is None:
            return "no published build yet"
        if last[0] != build_fingerprint(conversion_window_days):
            return "dbt project or window changed since the last published build"
        if rows_built_since(con, last[1]):
            return "a build since the last published one did not succeed: every row is built and tested again"
    return None


def nothing_to_build(warehouse: WarehouseResource, conversion_window_days: int) -> bool:
    from pipelines.lifecycle import unbuilt_reason

    with warehouse.connect() as con:
        return unbuilt_reason(con, warehouse.path, build_fingerprint(conversion_window_days)) is None


def broken_column_rules(manifest: dict, run_results: dict, con: duckdb.DuckDBPyConnection) -> list[str]:
    """`<model>.<column> <rule>: <n> row(s)` for every rule a failed `column_rules` test of a DuckDB
    build found (dbt_project/tests/generic/column_rules.sql: its failing rows are the broken rules).
    dbt says only the test and how many rules broke: the test's compiled query runs again here."""
    nodes = manifest["nodes"]
    return [
        f"{nodes[result['unique_id']]['attached_node'].split('.')[-1]}.{column} {rule}: {rows} row(s)"
        for result in run_results["results"]
        if result["status"] == "fail"
        and nodes.get(result["unique_id"], {}).get("test_metadata", {}).get("name") == "column_rules"
        for column, rule, rows in con.execute(result["compiled_code"]).fetchall()
    ]


@dbt_assets(manifest=DBT_PROJECT.manifest_path, project=DBT_PROJECT, dagster_dbt_translator=TRANSLATOR)
def dbt_models(
    context: dg.AssetExecutionContext, config: DbtRunConfig, dbt: DbtCliResource, warehouse: WarehouseResource
):
    # dbt-duckdb opens the warehouse itself (profiles.yml reads FUNNEL_WAREHOUSE); this process
    # holds no connection meanwhile, only the writer lock.
    with warehouse.writer_lock():
        if not config.full_refresh and nothing_to_build(warehouse, config.conversion_window_days):
            # Nothing loaded since the last published build (pipelines/lifecycle.py): no output, so the
            # mart checks and published_warehouse are skipped too. A UI launch with nothing new is a no-op.
            context.log.info("nothing new since the last published build: dbt build skipped (full_refresh rebuilds)")
            return
        reason = "asked for" if config.full_refresh else full_refresh_reason(warehouse, config.conversion_window_days)
        full_refresh = reason is not None
        if full_refresh:
            context.log.info(f"full refresh: {reason}")
        args = dbt_build_args(config.conversion_window_days, full_refresh, every_asset=builds_every_asset(context, dbt_models))
        # dagster-dbt hands dbt this process's environment when it starts it: the settings' dbt
        # variables are there for that moment only (left behind, a later Settings.from_env would
        # read them as the user's settings).
        with scoped_environ(warehouse.settings().dbt_env()):
            invocation = dbt.cli(args, context=context, target_path=dbt_target_path(warehouse.path), raise_on_error=False)
        yield from invocation.stream()
        error = invocation.get_error()
        if error is None:
            return
        with warehouse.connect(read_only=True) as con:
            broken = broken_column_rules(invocation.manifest, invocation.get_artifact("run_results.json"), con)
        if broken:
            # The step's first line is what `funnel run` prints (pipelines/hooks.py failure_lines).
            raise dg.Failure(description=f"dbt tests failed: {'; '.join(broken)}\n\n{error}") from error
        raise error
