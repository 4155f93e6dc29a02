"""Shared fixtures: the conformance kit and temporary warehouses."""

from __future__ import annotations

import contextlib
import csv
import shutil
import subprocess
import sys
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


@contextlib.contextmanager
def another_writer(warehouse: Path):
    """Another process holding the warehouse's writer lock, as a running `funnel run` would."""
    code = (
        "import time; from pathlib import Path; from pipelines.warehouse import writer_lock\n"
        f"with writer_lock(Path({str(warehouse)!r})):\n    print('held', flush=True); time.sleep(120)"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        yield
    finally:
        holder.kill()
        holder.wait()
