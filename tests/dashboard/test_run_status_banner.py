"""Data health says when the last run failed: the published copy keeps the last good data, and the
run-status file beside it (written by the pipeline's job) says why it is not newer."""

from __future__ import annotations

import shutil

from streamlit.testing.v1 import AppTest

from pipelines.core.run_status import status_path_of_published
from tests.dashboard.conftest import APP


def _health(published) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    at.switch_page("app_pages/health.py").run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def test_the_health_page_says_the_last_run_failed_and_stops_saying_it_after_a_success(published, tmp_path,
                                                                                      monkeypatch):
    copy = tmp_path / "warehouse.published.duckdb"
    shutil.copyfile(published, copy)
    monkeypatch.setenv("FUNNEL_PUBLISHED", str(copy))
    status = status_path_of_published(copy)
    assert status == tmp_path / "warehouse.published.run-status.json"

    status.write_text('{"run_id": "r9", "status": "failure", "finished_at": "2026-04-03T06:01:00", '
                      '"message": "check raw/orders:raw_rows_match_ledger failed"}')
    banners = [e.value for e in _health(copy).error]
    # (the message is escaped for Markdown: the check's name shows as it is, not in italics)
    assert "The last run failed at 2026-04-03T06:01:00 UTC: check raw/orders\\:raw\\_rows\\_match\\_ledger failed; " \
           "the dashboard shows the last good data." in banners, banners

    status.write_text('{"run_id": "r10", "status": "success", "finished_at": "2026-04-04T06:01:00", '
                      '"message": "published"}')
    assert not [e.value for e in _health(copy).error if "The last run failed at" in e.value]
    status.unlink()
    assert not [e.value for e in _health(copy).error if "The last run failed at" in e.value]
