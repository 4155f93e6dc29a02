"""Shared fixtures: the conformance kit and temporary warehouses."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
CONFORMANCE = FIXTURES / "conformance"
CLEAN_LANDING = CONFORMANCE / "landing"
DIRTY_LANDING = CONFORMANCE / "landing-with-bad-rows"
EXPECTED = CONFORMANCE / "expected"


def read_expected(name: str) -> list[dict[str, str]]:
    with (EXPECTED / name).open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture
def landing_copy(tmp_path: Path):
    """Copy a landing directory into tmp_path (tests add or break files in their copy)."""

    def copy(source: Path = CLEAN_LANDING) -> Path:
        target = tmp_path / "landing"
        shutil.copytree(source, target)
        return target

    return copy
