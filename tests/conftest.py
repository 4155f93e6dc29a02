"""Shared fixtures: the conformance kit and temporary warehouses.

`conformance_warehouse` (and `conformance_dirty_warehouse`) is the kit's landing directory run once per
session through the real pipeline (`pipelines.run.run_pipeline`: ingestion, dbt, data checks,
publishing), for every test that only reads the result. Open it read-only; a test that writes copies
it first (`copy_warehouse`) or builds its own. Teardown fails if a test changed the shared files.
"""

from __future__ import annotations

import contextlib
import csv
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
CONFORMANCE = FIXTURES / "conformance"
CLEAN_LANDING = CONFORMANCE / "landing"
DIRTY_LANDING = CONFORMANCE / "landing-with-bad-rows"
EXPECTED = CONFORMANCE / "expected"


def pytest_configure(config) -> None:
    # What every entry point does first (pipelines/core/settings.py): telemetry off, and dagster-dbt
    # finds this interpreter's `dbt` / `funnel-dbt` on PATH.
    from pipelines.core.settings import prepare_process

    prepare_process()


def read_expected(name: str) -> list[dict[str, str]]:
    with (EXPECTED / name).open(newline="") as handle:
        return list(csv.DictReader(handle))


@dataclass(frozen=True)
class BuiltWarehouse:
    """A warehouse `run_pipeline` built: its settings (landing, warehouse, published copy) and run id."""

    settings: object  # pipelines.core.settings.Settings (imported lazily: collecting tests stays cheap)
    run_id: str
    report: str

    @property
    def warehouse(self) -> Path:
        return self.settings.warehouse

    @property
    def published(self) -> Path:
        return self.settings.published

    @property
    def landing(self) -> Path:
        return self.settings.landing_dir


def build_warehouse(landing: Path, root: Path) -> BuiltWarehouse:
    """`run_pipeline` over a copy of `landing`, with the warehouse at `root/warehouse.duckdb`."""
    from pipelines.core.settings import Settings
    from pipelines.run import run_pipeline

    root.mkdir(parents=True, exist_ok=True)
    shutil.copytree(landing, root / "landing")
    settings = Settings.from_env(landing_dir=root / "landing", warehouse=root / "warehouse.duckdb")
    outcome = run_pipeline(settings)
    return BuiltWarehouse(settings=settings, run_id=outcome.run_id, report=outcome.report)


def copy_warehouse(built: BuiltWarehouse, target: Path, *, published: bool = False) -> Path:
    """A private, writable copy of a built warehouse file (a byte copy: cheap at the kit's size), with
    its published copy beside it when asked (a later run then brings that copy up to date)."""
    from pipelines.core.settings import published_path

    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(built.warehouse, target)
    if published:
        shutil.copyfile(built.published, published_path(target))
    return target


def _stamps(built: BuiltWarehouse) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in (built.warehouse, built.published)}


@contextlib.contextmanager
def _shared(built: BuiltWarehouse):
    before = _stamps(built)
    yield built
    assert _stamps(built) == before, "a test wrote to a shared session warehouse: copy it first (copy_warehouse)"


@pytest.fixture(scope="session")
def conformance_warehouse(tmp_path_factory) -> BuiltWarehouse:
    """The clean conformance kit through the real pipeline, once per session. Read only."""
    with _shared(build_warehouse(CLEAN_LANDING, tmp_path_factory.mktemp("conformance-clean"))) as built:
        yield built


@pytest.fixture(scope="session")
def conformance_dirty_warehouse(tmp_path_factory) -> BuiltWarehouse:
    """The kit's landing directory with bad rows through the real pipeline, once per session. Read only."""
    with _shared(build_warehouse(DIRTY_LANDING, tmp_path_factory.mktemp("conformance-dirty"))) as built:
        yield built


@pytest.fixture
def landing_copy(tmp_path: Path):
    """Copy a landing directory into tmp_path (tests add or break files in their copy)."""

    def copy(source: Path = CLEAN_LANDING) -> Path:
        target = tmp_path / "landing"
        shutil.copytree(source, target)
        return target

    return copy


@contextlib.contextmanager
def another_writer(warehouse: Path):
    """Another process holding the warehouse's writer lock, as a running `funnel run` would."""
    code = (
        "import time; from pathlib import Path; from pipelines.core.warehouse import writer_lock\n"
        f"with writer_lock(Path({str(warehouse)!r})):\n    print('held', flush=True); time.sleep(120)"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        yield
    finally:
        holder.kill()
        holder.wait()


# The `engines` tests' module fixture starts PostgreSQL and Spark and builds the kit and a generated
# data set on both (about 6 minutes for the whole suite, most of it in that setup, which counts
# towards the first test's timeout): they get 20 minutes instead of pyproject.toml's 300 s.
ENGINES_TIMEOUT = 1200


def pytest_collection_modifyitems(items):
    for item in items:
        if item.get_closest_marker("engines") and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(ENGINES_TIMEOUT))
