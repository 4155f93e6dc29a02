"""`funnel docs`: the dbt docs site of the published copy, generated when stale, served on 127.0.0.1."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

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


def test_funnel_docs_serves_on_127_0_0_1_and_stops_on_sigterm(conformance_warehouse):
    from tests.engines.servers import free_port

    port = free_port()
    root = Path(__file__).resolve().parents[2]
    command = [sys.executable, "-m", "pipelines.cli", "docs", "--warehouse", str(conformance_warehouse.warehouse),
               "--port", str(port)]
    server = subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in server.stdout:  # "generating ..." first when the site is stale
            if line.startswith("dbt docs on"):
                assert f"http://127.0.0.1:{port} " in line
                break
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=10) as response:
            assert response.status == 200
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0, server.stderr.read()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
