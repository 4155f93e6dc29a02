"""A test that hangs fails, and the suite goes on (pytest-timeout, configured in pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_a_hanging_test_fails_with_a_timeout_and_the_next_test_runs(tmp_path):
    (tmp_path / "test_hangs.py").write_text(
        "import subprocess, sys, time\n\n"
        "def test_hangs_in_python():\n    time.sleep(120)\n\n"
        "def test_hangs_on_a_subprocess():\n"
        "    subprocess.run([sys.executable, '-c', 'import time; time.sleep(120)'], check=False)\n\n"
        "def test_after_them():\n    pass\n"
    )
    started = time.monotonic()
    done = subprocess.run(
        # The project's configuration (method included), with the limit lowered to 1 s.
        [sys.executable, "-m", "pytest", "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(tmp_path),
         "-p", "no:cacheprovider", "-o", "timeout=1", "-q", "--junitxml", str(tmp_path / "report.xml"),
         str(tmp_path / "test_hangs.py")],
        check=False, capture_output=True, text=True, timeout=100, cwd=tmp_path,
    )
    assert time.monotonic() - started < 60, done.stdout
    assert done.returncode == 1, done.stdout + done.stderr
    # Read the outcome from the JUnit report: the terminal's text depends on its width.
    cases = {case.get("name"): case for case in ET.parse(tmp_path / "report.xml").iter("testcase")}
    timed_out = {name for name, case in cases.items()
                 if any("Timeout (>1.0s) from pytest-timeout" in (failure.get("message") or "")
                        for failure in case.iter("failure"))}
    assert timed_out == {"test_hangs_in_python", "test_hangs_on_a_subprocess"}, done.stdout
    assert set(cases) - timed_out == {"test_after_them"}, done.stdout
    assert not list(cases["test_after_them"]), done.stdout


@pytest.mark.engines
def test_engines_tests_get_the_longer_timeout(request):
    from tests.conftest import ENGINES_TIMEOUT

    assert request.node.get_closest_marker("timeout").args == (ENGINES_TIMEOUT,)
