"""The dashboard keeps serving the last published data while `funnel run` writes the warehouse, and
picks up the new publish when the run ends, without a restart."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
from streamlit.testing.v1 import AppTest

from pipelines.core.settings import published_path
from tests.dashboard.conftest import APP, ROOT

LANDING = ROOT / "tests" / "fixtures" / "conformance" / "landing"


def _pipeline_holds(warehouse) -> bool:
    """Whether another process holds DuckDB's write lock on the warehouse right now.

    Read from /proc/locks, without opening the file: a probe that opened the warehouse (even
    read-only) could itself make the pipeline's next connection fail with a lock conflict."""
    try:
        st = warehouse.stat()
        locks = Path("/proc/locks").read_text().splitlines()
    except FileNotFoundError:
        return False
    dev = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    return any(len(f) >= 6 and f[3] == "WRITE" and f[5] == dev and int(f[4]) != os.getpid()
               for f in (line.split() for line in locks))


def _rerun(at: AppTest) -> AppTest:
    """Run the page again. CPython 3.11 can raise a spurious SystemError "AST constructor recursion
    depth mismatch" while compiling (python/cpython gh-106905); it is not the page's fault, and the
    next run compiles cleanly, so such a run is retried once."""
    at.run()
    if at.exception and all("AST constructor recursion depth mismatch" in e.message for e in at.exception):
        at.run()
    return at


def _caption(at: AppTest) -> str:
    return next(c.value for c in at.caption if "Data as of" in c.value)


def _earlier_run(source: Path, published: Path) -> str:
    """A copy of `source` as an earlier run published it, a day before its run: the run's caption."""
    shutil.copyfile(source, published)
    published.chmod(0o644)
    with duckdb.connect(str(published)) as con:
        con.execute("UPDATE audit.pipeline_runs SET started_at = started_at - INTERVAL 1 DAY, "
                    "finished_at = finished_at - INTERVAL 1 DAY")
        finished = con.execute("SELECT max(finished_at) FROM audit.pipeline_runs").fetchall()[0][0]
    return f"pipeline last ran {finished:%Y-%m-%d %H:%M} UTC (success)"


def test_dashboard_serves_while_the_pipeline_runs(published, tmp_path, monkeypatch):
    landing = tmp_path / "landing"
    shutil.copytree(LANDING, landing)
    warehouse = tmp_path / "warehouse.duckdb"
    old_run = _earlier_run(published, published_path(warehouse))
    monkeypatch.setenv("FUNNEL_PUBLISHED", str(published_path(warehouse)))

    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert old_run in _caption(at)

    log = (tmp_path / "run.log").open("w")
    run = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "run", "--landing", str(landing),
                            "--warehouse", str(warehouse)], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    reads_while_writing = 0
    reads = 0
    try:
        deadline = time.monotonic() + 240
        while run.poll() is None and time.monotonic() < deadline:
            _rerun(at)
            assert not at.exception, [e.message for e in at.exception]
            reads += 1
            caption = _caption(at)
            if old_run in caption and _pipeline_holds(warehouse):
                reads_while_writing += 1  # the pipeline holds the warehouse and the page still read
            time.sleep(0.2)
        rc = run.wait(timeout=30)
    finally:
        if run.poll() is None:
            run.kill()
        log.close()
    assert rc == 0, (tmp_path / "run.log").read_text()[-3000:]
    assert reads_while_writing >= 1, f"never read while the pipeline held the warehouse ({reads} reads)"

    _rerun(at)  # the same app, the same process: no restart
    assert not at.exception
    caption = _caption(at)
    assert old_run not in caption and "(success)" in caption
    assert "Data as of 2026-04-03 10:00 UTC" in caption  # the conformance data's as_of
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Checkout conversion"] == "0.0%"  # cohort week of 2026-02-23
