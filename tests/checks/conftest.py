"""The data-check tests' warehouse (warehouse_fixture.py): built by the real pipeline once per session,
copied for each test, which breaks one rule in its copy."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import duckdb
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from warehouse_fixture import CleanWarehouse, build_clean_warehouse


@pytest.fixture(scope="session")
def clean_warehouse(tmp_path_factory) -> CleanWarehouse:
    return build_clean_warehouse(tmp_path_factory.mktemp("checks-warehouse"))


@pytest.fixture
def warehouse_copy(clean_warehouse, tmp_path) -> Path:
    """This test's own copy of the clean warehouse file."""
    path = tmp_path / "warehouse.duckdb"
    shutil.copyfile(clean_warehouse.path, path)
    return path


@pytest.fixture
def warehouse_con(warehouse_copy):
    """A connection to this test's copy (UTC, as the pipeline's)."""
    connection = duckdb.connect(str(warehouse_copy))
    connection.execute("SET TimeZone = 'UTC'")
    yield connection
    connection.close()
