"""The dbt docs site: built by every published run (its last step), refreshed by the next one, never
failing a run; `funnel docs` serves it on 127.0.0.1 and builds it itself only when it is missing or stale."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest
import yaml

from pipelines.core.settings import Settings, dbt_target_path
from pipelines.core.warehouse import connect
from pipelines.dbt_docs import (
    CATALOG_KEY,
    catalog_key,
    docs_server,
    docs_site_path,
    generate_site,
    site_is_stale,
)
from tests.conftest import CLEAN_LANDING

DBT = Path(__file__).resolve().parents[2] / "dbt_project"
NEW_DAY = (
    '{"event_id": "ev901", "event_name": "checkout_started", "event_time": "2026-03-21T10:00:00Z", '
    '"checkout_id": "k91", "customer_id": "c91"}\n'
)


def _built_after_publishing(settings: Settings) -> bool:
    """The site is at least as new as the published copy (site_is_stale also looks at the dbt project's
    files, which a developer may be editing while the tests run)."""
    index = docs_site_path(settings.warehouse) / "index.html"
    return index.exists() and index.stat().st_mtime >= settings.published.stat().st_mtime


def _site(settings: Settings) -> tuple[dict, dict]:
    site = docs_site_path(settings.warehouse)
    return json.loads((site / "manifest.json").read_text()), json.loads((site / "catalog.json").read_text())


def _published_marts(settings: Settings) -> dict[str, list[str]]:
    with connect(settings.published, read_only=True) as con:
        rows = con.execute("SELECT table_name, column_name FROM information_schema.columns "
                           "WHERE table_schema = 'marts' ORDER BY table_name, ordinal_position").fetchall()
    tables: dict[str, list[str]] = {}
    for table, column in rows:
        tables.setdefault(table, []).append(column)
    return tables


def _assert_documents_the_published_copy(settings: Settings) -> None:
    manifest, catalog = _site(settings)
    metrics = yaml.safe_load((DBT / "models" / "semantic" / "metrics.yml").read_text())["metrics"]
    assert set(manifest["metrics"]) == {f"metric.checkout_funnel.{m['name']}" for m in metrics}
    assert "semantic_model.checkout_funnel.checkouts" in manifest["semantic_models"]
    marts = {p.stem for p in (DBT / "models" / "marts").rglob("*.sql")}
    assert {f"model.checkout_funnel.{m}" for m in marts} <= set(manifest["nodes"])
    assert any(n.startswith("test.checkout_funnel.unique_fct_checkouts_checkout_id") for n in manifest["nodes"])
    # The catalog is the published copy's: every table of its marts schema with its columns, in order;
    # staging and intermediate models are documented but not published.
    published = _published_marts(settings)
    documented = {n["metadata"]["name"]: list(n["columns"]) for n in catalog["nodes"].values()
                  if n["metadata"]["schema"] == "marts"}
    assert documented == published
    assert catalog["nodes"]["model.checkout_funnel.fct_checkouts"]["columns"]["started_at"]["type"] == "TIMESTAMP"
    assert not [n for n in catalog["nodes"] if ".stg_" in n or ".int_" in n]


def test_each_run_builds_the_site_the_next_day_refreshes_it_and_a_failure_only_warns(tmp_path, monkeypatch):
    from pipelines.assets import docs
    from pipelines.run import run_pipeline

    landing = tmp_path / "landing"
    shutil.copytree(CLEAN_LANDING, landing)
    settings = Settings.from_env(landing, tmp_path / "warehouse.duckdb")
    first = run_pipeline(settings)
    assert "dbt_docs_site" not in first.report
    assert _built_after_publishing(settings)
    _assert_documents_the_published_copy(settings)
    manifest, catalog = _site(settings)
    # The run's build manifest: every model compiled, with no parse of its own.
    assert manifest["nodes"]["model.checkout_funnel.fct_checkouts"]["compiled_code"]

    # One more day: the next run installs its own build's manifest; the published copy's tables and
    # columns are the same, so it keeps the catalog dbt wrote the first day (its timestamp says so).
    (landing / "checkout_events" / "events-9.jsonl").write_text(NEW_DAY)
    run_pipeline(settings)
    assert _built_after_publishing(settings)
    manifest_2, catalog_2 = _site(settings)
    assert catalog_2 == catalog
    assert manifest_2["metadata"]["invocation_id"] != manifest["metadata"]["invocation_id"]
    _assert_documents_the_published_copy(settings)

    # The docs step fails: the run publishes all the same and warns; the site is stale, and `funnel docs`
    # builds it itself (parsing and compiling the project as it is now).
    def broken(*_args):
        raise RuntimeError("no docs today")

    monkeypatch.setattr(docs, "generate_site", broken)
    (landing / "checkout_events" / "events-10.jsonl").write_text(NEW_DAY.replace("901", "902").replace("k91", "k92"))
    third = run_pipeline(settings)
    assert "WARNING check dbt_docs_site:site_built warned" in third.report
    with connect(settings.published, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM marts.fct_checkouts WHERE checkout_id = 'k92'").fetchall() == [(1,)]
    assert not _built_after_publishing(settings) and site_is_stale(settings)
    generate_site(settings)
    assert _built_after_publishing(settings)
    _assert_documents_the_published_copy(settings)
    assert _site(settings)[1]["metadata"]["generated_at"] > catalog_2["metadata"]["generated_at"]
    # It keys no catalog (the next run generates one): it cannot hash the copy before dbt reads it.
    assert not (docs_site_path(settings.warehouse) / CATALOG_KEY).exists()


def _without_run_metadata(catalog: dict) -> dict:
    """The catalog but when and by which invocation dbt wrote it."""
    metadata = {k: v for k, v in catalog["metadata"].items()
                if k not in ("generated_at", "invocation_id", "invocation_started_at")}
    return {**catalog, "metadata": metadata}


def test_the_catalog_is_reused_while_the_published_schema_is_the_same_and_regenerated_when_not(
        conformance_warehouse, tmp_path):
    built = conformance_warehouse.settings
    shutil.copyfile(built.published, tmp_path / "warehouse.published.duckdb")
    settings = built.with_(warehouse=tmp_path / "warehouse.duckdb",
                           published_copy=tmp_path / "warehouse.published.duckdb")
    manifest = dbt_target_path(built.warehouse) / "manifest.json"
    site = docs_site_path(settings.warehouse)
    generate_site(settings, manifest)
    generated = _site(settings)[1]
    assert (site / CATALOG_KEY).read_text() == catalog_key(settings, manifest)

    # Same schema: the installed catalog stays (same timestamp), and it is what dbt would write now.
    generate_site(settings, manifest)
    reused = _site(settings)[1]
    assert reused == generated
    (site / CATALOG_KEY).unlink()
    generate_site(settings, manifest)
    fresh = _site(settings)[1]
    assert fresh["metadata"]["generated_at"] > reused["metadata"]["generated_at"]
    assert _without_run_metadata(fresh) == _without_run_metadata(reused)
    _assert_documents_the_published_copy(settings)

    # A column added to a published table: dbt reads the catalog again and lists it.
    with connect(settings.published) as con:
        con.execute("ALTER TABLE marts.fct_checkouts ADD COLUMN reviewed BOOLEAN")
    generate_site(settings, manifest)
    added = _site(settings)[1]
    assert added["metadata"]["generated_at"] > fresh["metadata"]["generated_at"]
    columns = added["nodes"]["model.checkout_funnel.fct_checkouts"]["columns"]
    assert list(columns)[-1] == "reviewed" and columns["reviewed"]["type"] == "BOOLEAN"
    _assert_documents_the_published_copy(settings)

    # A missing catalog, or a missing key: dbt again.
    (site / "catalog.json").unlink()
    generate_site(settings, manifest)
    assert _site(settings)[1]["metadata"]["generated_at"] > added["metadata"]["generated_at"]


def test_the_catalog_key_covers_the_manifests_relations_and_the_column_types(conformance_warehouse, tmp_path):
    built = conformance_warehouse.settings
    manifest = dbt_target_path(built.warehouse) / "manifest.json"
    key = catalog_key(built, manifest)
    assert catalog_key(built, manifest) == key
    # A model published under another name: dbt would match another relation to it.
    renamed = json.loads(manifest.read_text())
    renamed["nodes"]["model.checkout_funnel.fct_checkouts"]["alias"] = "fct_checkouts_v2"
    (tmp_path / "manifest.json").write_text(json.dumps(renamed))
    assert catalog_key(built, tmp_path / "manifest.json") != key
    # A column's type changed in the published copy.
    shutil.copyfile(built.published, tmp_path / "warehouse.published.duckdb")
    copy = built.with_(published_copy=tmp_path / "warehouse.published.duckdb")
    assert catalog_key(copy, manifest) == key
    with connect(copy.published) as con:
        con.execute("ALTER TABLE marts.fct_checkouts ALTER started_at TYPE VARCHAR")
    assert catalog_key(copy, manifest) != key


def test_a_published_copy_of_another_database_name_is_still_catalogued(conformance_warehouse, tmp_path):
    # FUNNEL_PUBLISHED naming a file of another stem: DuckDB names its database `readers`, the build's
    # manifest says `warehouse`, so the site is built from a parse of the published target instead.
    built = conformance_warehouse.settings
    readers = tmp_path / "readers.duckdb"
    shutil.copyfile(built.published, readers)
    settings = built.with_(warehouse=tmp_path / "warehouse.duckdb", published_copy=readers)
    generate_site(settings, dbt_target_path(built.warehouse) / "manifest.json")
    _assert_documents_the_published_copy(settings)


# Dagster's warning about a check definition given hooks (pipelines/definitions.py silences it there).
@pytest.mark.filterwarnings("ignore::dagster.BetaWarning")
def test_the_site_is_a_step_after_publishing_and_the_brief_on_duckdb_only():
    from pipelines.definitions import build_definitions

    graph = build_definitions().resolve_asset_graph()
    site = graph.get(next(k for k in graph.get_all_asset_keys() if k.to_user_string() == "dbt_docs_site"))
    assert {k.to_user_string() for k in site.parent_keys} == {"published_warehouse", "kpi_brief"}
    engine = build_definitions(target="postgres").resolve_asset_graph()
    assert "dbt_docs_site" not in {k.to_user_string() for k in engine.get_all_asset_keys()}


def test_the_run_built_site_is_served_locally(conformance_warehouse):
    settings = conformance_warehouse.settings
    assert _built_after_publishing(settings)  # by the run
    site = docs_site_path(settings.warehouse)
    server = docs_server(site, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        with urllib.request.urlopen(f"{base}/manifest.json", timeout=10) as response:
            manifest = json.load(response)
        with urllib.request.urlopen(f"{base}/catalog.json", timeout=10) as response:
            catalog = json.load(response)
        with urllib.request.urlopen(f"{base}/index.html", timeout=10) as response:
            assert b"dbt Docs" in response.read()
    finally:
        server.shutdown()
        server.server_close()
    assert (manifest, catalog) == _site(settings)
    _assert_documents_the_published_copy(settings)


def test_funnel_docs_serves_on_127_0_0_1_and_stops_on_sigterm(conformance_warehouse):
    from tests.engines.servers import free_port

    port = free_port()
    site_was_stale = site_is_stale(conformance_warehouse.settings)
    root = Path(__file__).resolve().parents[2]
    command = [sys.executable, "-m", "pipelines.cli", "docs", "--warehouse", str(conformance_warehouse.warehouse),
               "--port", str(port)]
    server = subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # The run built the site; "generating ..." comes first only if a file of the dbt project changed since.
        lines = []
        for line in server.stdout:
            lines.append(line)
            if line.startswith("dbt docs on"):
                break
        assert lines[-1].startswith(f"dbt docs on http://127.0.0.1:{port} "), lines
        assert len(lines) == (2 if site_was_stale else 1), lines
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=10) as response:
            assert response.status == 200
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0, server.stderr.read()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
