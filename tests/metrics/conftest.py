"""Warehouses the metrics tests query: the conformance kit (tests/conftest.py) and generated data."""

from __future__ import annotations

from datetime import date

import pytest

from tests.conftest import BuiltWarehouse, build_warehouse


@pytest.fixture(scope="session")
def generated_warehouse(tmp_path_factory) -> BuiltWarehouse:
    """Eight weeks of generated data (tools/generate.py) through the real pipeline, once per session."""
    from tools.generate import generate_landing

    root = tmp_path_factory.mktemp("metrics-generated")
    generate_landing(root / "generated", days=56, checkouts_per_day=40, seed=17, end_date=date(2026, 3, 31),
                     history_days=30)
    return build_warehouse(root / "generated", root / "run")
