"""Every file accounted for (the spec's data contract): every file and every new version of it gets a
ledger row in the run that first sees it (`loaded`, `rejected`, `empty`, `ignored`), names starting
with `.` or `_` are skipped, and nothing is read twice. Scenarios of two or more ingestion runs."""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest

from pipelines import report
from pipelines.core import contract
from pipelines.core.warehouse import connect
from pipelines.ingest import load
from pipelines.ingest.load import ingest_landing, new_files

EVENT = {"event_name": "checkout_started", "event_time": "2026-03-02T10:00:00Z", "checkout_id": "k1",
         "customer_id": "c1"}
ORDER = {"customer_id": "c1", "created_at": "2026-03-02T10:00:00Z", "channel": "web_direct",
         "order_type": "new_subscription", "status": "completed", "amount": "10.5", "currency": "USD",
         "manual_intervention": "false"}
KEY = {"checkout_events": "event_id", "orders": "order_id"}
# (source, suffix): every format of the contract.
FORMATS = [("checkout_events", "jsonl"), ("checkout_events", "jsonl.gz"), ("checkout_events", "parquet"),
           ("orders", "csv"), ("orders", "parquet")]
FORMAT_IDS = [f"{source}-{suffix}" for source, suffix in FORMATS]


def _table(source: str, ids: list[str]) -> pa.Table:
    template = EVENT if source == "checkout_events" else ORDER
    return pa.Table.from_pylist([{KEY[source]: i, **template} for i in ids])


def _file_bytes(source: str, suffix: str, ids: list[str]) -> bytes:
    """A file of the format with one valid row per id."""
    table = _table(source, ids)
    buffer = io.BytesIO()
    if suffix.startswith("jsonl"):
        text = "".join(json.dumps(row) + "\n" for row in table.to_pylist()).encode()
        return gzip.compress(text, mtime=0) if suffix.endswith(".gz") else text
    if suffix == "csv":
        pa_csv.write_csv(table, buffer)
    else:
        pq.write_table(table, buffer)
    return buffer.getvalue()


def _broken_bytes(source: str, suffix: str) -> bytes:
    """A version that is rejected whole: truncated gzip or Parquet, not UTF-8, a CSV without a required column."""
    if suffix == "csv":
        return b"order_id,customer_id\no1,c1\n"
    if suffix == "jsonl":
        return b'{"event_id": "caf\xe9"}\n'
    complete = _file_bytes(source, suffix, ["x1", "x2", "x3"])
    return complete[: len(complete) // 2]


_clock = iter(range(1_800_000_000, 1_900_000_000, 10))


def _land(path: Path, data: bytes) -> Path:
    """Write a version of a file, with a modification time of its own (as a later landing has)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    moment = next(_clock)
    os.utime(path, (moment, moment))
    return path


def _ingest(landing: Path, warehouse: Path) -> load.IngestSummary:
    with connect(warehouse) as con:
        return ingest_landing(con, landing)


def _query(warehouse: Path, sql: str, params=()) -> list[tuple]:
    with connect(warehouse) as con:
        return con.execute(sql, list(params)).fetchall()


def _ledger(warehouse: Path) -> list[tuple]:
    """(file_path, status, reason, rows_read, rows_loaded, rows_rejected) in the order recorded."""
    return _query(
        warehouse,
        "SELECT file_path, status, reason, rows_read, rows_loaded, rows_rejected FROM audit.load_ledger "
        "ORDER BY loaded_at, file_path",
    )


def _raw_ids(warehouse: Path, source: str) -> list[str]:
    return [r[0] for r in _query(warehouse, f"SELECT {KEY[source]} FROM raw.{source} ORDER BY 1")]


def _file_reasons(warehouse: Path) -> list[tuple]:
    """audit.rejected_rows of files rejected whole (no row number): (file_path, reason)."""
    return _query(warehouse, "SELECT file_path, reason FROM audit.rejected_rows WHERE row_number IS NULL "
                             "ORDER BY rejected_at, file_path")


@pytest.mark.parametrize("first", ["empty", "rejected"])
@pytest.mark.parametrize(("source", "suffix"), FORMATS, ids=FORMAT_IDS)
def test_a_new_version_of_a_file_never_loaded_is_read_like_a_new_file(tmp_path, source, suffix, first):
    """An empty file later filled, a truncated (or otherwise unreadable) file later replaced by its
    complete version: the next run reads the new version; nothing was loaded from the first one."""
    landing, warehouse = tmp_path / "landing", tmp_path / "w.duckdb"
    path = landing / source / f"part-1.{suffix}"
    relative = f"{source}/part-1.{suffix}"
    _land(path, b"" if first == "empty" else _broken_bytes(source, suffix))
    _ingest(landing, warehouse)
    ((_, status, reason, read, loaded, rejected),) = _ledger(warehouse)
    assert (status, loaded) == (first, 0)
    if first == "empty":
        assert (reason, read, rejected) == (contract.EMPTY_REASON, 0, 0)
        assert _file_reasons(warehouse) == []
    else:
        assert _file_reasons(warehouse) == [(relative, reason)]
    assert _raw_ids(warehouse, source) == []

    _land(path, _file_bytes(source, suffix, ["a", "b", "c"]))
    summary = _ingest(landing, warehouse)
    assert [(f.file_path, f.status, f.rows_read, f.rows_loaded) for f in summary.files] == [(relative, "loaded", 3, 3)]
    assert _ledger(warehouse)[1] == (relative, "loaded", None, 3, 3, 0)
    assert _raw_ids(warehouse, source) == ["a", "b", "c"]
    assert _query(warehouse, f"SELECT DISTINCT _file_path FROM raw.{source}") == [(relative,)]
    # Nothing new: no ledger row, nothing to do.
    assert _ingest(landing, warehouse).files == []
    assert len(_ledger(warehouse)) == 2


@pytest.mark.parametrize(("source", "suffix"), FORMATS, ids=FORMAT_IDS)
def test_a_loaded_file_changed_is_rejected_every_time_and_nothing_is_removed(tmp_path, source, suffix):
    landing, warehouse = tmp_path / "landing", tmp_path / "w.duckdb"
    path = landing / source / f"part-1.{suffix}"
    relative = f"{source}/part-1.{suffix}"
    _land(path, _file_bytes(source, suffix, ["a", "b"]))
    _ingest(landing, warehouse)
    loaded_sha = load._sha256(path)

    for run, ids in enumerate([["a", "b", "c"], ["d"], None], start=2):  # rewritten, again, then truncated to 0 bytes
        data = b"" if ids is None else _file_bytes(source, suffix, ids)
        _land(path, data)
        summary = _ingest(landing, warehouse)
        (result,) = summary.files
        this_sha = load._sha256(path)
        # A change of a loaded file, whatever the new bytes (0 bytes too: not `empty`).
        assert (result.status, result.rows_read, result.rows_loaded, result.rows_rejected) == ("rejected", 0, 0, 0)
        assert result.reason == contract.changed_reason(loaded_sha, this_sha)
        assert result.reason.startswith("file changed after it was loaded (loaded version sha256 " + loaded_sha[:12])
        assert (result.file_sha256, result.file_size) == (this_sha, len(data))
        assert len(_ledger(warehouse)) == run
    statuses = [(row[1], row[3], row[4]) for row in _ledger(warehouse)]
    assert statuses == [("loaded", 2, 2)] + [("rejected", 0, 0)] * 3
    # Nothing of the loaded version removed, nothing of the later ones loaded.
    assert _raw_ids(warehouse, source) == ["a", "b"]
    reasons = _file_reasons(warehouse)
    assert [p for p, _ in reasons] == [relative] * 3
    assert all(r.startswith(contract.CHANGED_AFTER_LOADED) for _, r in reasons)
    # Back to the loaded bytes: that version is known, no row.
    _land(path, _file_bytes(source, suffix, ["a", "b"]))
    assert _ingest(landing, warehouse).files == []
    assert len(_ledger(warehouse)) == 4


def test_the_changed_file_check_warns_naming_the_file_and_the_ledger_checks_pass(tmp_path):
    from data_checks.catalog import all_checks
    from data_checks.runner import run_checks

    landing, warehouse = tmp_path / "landing", tmp_path / "w.duckdb"
    path = _land(landing / "checkout_events" / "events-1.jsonl", _file_bytes("checkout_events", "jsonl", ["a"]))
    _land(landing / "orders" / "orders-1.csv", _file_bytes("orders", "csv", ["o1"]))
    _land(landing / "orders" / "orders-2.csv", b"")
    _land(landing / "checkout_events" / "events-x.json", b"{}\n")
    _ingest(landing, warehouse)
    names = ("files_changed_after_load", "ledger_rows_conserved", "raw_rows_match_ledger", "rejected_rows_match_ledger")
    checks = [c for c in all_checks() if c.name in names]
    with connect(warehouse) as con:
        results = {r.check_name: r for r in run_checks(con, "check-1", checks, write=False)}
    assert all(r.passed for r in results.values()), results
    assert results["files_changed_after_load"].observed_value == "0 file(s) changed after they were loaded"

    for ids in (["a", "b"], ["a", "b", "c"]):
        _land(path, _file_bytes("checkout_events", "jsonl", ids))
        _ingest(landing, warehouse)
    with connect(warehouse) as con:
        results = {r.check_name: r for r in run_checks(con, "check-2", checks, write=False)}
        scoped = run_checks(con, "check-3", checks, write=False, loads=[r[0] for r in con.execute(
            "SELECT DISTINCT run_id FROM audit.load_ledger").fetchall()])
    changed = results.pop("files_changed_after_load")
    assert (changed.passed, changed.severity) == (False, "warning")
    assert changed.observed_value == "1 file(s) changed after they were loaded: checkout_events/events-1.jsonl (2 version(s))"
    assert "checkout_events/events-1.jsonl" in changed.details
    assert all(r.passed for r in results.values()), results
    assert all(r.passed for r in scoped if r.check_name != "files_changed_after_load"), scoped


def test_files_outside_the_contract_are_ignored_with_their_reason_and_temporaries_are_skipped(tmp_path):
    landing, warehouse = tmp_path / "landing", tmp_path / "w.duckdb"
    events = _file_bytes("checkout_events", "jsonl", ["a"])
    _land(landing / "checkout_events" / "events-1.jsonl", events)
    _land(landing / "checkout_events" / "events-20261203-r00.json", events)
    _land(landing / "checkout_events" / "2026" / "events-2.jsonl.tmp", events)
    _land(landing / "orders" / "orders-1.xlsx", b"PK\x03\x04")
    _land(landing / "README.md", b"# landing\n")
    _land(landing / "returns" / "returns-1.csv", b"return_id\nr1\n")
    _land(landing / "Orders" / "orders-9.csv", _file_bytes("orders", "csv", ["o9"]))  # folder names are exact
    # Not data: never recorded, never read.
    for skipped in (".hidden.jsonl", "_SUCCESS", "_temporary/0/part-0.jsonl", ".staging/part-1.jsonl",
                    "2026/.events-3.jsonl.swp"):
        _land(landing / "checkout_events" / skipped, events)
    _land(landing / "_generation.json", b"{}")
    _land(landing / ".DS_Store", b"\0")

    summary = _ingest(landing, warehouse)
    outside = contract.ignored_reason(contract.NO_SOURCE)
    assert outside == "not a contract file: outside the source folders checkout_events/ and orders/"
    assert contract.ignored_reason("checkout_events") == "not a contract file: checkout_events accepts .jsonl, .jsonl.gz, .parquet"
    expected = [
        ("", "Orders/orders-9.csv", "ignored", outside),
        ("", "README.md", "ignored", outside),
        ("checkout_events", "checkout_events/2026/events-2.jsonl.tmp", "ignored", contract.ignored_reason("checkout_events")),
        ("checkout_events", "checkout_events/events-1.jsonl", "loaded", None),
        ("checkout_events", "checkout_events/events-20261203-r00.json", "ignored", contract.ignored_reason("checkout_events")),
        ("orders", "orders/orders-1.xlsx", "ignored", "not a contract file: orders accepts .csv, .parquet"),
        ("", "returns/returns-1.csv", "ignored", outside),
    ]
    rows = _query(warehouse, "SELECT source, file_path, status, reason FROM audit.load_ledger ORDER BY file_path")
    assert rows == expected
    assert _query(warehouse, "SELECT count(*), sum(rows_read) FROM audit.load_ledger WHERE status = 'ignored'") == [(6, 0)]
    assert _query(warehouse, "SELECT count(*) FROM audit.rejected_rows") == [(0,)]
    assert _raw_ids(warehouse, "checkout_events") == ["a"] and _raw_ids(warehouse, "orders") == []
    assert summary.count("ignored") == 6 and summary.count("loaded") == 1

    # Seen once: the next run has nothing to do, and is up to date.
    with connect(warehouse) as con:
        assert not any(new_files(con, landing).values())
    assert _ingest(landing, warehouse).files == []
    # A new version of an ignored file is another `ignored` row (every version is accounted for).
    _land(landing / "checkout_events" / "events-20261203-r00.json", events + events)
    with connect(warehouse) as con:
        assert new_files(con, landing)["checkout_events"] == [landing / "checkout_events" / "events-20261203-r00.json"]
    (again,) = _ingest(landing, warehouse).files
    assert (again.status, again.reason) == ("ignored", contract.ignored_reason("checkout_events"))


def test_a_rerun_with_nothing_new_hashes_nothing_and_adds_no_row(tmp_path, monkeypatch):
    landing, warehouse = tmp_path / "landing", tmp_path / "w.duckdb"
    for i, (source, suffix) in enumerate(FORMATS):
        _land(landing / source / f"part-{i}.{suffix}", _file_bytes(source, suffix, [f"r{i}"]))
    _land(landing / "checkout_events" / "part-9.jsonl", b"")
    _land(landing / "checkout_events" / "part-9.json", b"{}")
    hashed = []
    sha256 = load._sha256
    monkeypatch.setattr(load, "_sha256", lambda path: hashed.append(path.name) or sha256(path))
    _ingest(landing, warehouse)
    assert len(hashed) == 7  # each new file once
    assert _query(warehouse, "SELECT count(*), count(file_size), count(file_modified_at) FROM audit.load_ledger") == [
        (7, 7, 7)
    ]
    hashed.clear()
    assert _ingest(landing, warehouse).files == []
    assert hashed == []
    # Touched (same bytes, a new modification time): hashed, found known, no row.
    moment = next(_clock)
    os.utime(landing / "orders" / "part-3.csv", (moment, moment))
    assert _ingest(landing, warehouse).files == []
    assert hashed == ["part-3.csv"]
    assert _query(warehouse, "SELECT count(*) FROM audit.load_ledger") == [(7,)]

    # A warehouse from before sizes and times were recorded: each file is hashed once, then known.
    with connect(warehouse) as con:
        con.execute("ALTER TABLE audit.load_ledger DROP COLUMN file_size")
        con.execute("ALTER TABLE audit.load_ledger DROP COLUMN file_modified_at")
    hashed.clear()
    assert _ingest(landing, warehouse).files == []
    assert sorted(hashed) == sorted(p.name for p in landing.rglob("*.*"))
    hashed.clear()
    assert _ingest(landing, warehouse).files == []
    assert hashed == []
    assert _query(warehouse, "SELECT count(*), count(file_size) FROM audit.load_ledger") == [(7, 7)]


def test_a_crash_while_recording_files_not_read_leaves_them_for_the_next_run(tmp_path, monkeypatch):
    landing, warehouse = tmp_path / "landing", tmp_path / "w.duckdb"
    path = _land(landing / "checkout_events" / "a.jsonl", _file_bytes("checkout_events", "jsonl", ["a"]))
    _ingest(landing, warehouse)
    _land(path, _file_bytes("checkout_events", "jsonl", ["a", "b"]))
    _land(landing / "checkout_events" / "b.json", b"{}")
    _land(landing / "checkout_events" / "c.jsonl", _file_bytes("checkout_events", "jsonl", ["c"]))

    def crash(con, results, summary):
        if any(r.status != "loaded" for r in results):
            raise RuntimeError("power cut")
        return write(con, results, summary)

    write = load.write_ledger
    monkeypatch.setattr(load, "write_ledger", crash)
    with pytest.raises(RuntimeError, match="power cut"):
        _ingest(landing, warehouse)
    # c.jsonl's chunk was committed; the changed and ignored files have no row and no rejected row.
    assert [(r[0], r[1]) for r in _ledger(warehouse)] == [("checkout_events/a.jsonl", "loaded"),
                                                         ("checkout_events/c.jsonl", "loaded")]
    assert _file_reasons(warehouse) == []
    monkeypatch.undo()
    summary = _ingest(landing, warehouse)
    assert sorted((f.file_path, f.status) for f in summary.files) == [
        ("checkout_events/a.jsonl", "rejected"), ("checkout_events/b.json", "ignored")
    ]
    assert _raw_ids(warehouse, "checkout_events") == ["a", "c"]


def test_the_run_summary_names_every_file_not_loaded_with_its_reason(tmp_path):
    landing, warehouse = tmp_path / "landing", tmp_path / "w.duckdb"
    path = _land(landing / "checkout_events" / "events-1.jsonl", _file_bytes("checkout_events", "jsonl", ["a"]))
    _land(landing / "orders" / "orders-1.csv", b"order_id,customer_id\no1,c1\no2,c2\n")
    _ingest(landing, warehouse)
    loaded_sha = load._sha256(path)
    _land(path, _file_bytes("checkout_events", "jsonl", ["a", "b"]))
    _land(landing / "checkout_events" / "events-20261203-r00.json", b"{}")
    _land(landing / "checkout_events" / "events-2.jsonl", b"")
    _land(landing / "notes.txt", b"hello")
    _land(landing / "orders" / "orders-2.csv", _file_bytes("orders", "csv", ["o3"]).replace(b"USD", b"US"))
    summary = _ingest(landing, warehouse)
    with connect(warehouse) as con:
        lines = report.ledger_lines(con, summary.run_id)
        reasons = report.rejection_reasons(con, summary.run_id)
        [(first_run,)] = con.execute("SELECT run_id FROM audit.load_ledger WHERE file_path = 'orders/orders-1.csv'").fetchall()
        first = report.ledger_lines(con, first_run)
    assert lines[0].startswith("checkout_events: 3 new files (1 rejected whole), 0 rows read")
    assert lines[1].startswith("orders: 1 new files (0 rejected whole), 1 rows read, 0 loaded, 1 rejected")
    assert lines[2] == "Files: 1 loaded, 1 rejected, 1 empty, 2 ignored"
    changed = contract.changed_reason(loaded_sha, load._sha256(path))
    assert lines[3] == f"  rejected checkout_events/events-1.jsonl: {changed}"
    assert lines[4:] == [
        f"  empty checkout_events/events-2.jsonl: {contract.EMPTY_REASON}",
        f"  ignored checkout_events/events-20261203-r00.json: {contract.ignored_reason('checkout_events')}",
        f"  ignored notes.txt: {contract.ignored_reason(contract.NO_SOURCE)}",
    ]
    # Rows rejected are counted by reason; files rejected whole are named above, not there.
    assert len(reasons) == 1 and reasons[0][1] == 1 and "currency" in reasons[0][0]
    missing = "created_at, channel, order_type, status, amount, currency, manual_intervention"
    assert first[-2:] == ["Files: 1 loaded, 1 rejected", f"  rejected orders/orders-1.csv: required column {missing} missing"]


def test_through_the_pipeline_the_kit_with_mistakes_fixed_gives_the_kit_s_figures(tmp_path, conformance_warehouse):
    """The conformance landing directory plus everyday mistakes (a truncated gzip later replaced by its
    complete version, an empty file later filled, a .json file, a file outside the source folders,
    `_SUCCESS`, temporaries, a loaded file modified afterwards): once the fixed versions are in, the
    public tables equal the kit's, and every mistake is in the ledger and the run's summary."""
    from pipelines.core.settings import Settings
    from pipelines.run import run_pipeline
    from tests.conftest import CLEAN_LANDING, read_expected
    from tests.test_incremental import _marts

    landing = tmp_path / "landing"
    shutil.copytree(CLEAN_LANDING, landing)
    events, orders = landing / "checkout_events", landing / "orders"
    complete_gzip, complete_parquet = (events / "events-3.jsonl.gz").read_bytes(), (orders / "orders-3.parquet").read_bytes()
    _land(events / "events-3.jsonl.gz", complete_gzip[: len(complete_gzip) // 2])
    _land(orders / "orders-3.parquet", b"")
    _land(events / "events-20261203-r00.json", (events / "events-1.jsonl").read_bytes())
    _land(landing / "backfill" / "events-9.jsonl", (events / "events-1.jsonl").read_bytes())
    # Rows that would change the figures if anything read them.
    extra = json.dumps({**EVENT, "event_id": "zz1", "checkout_id": "kzz", "customer_id": "czz"}).encode() + b"\n"
    for skipped in ("_SUCCESS", ".events-4.jsonl.tmp", "_temporary/0/events-4.jsonl"):
        _land(events / skipped, extra)
    settings = Settings.from_env(landing, tmp_path / "w.duckdb")

    first = run_pipeline(settings).report
    assert "Files: 4 loaded, 1 rejected, 1 empty, 2 ignored" in first
    assert "  rejected checkout_events/events-3.jsonl.gz: file cannot be read: corrupt or truncated gzip" in first
    assert f"  empty orders/orders-3.parquet: {contract.EMPTY_REASON}" in first
    assert f"  ignored checkout_events/events-20261203-r00.json: {contract.ignored_reason('checkout_events')}" in first
    assert f"  ignored backfill/events-9.jsonl: {contract.ignored_reason(contract.NO_SOURCE)}" in first

    _land(events / "events-3.jsonl.gz", complete_gzip)
    _land(orders / "orders-3.parquet", complete_parquet)
    _land(events / "events-1.jsonl", (events / "events-1.jsonl").read_bytes() + extra)
    second = run_pipeline(settings).report
    assert "Files: 2 loaded, 1 rejected" in second
    assert "  rejected checkout_events/events-1.jsonl: file changed after it was loaded (loaded version sha256" in second
    assert "WARNING check audit/load_ledger:files_changed_after_load warned" in second
    assert "ERROR" not in second

    assert _marts(settings.published) == _marts(conformance_warehouse.published)
    with connect(settings.published, read_only=True) as con:
        ledger_rows = con.execute(
            "SELECT source, file_path, status, rows_read, rows_loaded, rows_rejected, duplicates_dropped "
            "FROM audit.load_ledger ORDER BY loaded_at, file_path"
        ).fetchall()
        file_reasons = con.execute("SELECT count(*) FROM audit.rejected_rows WHERE row_number IS NULL").fetchall()
    loaded = {tuple(str(v) for v in row) for row in ledger_rows if row[2] == "loaded"}
    assert loaded == {tuple(r.values()) for r in read_expected("load_ledger.csv")}
    assert [(r[1], r[2]) for r in ledger_rows if r[2] != "loaded"] == [
        ("backfill/events-9.jsonl", "ignored"),
        ("checkout_events/events-20261203-r00.json", "ignored"),
        ("checkout_events/events-3.jsonl.gz", "rejected"),
        ("orders/orders-3.parquet", "empty"),
        ("checkout_events/events-1.jsonl", "rejected"),
    ]
    assert file_reasons == [(2,)]

    third = run_pipeline(settings)
    assert third.run_id == "" and "nothing rebuilt" in third.report


def _contents(warehouse: Path) -> dict[str, list[tuple]]:
    """The ingestion's tables, without the columns that say when and by which run."""
    with connect(warehouse) as con:
        return {
            table: con.execute(f"SELECT * EXCLUDE ({', '.join(when)}) FROM {table} ORDER BY ALL").fetchall()
            for table, when in (("raw.checkout_events", ("_loaded_at", "_run_id")), ("raw.orders", ("_loaded_at", "_run_id")),
                                ("audit.load_ledger", ("loaded_at", "run_id")),
                                ("audit.rejected_rows", ("rejected_at", "run_id")))
        }


KILLED_INGEST = """
import sys
from pipelines.ingest.load import ingest_landing
from pipelines.core.warehouse import connect
with connect(sys.argv[1]) as con:
    print("started", flush=True)
    ingest_landing(con, sys.argv[2], chunk_rows=40)
print("finished", flush=True)
"""


# An uninterrupted load takes ~1.3 s here, the first commit ~0.8 s after the start (more when the machine
# is busy): the kills land before, between and after commits.
@pytest.mark.parametrize("delay", [0.0, 0.8, 0.95, 1.1])
def test_a_kill_at_any_moment_then_a_run_gives_the_tables_of_an_uninterrupted_run(tmp_path, delay):
    """SIGKILL while a run loads files, rejects a changed file, records empty and ignored ones: the
    next run gives exactly the tables of one uninterrupted run."""
    import subprocess
    import sys
    import time

    landing = tmp_path / "landing"
    changed = _land(landing / "checkout_events" / "a.jsonl", _file_bytes("checkout_events", "jsonl", ["a0", "a1"]))
    reference, killed = tmp_path / "reference.duckdb", tmp_path / "killed.duckdb"
    _ingest(landing, reference)
    shutil.copyfile(reference, killed)

    _land(changed, _file_bytes("checkout_events", "jsonl", ["a0", "a1", "a2"]))
    for i, (source, suffix) in enumerate(FORMATS * 6):
        ids = [f"{source[0]}{j}" for j in range(i * 10, i * 10 + 15)]  # 5 of 15 repeat the previous file's
        _land(landing / source / f"part-{i:02d}.{suffix}", _file_bytes(source, suffix, ids))
    _land(landing / "orders" / "part-99.csv", b"")
    _land(landing / "orders" / "part-98.json", b"{}")
    _land(landing / "checkout_events" / "part-97.jsonl.gz", _broken_bytes("checkout_events", "jsonl.gz"))
    _ingest(landing, reference)

    process = subprocess.Popen([sys.executable, "-c", KILLED_INGEST, str(killed), str(landing)],
                               stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "started"
        time.sleep(delay)
    finally:
        process.kill()
        process.wait()
    _ingest(landing, killed)
    assert _contents(killed) == _contents(reference)
    assert _ingest(landing, killed).files == []


def test_the_sensor_sees_new_versions_and_files_to_ignore(tmp_path):
    """The sensor compares the landing directory with the published ledger the same way a run does:
    a truncated file replaced by its complete version asks for a run (another run key)."""
    from pipelines.sensors import new_landed_files

    landing, published = tmp_path / "landing", tmp_path / "w.published.duckdb"
    path = _land(landing / "checkout_events" / "a.jsonl.gz", _broken_bytes("checkout_events", "jsonl.gz"))
    _land(landing / "checkout_events" / "_SUCCESS", b"")
    assert [f.split(" ")[0] for f in new_landed_files(landing, published)] == ["checkout_events/a.jsonl.gz"]
    _ingest(landing, published)  # stands in for a run and its published copy
    assert new_landed_files(landing, published) == []
    _land(path, _file_bytes("checkout_events", "jsonl.gz", ["a"]))
    _land(landing / "checkout_events" / "b.json", b"{}")
    assert [f.split(" ")[0] for f in new_landed_files(landing, published)] == [
        "checkout_events/a.jsonl.gz", "checkout_events/b.json"
    ]
