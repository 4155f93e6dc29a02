"""Fixtures for the dashboard tests: published copies built by the real pipeline
(tests/dashboard/pipeline_warehouses.py), once per session each."""

from __future__ import annotations

import csv
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "dashboards" / "app.py"
SEED_TARGETS = ROOT / "dbt_project" / "seeds" / "kpi_targets.csv"
CHROMIUM = Path(os.environ.get("FUNNEL_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def published(pipeline_published) -> Path:
    """The conformance kit's landing (with its bad rows, plus payment_failed events) published by the
    real pipeline: read-only for every test (tests that change it copy it first: `writable_copy`)."""
    return pipeline_published("kit")


@pytest.fixture
def use_published(published, monkeypatch) -> Path:
    monkeypatch.setenv("FUNNEL_PUBLISHED", str(published))
    return published


@pytest.fixture
def writable_copy(published, tmp_path) -> Path:
    target = tmp_path / "copy.published.duckdb"
    shutil.copyfile(published, target)
    target.chmod(0o644)
    return target


@pytest.fixture
def published_without_checks(writable_copy) -> Path:
    """A copy of `published` from before the data checks wrote any result (no audit.check_results)."""
    with duckdb.connect(str(writable_copy)) as con:
        con.execute("DROP TABLE audit.check_results")
    return writable_copy


def march_on_track(published: Path) -> dict[str, bool]:
    """Whether March 2026 (the kit's latest closed month) meets the seed's monthly target, for the two
    order KPIs of the Overview with a target: manual intervention (lower is better) and the
    self-service share of first orders (higher is better)."""
    with SEED_TARGETS.open() as f:
        target = {r["kpi_name"]: float(r["target"]) for r in csv.DictReader(f) if r["grain"] == "month"}
    with duckdb.connect(str(published), read_only=True) as con:
        rate, share = con.execute("SELECT manual_intervention_rate, self_service_first_order_share FROM marts.kpi_monthly "
                                  "WHERE period_start = DATE '2026-03-01'").fetchall()[0]
    return {"manual_intervention_rate": rate <= target["manual_intervention_rate"],
            "self_service_first_order_share": share >= target["self_service_first_order_share"]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def require_chromium() -> Path:
    """Chromium for browser tests: skip with how-to where missing, but fail in CI (CI=true)."""
    if CHROMIUM.is_file():
        return CHROMIUM
    message = (f"no Chromium at {CHROMIUM}: install it with `apt-get install -y chromium` "
               "(Debian; .ci/run does it in CI), or point FUNNEL_CHROMIUM at a Chromium binary")
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def pipeline_published(tmp_path_factory):
    """Published copies built by the real pipeline (tests/dashboard/pipeline_warehouses.py), each
    built once per session on first use: `pipeline_published("kit" | "interventions" | "empty" |
    "rejected_only" | "attention")`.
    Each is built in its own process, as `funnel run` is: the browser tests' Playwright event loop and
    the pipeline's Dagster never share a process."""
    built: dict[str, Path] = {}

    def get(kind: str) -> Path:
        if kind not in built:
            done = subprocess.run(
                [sys.executable, "-m", "tests.dashboard.pipeline_warehouses", kind,
                 str(tmp_path_factory.mktemp(f"pipeline-{kind}"))],
                cwd=ROOT, capture_output=True, text=True, timeout=240, check=False)
            assert done.returncode == 0, f"building the {kind} warehouse failed:\n{done.stdout}\n{done.stderr}"
            built[kind] = Path(done.stdout.strip().splitlines()[-1])
            built[kind].chmod(0o444)
        return built[kind]

    return get
