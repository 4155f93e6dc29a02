"""Issue #14 on the dashboard: every page renders on a published warehouse with nothing loaded
(no file yet; only rejected files) and says so, and the Data health page lists the files that need
someone's attention first. The warehouses are built by the real pipeline
(tests/dashboard/pipeline_warehouses.py); the attention tests that need cases a run cannot produce
add ledger rows to a copy of one."""

from __future__ import annotations

import datetime as dt
import shutil

import duckdb
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from tests.dashboard import pipeline_warehouses as pw
from tests.dashboard.conftest import APP
from tests.dashboard.test_pages import PAGES

NO_DATA = "No data yet"
CHANGED = ("file changed after it was loaded (loaded version sha256 aaa..., this version bbb...): land corrections "
           "as a new file")


def _page(published, monkeypatch, page: str) -> AppTest:
    monkeypatch.setenv("FUNNEL_PUBLISHED", str(published))
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    at.switch_page(page).run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _notices(at: AppTest) -> str:
    return " ".join(x.value for x in (*at.info, *at.warning, *at.success, *at.error))


@pytest.mark.parametrize("kind", ["empty", "rejected_only"])
@pytest.mark.parametrize("page", PAGES)
def test_page_on_warehouse_with_nothing_loaded(pipeline_published, monkeypatch, kind, page):
    """No exception, and the no-data message saying what to do: on a warehouse of an empty landing
    directory, and on one where every landed file was rejected (pointing to the Data health page)."""
    at = _page(pipeline_published(kind), monkeypatch, page)
    text = _notices(at)
    assert NO_DATA in text
    assert "landing directory" in text and "`funnel run`" in text
    assert "No data loaded yet" in " ".join(c.value for c in at.caption)  # the status line
    health = page.endswith("health.py")
    links = [e for e in at.main if getattr(e, "type", "") == "page_link"]
    if kind == "empty":
        assert "no file has been loaded" in text
        assert not links
        if health:
            assert "No file needs attention: no file has landed yet." in text
    else:
        assert "2 files have landed, but no row was loaded (2 rejected)" in text
        if health:
            assert "The files that need attention and the rejected rows below say why" in text
            assert "2 landed files need attention: 2 rejected" in text
            assert not links
        else:
            assert "The **Data health** page says why" in text
            # a link to the Data health page under the notice
            assert [(link.value, link.proto.page) for link in links] == [
                ("Data health: files that need attention", "health")]
    if page.endswith("sql.py"):  # the SQL page stays usable: the tables exist, empty
        assert any("marts.kpi_weekly" in str(sb.options) for sb in at.selectbox)


def _attention(at: AppTest) -> pd.DataFrame:
    for df in at.dataframe:
        if {"file_path", "attention", "reason", "when"} <= set(df.value.columns):
            return df.value
    raise AssertionError("no files-that-need-attention table")


def _samples(at: AppTest) -> list[pd.DataFrame]:
    return [df.value for df in at.dataframe if list(df.value.columns) == ["row_number", "reason", "raw_record"]]


def _markdown(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


def test_health_lists_rejected_files_with_their_rows(pipeline_published, monkeypatch):
    at = _page(pipeline_published("rejected_only"), monkeypatch, "app_pages/health.py")
    files = _attention(at).set_index("file_path")
    assert set(files.index) == {pw.CORRUPT_PARQUET, pw.MISSING_COLUMNS_CSV}
    assert set(files.attention) == {"rejected"}
    assert files.loc[pw.CORRUPT_PARQUET, "reason"].startswith("file cannot be read")
    assert "required column" in files.loc[pw.MISSING_COLUMNS_CSV, "reason"]
    md = _markdown(at)
    for path in files.index:
        assert f"`{path}`" in md
    # files rejected whole: their audit.rejected_rows record only repeats the reason, so no sample table
    assert _samples(at) == []


def test_health_attention_over_a_real_run(pipeline_published, monkeypatch):
    """A run that lands an ignored .json file, a file outside the source folders, an empty file, bad
    rows and files rejected whole; then a second run after a loaded file was changed."""
    published = pipeline_published("attention")
    at = _page(published, monkeypatch, "app_pages/health.py")
    assert NO_DATA not in _notices(at)  # the kit's good rows loaded
    files = _attention(at).set_index("file_path")
    assert files.loc[pw.IGNORED_JSON, "attention"] == "ignored"
    assert files.loc[pw.IGNORED_JSON, "reason"].startswith("not a contract file:")
    assert files.loc[pw.IGNORED_OUTSIDE, "attention"] == "ignored"
    assert files.loc[pw.IGNORED_OUTSIDE, "source"] == "(no source folder)"
    assert files.loc[pw.EMPTY_FILE, "attention"] == "empty"
    assert files.loc[pw.EMPTY_FILE, "reason"] == "file is empty (0 bytes)"
    assert files.loc[pw.CHANGED_FILE, "attention"] == "changed after load"
    assert files.loc[pw.CHANGED_FILE, "status"] == "rejected"
    assert files.loc[pw.CHANGED_FILE, "reason"].startswith("file changed after it was loaded")
    assert files.loc["checkout_events/events-5-corrupt.parquet", "attention"] == "rejected"
    assert files.loc["orders/orders-5-missing-column.csv", "attention"] == "rejected"
    # files loaded with some bad rows are loaded: they are in the ledger and the rejected-rows chart
    assert "checkout_events/events-4-bad.jsonl" not in files.index
    # newest first: the changed file came in the second run
    assert files.index[0] == pw.CHANGED_FILE
    con = duckdb.connect(str(published), read_only=True)
    try:
        ledger = con.execute("SELECT file_path, status FROM audit.load_ledger").df()
    finally:
        con.close()
    expected = set(ledger[ledger.status != "loaded"].file_path)
    assert set(files.index) == expected  # every file not loaded, and only those
    warning = " ".join(w.value for w in at.warning)
    assert f"{len(expected)} landed files need attention" in warning
    for label in ("rejected", "changed after load", "ignored", "empty"):
        assert label in warning
    md = _markdown(at)
    for label, color in (("changed after load", "orange"), ("ignored", "gray"), ("empty", "blue"), ("rejected", "red")):
        assert f":{color}-badge[{label}]" in md
    # the attention list comes first, before the run metrics and the ledger
    subheaders = [s.value for s in at.subheader]
    assert subheaders[0] == "Files that need attention"


def _copy(pipeline_published, kind, tmp_path):
    target = tmp_path / "copy.published.duckdb"
    shutil.copyfile(pipeline_published(kind), target)
    target.chmod(0o644)
    return target


def test_health_attention_rows_and_samples(pipeline_published, monkeypatch, tmp_path):
    """Ledger rows added to a copy of a real run's warehouse: a NULL source, an empty file filled and
    loaded later (no attention any more), a changed file whose earlier version had rejected rows
    (only this version's rows are its sample), and a file with more than 5 rejected rows."""
    published = _copy(pipeline_published, "rejected_only", tmp_path)
    con = duckdb.connect(str(published))
    t0 = con.execute("SELECT max(loaded_at) FROM audit.load_ledger").fetchone()[0] + dt.timedelta(minutes=1)
    con.close()
    ledger = [
        # source, file_path, status, reason, rows_read, rows_loaded, rows_rejected, loaded_at, run_id
        (None, "stray.bin", "ignored", "not a contract file: outside the source folders", 0, 0, 0, t0, "r1"),
        ("orders", "orders/late.csv", "empty", "file is empty (0 bytes)", 0, 0, 0, t0, "r1"),
        ("orders", "orders/late.csv", "loaded", None, 3, 3, 0, t0 + dt.timedelta(hours=1), "r2"),
        ("orders", "orders/fixed.csv", "loaded", None, 9, 2, 7, t0, "r1"),
        ("orders", "orders/fixed.csv", "rejected", CHANGED, 0, 0, 0, t0 + dt.timedelta(hours=2), "r3"),
    ]
    rejected = [("orders", "orders/fixed.csv", i, f"bad row {i}", f'{{"order_id": "x{i}", "email": "***"}}', t0, "r1")
                for i in range(1, 8)]
    rejected.append(("orders", "orders/fixed.csv", None, CHANGED, None, t0 + dt.timedelta(hours=2), "r3"))
    rejected += [("orders", "orders/many.csv", i, "amount is negative", f'{{"amount": -{i}}}', t0, "r1")
                 for i in range(12, 0, -1)]
    ledger.append(("orders", "orders/many.csv", "loaded", None, 20, 8, 12, t0, "r1"))
    con = duckdb.connect(str(published))
    try:
        con.executemany("""INSERT INTO audit.load_ledger (source, file_path, status, reason, rows_read, rows_loaded,
                           rows_rejected, duplicates_dropped, loaded_at, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?)""",
                        ledger)
        con.executemany("INSERT INTO audit.rejected_rows VALUES (?, ?, ?, ?, ?, ?, ?)", rejected)
        # a file rejected with more than 5 rows: the sample shows 5, in row order
        con.execute("""INSERT INTO audit.load_ledger (source, file_path, status, reason, rows_read, rows_loaded,
                       rows_rejected, duplicates_dropped, loaded_at, run_id) VALUES (?, ?, ?, ?, 12, 0, 12, 0, ?, 'r1')""",
                    ["orders", "orders/bad_$name*.csv", "rejected", "required column amount missing", t0])
        con.executemany("INSERT INTO audit.rejected_rows VALUES ('orders', 'orders/bad_$name*.csv', ?, ?, ?, ?, 'r1')",
                        [(i, "required column amount missing", f'{{"order_id": "b{i}"}}', t0) for i in range(12, 0, -1)])
    finally:
        con.close()

    at = _page(published, monkeypatch, "app_pages/health.py")
    files = _attention(at).set_index("file_path")
    assert "orders/late.csv" not in files.index  # filled and loaded after it was empty
    assert "orders/many.csv" not in files.index  # loaded (its bad rows are in the chart below)
    assert files.loc["stray.bin", "source"] == "(no source folder)"
    assert files.loc["stray.bin", "attention"] == "ignored"
    assert files.loc["orders/fixed.csv", "attention"] == "changed after load"
    assert files.loc["orders/bad_$name*.csv", "attention"] == "rejected"
    assert files.index[0] == "orders/fixed.csv"  # newest first

    md = _markdown(at)
    assert "`orders/bad_$name*.csv`" in md  # the path as code
    # one sample table: bad_$name*.csv's first 5 rows. The changed file's sample is this version's
    # record only (it repeats the reason, so no table), never the loaded version's 7 bad rows; files
    # rejected whole show their reason only; stray.bin has no rejected rows.
    samples = _samples(at)
    assert len(samples) == 1
    assert samples[0].row_number.tolist() == [1, 2, 3, 4, 5]
    assert samples[0].reason.unique().tolist() == ["required column amount missing"]
    assert samples[0].raw_record.iloc[0] == '{"order_id": "b1"}'
    assert any("first 5 of 12" in c.value for c in at.caption)


def test_health_says_when_nothing_needs_attention(pipeline_published, monkeypatch, tmp_path):
    published = _copy(pipeline_published, "attention", tmp_path)
    con = duckdb.connect(str(published))
    try:
        con.execute("DELETE FROM audit.load_ledger WHERE status <> 'loaded'")
    finally:
        con.close()
    at = _page(published, monkeypatch, "app_pages/health.py")
    assert any(s.value == "No file needs attention: every landed file was loaded." for s in at.success)
    assert not any("need attention" in w.value for w in at.warning)
