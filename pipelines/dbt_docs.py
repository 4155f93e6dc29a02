"""The dbt docs site (models, columns, tests, lineage, the metrics) of the published copy: `funnel docs`.

Generated on demand, not by each run: `dbt docs generate` costs 5-9 s on this project's 2-core
machine (a dbt process, parsing, compiling every node, the catalog's queries), more than the ~2 s a
run may spend on it (docs/metrics.md, "The docs site"). `funnel docs` generates it when the published
copy or a file of the dbt project is newer than the site (the first time, and after a run), then
serves it. dbt reads the published copy through the profile's read-only `published` target, so the
catalog (column types, row counts) is that of the tables readers see, and it never blocks a run.
"""

from __future__ import annotations

import functools
import http.server
import shutil
from pathlib import Path

from pipelines.core.settings import DBT_PROJECT_DIR, Settings
from pipelines.dbt_build import project_files
from pipelines.metrics import run_dbt, semantic_target_path

# What the site is: dbt's page and the two artifacts it loads.
SITE_FILES = ("index.html", "manifest.json", "catalog.json")


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


def generate_site(settings: Settings) -> Path:
    """`dbt docs generate` on the published copy; the site's files copied to docs_site_path."""
    if not settings.published.exists():
        raise FileNotFoundError(f"no published copy at {settings.published}: run `funnel run` first")
    run_dbt(settings, "duckdb", "docs", "generate")
    site = docs_site_path(settings.warehouse)
    site.mkdir(parents=True, exist_ok=True)
    # index.html last: the site is stale until every file is in place.
    for name in reversed(SITE_FILES):
        shutil.copyfile(semantic_target_path(settings.warehouse) / name, site / name)
    return site


def docs_server(site: Path, host: str, port: int) -> http.server.ThreadingHTTPServer:
    """An HTTP server of the site's folder (only SITE_FILES are in it), quiet: no line per request."""

    class SiteHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format, *args):
            pass

    return http.server.ThreadingHTTPServer((host, port), functools.partial(SiteHandler, directory=str(site)))
