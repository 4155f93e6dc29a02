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
"""

from __future__ import annotations

import functools
import http.server
import shutil
import tempfile
from pathlib import Path

from pipelines.core.settings import DBT_PROJECT_DIR, Settings
from pipelines.dbt_build import project_files
from pipelines.engines.build import scoped_environ
from pipelines.metrics import dbt_environment, dbt_target, semantic_target_path

# What the site is: dbt's page and the two artifacts it loads.
SITE_FILES = ("index.html", "manifest.json", "catalog.json")


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
        _install(site, target / "manifest.json", target)
        return site
    with tempfile.TemporaryDirectory(dir=site.parent, prefix=f".{site.name}-") as folder:
        _docs_generate(settings, Path(folder), _load_manifest(run_manifest))
        _install(site, run_manifest, Path(folder))
    return site


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


def _install(site: Path, manifest: Path, target: Path) -> None:
    """The site's files from dbt's `target` folder (and `manifest`), each replaced whole (a server may be
    reading it); index.html last: the site is stale until every file is in place."""
    sources = {"manifest.json": manifest, "catalog.json": target / "catalog.json", "index.html": target / "index.html"}
    for name in reversed(SITE_FILES):
        staged = site / f".{name}.new"
        shutil.copyfile(sources[name], staged)
        staged.replace(site / name)


def docs_server(site: Path, host: str, port: int) -> http.server.ThreadingHTTPServer:
    """An HTTP server of the site's folder (only SITE_FILES are in it), quiet: no line per request."""

    class SiteHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format, *args):
            pass

    return http.server.ThreadingHTTPServer((host, port), functools.partial(SiteHandler, directory=str(site)))
