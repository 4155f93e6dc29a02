"""The dbt docs site (models, columns, tests, lineage, the metrics) of the published copy: `funnel docs`.

Built by every run that publishes, as its last step (`dbt_docs_site`, pipelines/assets/docs.py), the
cheap way: the run's build has just written a manifest with every node compiled, so dbt neither parses
nor compiles again; it only reads the published copy's catalog (`dbt docs generate --no-compile` given
that manifest, in the run's own process: no dbt process to start either). At 1M events the step took
~1.0-1.5 s of a one-more-day run (+1.4 s of CPU), against 5-7 s for a plain `dbt docs generate`
(docs/metrics.md, "The docs site": the figures and the load they were measured under).

`funnel docs` builds the site the plain way (parse the project as it is now, compile every node) only
when it is missing or stale: older than the published copy or a file of the dbt project (a run whose
docs step failed, a metrics-only change, which no run rebuilds, an upgrade). Runs on another engine
publish nothing, so they leave the site as it is. dbt reads the published copy through the profile's
read-only `published` target, so the catalog (column types) is that of the tables readers see, and it
never blocks a run or a reader.

The catalog holds no row statistics on DuckDB: only what `catalog_key` hashes (the published copy's
relations and columns, the manifest's relation names, dbt's versions and catalog macros). A run whose
key equals the one stored beside the installed catalog (`.catalog-key` in the site) keeps that catalog
and installs only its new manifest: most runs add rows, not columns, and skip dbt altogether.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import os
import shutil
import tempfile
from pathlib import Path

from pipelines.core.settings import DBT_PROJECT_DIR, Settings, scoped_environ
from pipelines.core.warehouse import connect
from pipelines.dbt_build import project_files
from pipelines.metrics import dbt_environment, dbt_target, semantic_target_path

# What the site is: dbt's page and the two artifacts it loads.
SITE_FILES = ("index.html", "manifest.json", "catalog.json")
CATALOG_KEY = ".catalog-key"  # in the site: catalog_key of the installed catalog.json

# What dbt-duckdb's catalog macro (duckdb__get_catalog) reads of the published copy's own database:
# every table, view and column with its type and comment, hashed in one query.
_CATALOG_STATE_SQL = """
WITH relations AS (
    SELECT schema_name, table_name AS name, 'BASE TABLE' AS type, comment FROM duckdb_tables()
    WHERE database_name = current_database()
    UNION ALL
    SELECT schema_name, view_name, 'VIEW', comment FROM duckdb_views() WHERE database_name = current_database()
), columns AS (
    SELECT schema_name, table_name, column_index, column_name, data_type, comment FROM duckdb_columns()
    WHERE database_name = current_database()
)
SELECT current_database(),
       (SELECT md5(string_agg(to_json(r)::VARCHAR, chr(10) ORDER BY r.schema_name, r.name)) FROM relations r),
       (SELECT md5(string_agg(to_json(c)::VARCHAR, chr(10) ORDER BY c.schema_name, c.table_name, c.column_index))
        FROM columns c)
"""


class DocsSiteError(RuntimeError):
    """dbt could not build the site: the message holds dbt's errors."""


def docs_site_path(warehouse: Path | str) -> Path:
    """The site of a warehouse's published copy: beside it, `<stem>.dbt-docs/`."""
    warehouse = Path(warehouse)
    return warehouse.with_name(f"{warehouse.stem}.dbt-docs")


def site_is_stale(settings: Settings) -> bool:
    index = docs_site_path(settings.warehouse) / "index.html"
    if not index.exists():
        return True
    sources = [settings.published, *project_files(), DBT_PROJECT_DIR / "profiles.yml"]
    return index.stat().st_mtime < max(p.stat().st_mtime for p in sources)


def generate_site(settings: Settings, run_manifest: Path | None = None) -> Path:
    """`dbt docs generate` on the published copy, in this process; the site's files installed in
    docs_site_path. With `run_manifest` (the manifest a build of this warehouse wrote) dbt only reads
    the catalog; without, it parses the project and compiles every node first."""
    if not settings.published.exists():
        raise FileNotFoundError(f"no published copy at {settings.published}: run `funnel run` first")
    if run_manifest is not None and not _names_the_published_tables(settings):
        run_manifest = None
    site = docs_site_path(settings.warehouse)
    site.mkdir(parents=True, exist_ok=True)
    if run_manifest is None:
        # The metrics' folder: its partial-parse cache spares most of the parse.
        target = semantic_target_path(settings.warehouse)
        _docs_generate(settings, target, None)
        # No key: it must be taken before dbt reads the copy (a run may publish meanwhile), and this
        # manifest exists only after; the next run generates the catalog again and keys it.
        _install(site, target / "manifest.json", target / "catalog.json", None)
        return site
    key = catalog_key(settings, run_manifest)
    if _installed_key(site) == key:
        from dbt.task.docs import DOCS_INDEX_FILE_PATH

        _install(site, run_manifest, None, key, Path(DOCS_INDEX_FILE_PATH))
        return site
    with tempfile.TemporaryDirectory(dir=site.parent, prefix=f".{site.name}-") as folder:
        _docs_generate(settings, Path(folder), _load_manifest(run_manifest))
        _install(site, run_manifest, Path(folder) / "catalog.json", key)
    return site


def catalog_key(settings: Settings, manifest: Path) -> str:
    """A hash of everything `dbt docs generate` puts in catalog.json but its timestamps and invocation
    id: the published copy's relations and columns (_CATALOG_STATE_SQL), the manifest's nodes and
    sources as dbt matches them to relations, its catalog macros, dbt's versions and the
    DBT_ENV_CUSTOM_ENV_ variables (the catalog's metadata.env)."""
    from importlib.metadata import version

    with connect(settings.published, read_only=True) as con:
        state = con.execute(_CATALOG_STATE_SQL).fetchall()[0]
    parsed = json.loads(manifest.read_bytes())
    relations = sorted(
        (unique_id, node["resource_type"], node.get("database"), node.get("schema"),
         node.get("identifier") or node.get("alias"), node.get("config", {}).get("materialized"))
        for unique_id, node in [*parsed["nodes"].items(), *parsed["sources"].items()]
    )
    macros = sorted((m["unique_id"], m["macro_sql"]) for m in parsed["macros"].values() if "catalog" in m["name"])
    with scoped_environ(dbt_environment(settings)):
        custom = sorted((k, v) for k, v in os.environ.items() if k.startswith("DBT_ENV_CUSTOM_ENV_"))
    content = [list(state), relations, macros, version("dbt-core"), version("dbt-duckdb"), custom]
    return hashlib.sha256(json.dumps(content).encode()).hexdigest()


def _installed_key(site: Path) -> str | None:
    """The key of the site's catalog.json; None when either is missing."""
    key = site / CATALOG_KEY
    if not (key.exists() and (site / "catalog.json").exists()):
        return None
    return key.read_text().strip()


def _names_the_published_tables(settings: Settings) -> bool:
    """A build's manifest names its tables in the warehouse's DuckDB catalog (database), and dbt
    matches the published copy's catalog to it by name: the two files' database names must agree
    (they do unless FUNNEL_PUBLISHED names a file of another stem)."""
    from dbt.adapters.duckdb.credentials import DuckDBCredentials

    name = DuckDBCredentials.path_derived_database_name
    return name(settings.warehouse) == name(settings.published)


def _load_manifest(path: Path):
    from dbt.contracts.graph.manifest import Manifest, WritableManifest

    return Manifest.from_writable_manifest(WritableManifest.read_and_check_versions(str(path)))


def _docs_generate(settings: Settings, target: Path, manifest) -> None:
    """dbt's in-process runner: `dbt docs generate` on the published target, its files in `target`
    (`--no-compile` when given a manifest). Raises DocsSiteError with dbt's error lines."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    from dbt.cli.main import dbtRunner

    errors: list[str] = []

    def collect_errors(event) -> None:
        if event.info.level == "error":
            errors.append(event.info.msg)

    argv = ["docs", "generate", "--target", dbt_target("duckdb"), "--target-path", str(target),
            "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
            "--log-path", str(target), "--log-level-file", "none", "--quiet"]
    if manifest is not None:
        argv.append("--no-compile")
    try:
        with scoped_environ(dbt_environment(settings)):
            result = dbtRunner(manifest=manifest, callbacks=[collect_errors]).invoke(argv)
    finally:
        # dbt-duckdb keeps its database open for the process's life: let the published copy go.
        DuckDBConnectionManager.close_all_connections()
    if not result.success:
        # The catalog's failures are in its artifact, not in dbt's error events.
        detail = "\n".join([*errors, *(getattr(result.result, "errors", None) or [])]) or repr(result.exception)
        raise DocsSiteError(f"`dbt docs generate` on the published copy failed:\n{detail}")


def _install(site: Path, manifest: Path, catalog: Path | None, key: str | None, index: Path | None = None) -> None:
    """The site's files, each replaced whole (a server may be reading it): `manifest`, `catalog` (None:
    keep the installed one, whose key is `key`) and dbt's page (default: beside the catalog); index.html
    last: the site is stale until every file is in place. The key is dropped while the catalog changes,
    then written when given."""
    sources = {"manifest.json": manifest, "catalog.json": catalog, "index.html": index or catalog.with_name("index.html")}
    if catalog is not None:
        (site / CATALOG_KEY).unlink(missing_ok=True)
    for name in reversed(SITE_FILES):
        if sources[name] is None:
            continue
        staged = site / f".{name}.new"
        shutil.copyfile(sources[name], staged)
        staged.replace(site / name)
    if catalog is not None and key is not None:
        (site / CATALOG_KEY).write_text(key)


def docs_server(site: Path, host: str, port: int) -> http.server.ThreadingHTTPServer:
    """An HTTP server of the site's folder (SITE_FILES and the catalog's key, a hash), quiet: no line per request."""

    class SiteHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format, *args):
            pass

    return http.server.ThreadingHTTPServer((host, port), functools.partial(SiteHandler, directory=str(site)))
