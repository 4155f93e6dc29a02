"""A test that hangs fails, and the suite goes on (pytest-timeout, configured in pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys
import time
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
         "-p", "no:cacheprovider", "-o", "timeout=1", "-q", str(tmp_path / "test_hangs.py")],
        check=False, capture_output=True, text=True, timeout=100, cwd=tmp_path,
    )
    assert time.monotonic() - started < 60, done.stdout
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.count("Failed: Timeout (>1.0s) from pytest-timeout") == 2, done.stdout
    assert "2 failed, 1 passed" in done.stdout, done.stdout


@pytest.mark.engines
def test_engines_tests_get_the_longer_timeout(request):
    from tests.conftest import ENGINES_TIMEOUT

    assert request.node.get_closest_marker("timeout").args == (ENGINES_TIMEOUT,)
