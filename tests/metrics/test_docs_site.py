"""`funnel docs`: the dbt docs site of the published copy, generated when stale, served on 127.0.0.1."""

from __future__ import annotations

import json
import threading
import urllib.request

from pipelines.dbt_docs import docs_server, docs_site_path, generate_site, site_is_stale


def test_the_site_documents_models_columns_tests_and_metrics_and_is_served_locally(conformance_warehouse):
    settings = conformance_warehouse.settings
    if site_is_stale(settings):  # another test of the session may have generated it
        generate_site(settings)
    assert not site_is_stale(settings)
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
    checkouts = manifest["nodes"]["model.checkout_funnel.fct_checkouts"]
    assert "started_at" in checkouts["columns"]
    assert any(n.startswith("test.checkout_funnel.unique_fct_checkouts_checkout_id") for n in manifest["nodes"])
    assert "metric.checkout_funnel.checkout_conversion_rate" in manifest["metrics"]
    assert "semantic_model.checkout_funnel.checkouts" in manifest["semantic_models"]
    # The catalog is the published copy's: its tables' column types, and no staging or intermediate model.
    assert catalog["nodes"]["model.checkout_funnel.fct_checkouts"]["columns"]["started_at"]["type"] == "TIMESTAMP"
    assert not [n for n in catalog["nodes"] if ".stg_" in n or ".int_" in n]
