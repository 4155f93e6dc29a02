"""Fixtures for the dashboard tests: a published DuckDB built from the conformance kit's figures."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.dashboard.warehouse_fixture import build_published

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "dashboards" / "app.py"
CHROMIUM = Path(os.environ.get("FUNNEL_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def published(tmp_path_factory) -> Path:
    """The fixture published copy (read-only for every test: tests that change it copy it first)."""
    path = build_published(tmp_path_factory.mktemp("published") / "warehouse.published.duckdb")
    path.chmod(0o444)
    return path


@pytest.fixture(scope="session")
def published_without_checks(tmp_path_factory) -> Path:
    return build_published(tmp_path_factory.mktemp("nochecks") / "warehouse.published.duckdb",
                           with_check_results=False)


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
    built once per session on first use: `pipeline_published("empty" | "rejected_only" | "attention")`.
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
