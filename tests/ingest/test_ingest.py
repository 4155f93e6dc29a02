"""Ingestion against the contract: the conformance ledgers and rejected rows, and cases of our own."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.core.warehouse import connect
from pipelines.ingest import load
from pipelines.ingest.load import ingest_landing
from tests.conftest import CLEAN_LANDING, DIRTY_LANDING, read_expected

LEDGER_COLUMNS = ("source", "file_path", "status", "rows_read", "rows_loaded", "rows_rejected", "duplicates_dropped")


def _ledger(con) -> set[tuple]:
    rows = con.execute(f"SELECT {', '.join(LEDGER_COLUMNS)} FROM audit.load_ledger").fetchall()
    return {tuple(str(v) for v in row) for row in rows}


def _expected_ledger(name: str) -> set[tuple]:
    return {tuple(row[c] for c in LEDGER_COLUMNS) for row in read_expected(name)}


def _ingest(landing: Path, warehouse: Path, **kwargs):
    with connect(warehouse) as con:
        return ingest_landing(con, landing, **kwargs)


def test_clean_landing_ledger_matches_conformance(conformance_warehouse):
    with connect(conformance_warehouse.warehouse, read_only=True) as con:  # the kit through `funnel run`
        assert _ledger(con) == _expected_ledger("load_ledger.csv")
        assert con.execute("SELECT count(*) FROM audit.rejected_rows").fetchall() == [(0,)]
        assert con.execute("SELECT count(*) FROM raw.checkout_events").fetchall() == [(87,)]
        assert con.execute("SELECT count(*) FROM raw.orders").fetchall() == [(20,)]


def test_dirty_landing_ledger_and_rejected_rows_match_conformance(tmp_path):
    summary = _ingest(DIRTY_LANDING, tmp_path / "w.duckdb")
    assert summary.files_rejected == 3
    with connect(tmp_path / "w.duckdb") as con:
        assert _ledger(con) == _expected_ledger("load_ledger-with-bad-rows.csv")
        got = con.execute(
            "SELECT source, file_path, row_number, reason, raw_record FROM audit.rejected_rows ORDER BY ALL"
        ).fetchall()
        # Good rows of the dirty directory are exactly the clean directory's rows.
        assert con.execute("SELECT count(*) FROM raw.checkout_events").fetchall() == [(87,)]
        assert con.execute("SELECT count(*) FROM raw.orders").fetchall() == [(20,)]
    expected = read_expected("rejected_rows-with-bad-rows.csv")
    assert {(r[0], r[1], r[2]) for r in got} == {
        (e["source"], e["file_path"], int(e["row_number"]) if e["row_number"] else None) for e in expected
    }
    reasons = {(r[1], r[2]): r[3] for r in got}
    # Each reason names the rule the row broke (the kit's `rule` column, in our words).
    keywords = {
        "invalid JSON": "invalid JSON",
        "not an object": "not a JSON object",
        "event_id missing": "event_id is missing",
        "event_name not allowed": "event_name cart_viewed is not one of",
        "event_time not a timestamp": "event_time is not an ISO 8601 timestamp",
        "event_time in the future": "after the load time",
        "seats out of range": "seats must be at least 1",
        "seats not an integer": "seats is not",
        "checkout_id empty": "checkout_id is missing or empty",
        "customer_id missing": "customer_id is missing",
        "event_time not a timestamp; email to mask": "event_time is not an ISO 8601 timestamp",
        "updated_at before created_at": "updated_at is before created_at",
        "channel not allowed": "channel phone is not one of",
        "amount negative": "amount must be at least 0",
        "manual_intervention not a boolean": "manual_intervention is not a boolean",
        "order_id empty": "order_id is missing or empty",
        "created_at not a timestamp": "created_at is not an ISO 8601 timestamp",
        "status not allowed": "status shipped is not one of",
        "file cannot be read": "file cannot be read",
        "required column channel missing": "required column channel missing",
    }
    for row in expected:
        number = int(row["row_number"]) if row["row_number"] else None
        assert keywords[row["rule"]] in reasons[(row["file_path"], number)], row


def test_personal_data_never_stored(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    _ingest(DIRTY_LANDING, warehouse)
    with connect(warehouse) as con:
        columns = con.execute(
            "SELECT table_schema, table_name, column_name FROM information_schema.columns "
            "WHERE data_type = 'VARCHAR' AND table_schema IN ('raw', 'audit')"
        ).fetchall()
        assert not [c for c in columns if c[2] == "customer_email"]
        for schema, table, column in columns:
            leaks = con.execute(
                f'SELECT count(*) FROM {schema}.{table} WHERE "{column}" LIKE \'%@example.com%\''
            ).fetchall()[0][0]
            assert leaks == 0, f"{schema}.{table}.{column} holds an e-mail address"
        masked = con.execute("SELECT raw_record FROM audit.rejected_rows WHERE raw_record LIKE '%bad14%'").fetchall()
        assert '"customer_email": "***"' in masked[0][0]
    assert b"@example.com" not in warehouse.read_bytes()


def test_timestamps_are_utc_whatever_the_offset(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    _ingest(CLEAN_LANDING, warehouse)
    with connect(warehouse) as con:
        times = dict(
            con.execute(
                "SELECT event_id, strftime(event_time, '%Y-%m-%d %H:%M:%S') FROM raw.checkout_events "
                "WHERE event_id IN ('ev004', 'ev007', 'ev010', 'ev061')"
            ).fetchall()
        )
    assert times == {
        "ev004": "2026-03-02 10:30:00",  # +02:00
        "ev007": "2026-03-02 11:05:00",  # -05:00
        "ev010": "2026-03-03 10:05:00",  # naive = UTC
        "ev061": "2026-02-28 23:30:00",  # +02:00 across a month boundary
    }


def test_rerun_with_nothing_new_changes_nothing(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    _ingest(DIRTY_LANDING, warehouse)
    second = _ingest(DIRTY_LANDING, warehouse)
    assert second.files == []
    with connect(warehouse) as con:
        assert con.execute("SELECT count(*) FROM audit.load_ledger").fetchall() == [(11,)]
        assert con.execute("SELECT count(*) FROM raw.checkout_events").fetchall() == [(87,)]


def _raw_contents(warehouse: Path) -> tuple[list, list]:
    with connect(warehouse) as con:
        events = con.execute("SELECT * EXCLUDE (_loaded_at, _run_id) FROM raw.checkout_events ORDER BY event_id").fetchall()
        orders = con.execute(
            "SELECT * EXCLUDE (_loaded_at, _run_id) FROM raw.orders ORDER BY order_id, updated_at"
        ).fetchall()
    return events, orders


def test_two_batches_give_the_same_rows_as_one(tmp_path):
    one = tmp_path / "one.duckdb"
    _ingest(CLEAN_LANDING, one)
    landing = tmp_path / "landing"
    landing.mkdir()
    for source in ("checkout_events", "orders"):
        (landing / source).mkdir()
    batches = [["events-1.jsonl", "orders-1.csv"], ["events-2.parquet", "events-3.jsonl.gz", "orders-2-updates.csv",
                                                    "orders-3.parquet"]]
    two = tmp_path / "two.duckdb"
    for batch in batches:
        for name in batch:
            source = "checkout_events" if name.startswith("events") else "orders"
            shutil.copy(CLEAN_LANDING / source / name, landing / source / name)
        _ingest(landing, two)
    assert _raw_contents(one) == _raw_contents(two)


def test_same_bytes_under_a_new_path_are_all_duplicates(landing_copy, tmp_path):
    landing = landing_copy()
    warehouse = tmp_path / "w.duckdb"
    _ingest(landing, warehouse)
    shutil.copy(landing / "checkout_events" / "events-1.jsonl", landing / "checkout_events" / "zz-resent.jsonl")
    summary = _ingest(landing, warehouse)
    (resent,) = summary.files
    assert (resent.rows_read, resent.rows_loaded, resent.duplicates_dropped) == (31, 0, 31)


def test_a_crash_mid_load_leaves_nothing_and_the_next_run_loads_the_file(landing_copy, tmp_path, monkeypatch):
    landing = landing_copy()
    warehouse = tmp_path / "w.duckdb"

    def crash(self, chunk):
        raise RuntimeError("power cut")

    monkeypatch.setattr(load._SourceLoader, "_write_ledger", crash)
    with pytest.raises(RuntimeError, match="power cut"):
        _ingest(landing, warehouse)
    with connect(warehouse) as con:
        assert con.execute("SELECT count(*) FROM raw.checkout_events").fetchall() == [(0,)]
        assert con.execute("SELECT count(*) FROM audit.load_ledger").fetchall() == [(0,)]
    monkeypatch.undo()
    _ingest(landing, warehouse)
    with connect(warehouse) as con:
        assert con.execute("SELECT count(*) FROM raw.checkout_events").fetchall() == [(87,)]


def _write_jsonl(path: Path, records: list) -> None:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in records) + "\n")


EVENT = {"event_id": "e1", "event_name": "checkout_started", "event_time": "2026-03-02T10:00:00Z",
         "checkout_id": "k1", "customer_id": "c1"}


@pytest.mark.parametrize(
    ("change", "accepted", "reason"),
    [
        ({"seats": 5.0}, True, None),
        ({"seats": "5"}, False, "seats is not a JSON number"),
        ({"seats": 12345678901}, False, "seats is not an integer"),
        ({"plan": "enterprise"}, True, None),  # optional value outside its list: kept, a check warns
        ({"event_time": "2026-03-02T10:00:00.123+05:30"}, True, None),
        ({"event_time": 1772445600}, False, "event_time is not an ISO 8601 timestamp"),
        ({"event_time": "infinity"}, False, "event_time is not an ISO 8601 timestamp"),
        ({"event_id": {"nested": 1}}, False, "event_id is not a single value"),
        ({"event_name": None}, False, "event_name is missing or empty"),
    ],
)
def test_json_value_rules(tmp_path, change, accepted, reason):
    landing = tmp_path / "landing"
    (landing / "checkout_events").mkdir(parents=True)
    _write_jsonl(landing / "checkout_events" / "a.jsonl", [{**EVENT, **change}])
    (result,) = _ingest(landing, tmp_path / "w.duckdb").files
    assert result.rows_loaded == (1 if accepted else 0)
    if reason:
        with connect(tmp_path / "w.duckdb") as con:
            assert reason in con.execute("SELECT reason FROM audit.rejected_rows").fetchall()[0][0]


ORDER_HEADER = "order_id,customer_id,created_at,channel,order_type,status,amount,currency,manual_intervention"


def test_csv_rules_booleans_currency_and_malformed_records(tmp_path):
    landing = tmp_path / "landing"
    (landing / "orders").mkdir(parents=True)
    (landing / "orders" / "a.csv").write_text(
        ORDER_HEADER + ",note\n"
        "o1,c1,2026-03-02T10:00:00Z,web_direct,new_subscription,completed,10.50,usd,TRUE,x\n"
        'o2,c2,2026-03-02T10:00:00Z,reseller,renewal,completed,10,EUR,1,"a, ""quoted""\nnote"\n'
        "o3,c3,2026-03-02T10:00:00Z,reseller,renewal\n"  # too few fields
        "o4,c4,2026-03-02T10:00:00Z,reseller,renewal,completed,10,EURO,0,\n"
        "o5,c5,2026-03-02T10:00:00Z,reseller,renewal,completed,10,EUR,t,\n"
    )
    (result,) = _ingest(landing, tmp_path / "w.duckdb").files
    assert (result.rows_read, result.rows_loaded, result.rows_rejected) == (5, 2, 3)
    with connect(tmp_path / "w.duckdb") as con:
        loaded = con.execute("SELECT order_id, currency, manual_intervention, amount::VARCHAR FROM raw.orders ORDER BY 1").fetchall()
        rejected = con.execute("SELECT row_number, reason FROM audit.rejected_rows ORDER BY 1").fetchall()
    assert loaded == [("o1", "USD", True, "10.500000"), ("o2", "EUR", True, "10.000000")]
    assert [r[0] for r in rejected] == [3, 4, 5]
    assert "not valid CSV" in rejected[0][1]
    assert "currency is not a three-letter currency code" in rejected[1][1]
    assert "manual_intervention is not a boolean" in rejected[2][1]


def test_unreadable_files_are_rejected_whole_and_the_rest_loads(tmp_path):
    landing = tmp_path / "landing"
    (landing / "checkout_events").mkdir(parents=True)
    (landing / "orders").mkdir(parents=True)
    (landing / "checkout_events" / "a-latin1.jsonl").write_bytes(b'{"event_id": "caf\xe9"}\n')
    (landing / "checkout_events" / "b-not-gzip.jsonl.gz").write_bytes(b"plain text, not gzip")
    _write_jsonl(landing / "checkout_events" / "c-good.jsonl", [EVENT])
    pq.write_table(pa.table({"order_id": ["o1"], "customer_id": ["c1"]}), landing / "orders" / "missing.parquet")
    summary = _ingest(landing, tmp_path / "w.duckdb")
    status = {f.file_path: (f.status, f.rows_read, f.rows_rejected, f.reason) for f in summary.files}
    assert status["checkout_events/a-latin1.jsonl"][:3] == ("rejected", 0, 0)
    assert "UTF-8" in status["checkout_events/a-latin1.jsonl"][3]
    assert status["checkout_events/b-not-gzip.jsonl.gz"][:3] == ("rejected", 0, 0)
    assert status["checkout_events/c-good.jsonl"][:2] == ("loaded", 1)
    assert status["orders/missing.parquet"][:3] == ("rejected", 1, 1)
    assert "created_at" in status["orders/missing.parquet"][3]


def test_parquet_typed_columns_and_naive_timestamps_are_utc(tmp_path):
    landing = tmp_path / "landing"
    (landing / "checkout_events").mkdir(parents=True)
    table = pa.table(
        {
            "event_id": ["p1", "p2"],
            "event_name": ["checkout_started", "checkout_started"],
            "event_time": pa.array([1772445600_000000, 1772445600_000000], pa.timestamp("us")),
            "checkout_id": ["k1", "k2"],
            "customer_id": ["c1", "c2"],
            "seats": pa.array([3.0, 2.5]),
        }
    )
    pq.write_table(table, landing / "checkout_events" / "a.parquet")
    (result,) = _ingest(landing, tmp_path / "w.duckdb").files
    assert (result.rows_loaded, result.rows_rejected) == (1, 1)
    with connect(tmp_path / "w.duckdb") as con:
        assert con.execute("SELECT strftime(event_time, '%H:%M'), seats FROM raw.checkout_events").fetchall() == [
            ("10:00", 3)
        ]


def test_gzip_and_chunked_commits_give_the_same_result(tmp_path):
    landing = tmp_path / "landing"
    (landing / "checkout_events").mkdir(parents=True)
    for i in range(3):
        body = "\n".join(json.dumps({**EVENT, "event_id": f"e{j}"}) for j in range(i, i + 5)).encode()
        (landing / "checkout_events" / f"{i}.jsonl.gz").write_bytes(gzip.compress(body))
    summary = _ingest(landing, tmp_path / "w.duckdb", chunk_rows=1)
    assert [(f.rows_loaded, f.duplicates_dropped) for f in summary.files] == [(5, 0), (1, 4), (1, 4)]


def test_rows_parsed_from_text_are_committed_at_half_the_chunk(tmp_path, monkeypatch):
    """JSON lines wait in memory as parsed text until their chunk is validated, so they are committed
    at chunk_rows / 2; Parquet files, read by DuckDB from disk, at chunk_rows."""
    landing = tmp_path / "landing"
    (landing / "checkout_events").mkdir(parents=True)
    for i in range(3):
        events = [{**EVENT, "event_id": f"j{i}-{j}"} for j in range(5)]
        (landing / "checkout_events" / f"a{i}.jsonl").write_text("\n".join(json.dumps(e) for e in events))
        pq.write_table(pa.Table.from_pylist([{**e, "event_id": "p" + e["event_id"]} for e in events]),
                       landing / "checkout_events" / f"b{i}.parquet")
    committed = []
    commit = load._SourceLoader._commit_chunk

    def recording(self, results, staged):
        committed.append((sorted({r.file_path.rsplit(".", 1)[1] for r in results}), staged.rows))
        return commit(self, results, staged)

    monkeypatch.setattr(load._SourceLoader, "_commit_chunk", recording)
    summary = _ingest(landing, tmp_path / "w.duckdb", chunk_rows=10)
    assert committed == [(["jsonl"], 5)] * 3 + [(["parquet"], 10), (["parquet"], 5)]
    assert summary.total("rows_loaded") == 30


def test_missing_landing_directory_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        _ingest(tmp_path / "nowhere", tmp_path / "w.duckdb")


def test_duckdb_session_timezone_does_not_matter(tmp_path, monkeypatch):
    monkeypatch.setenv("TZ", "America/New_York")
    warehouse = tmp_path / "w.duckdb"
    con = duckdb.connect(str(warehouse))
    con.execute("SET TimeZone = 'Asia/Tokyo'")
    from pipelines.core.warehouse import configure

    configure(con)
    ingest_landing(con, CLEAN_LANDING)
    got = con.execute("SELECT strftime(event_time, '%H:%M') FROM raw.checkout_events WHERE event_id = 'ev010'").fetchall()
    con.close()
    assert got == [("10:05",)]


def test_parquet_native_types_skip_the_text_rules_but_keep_every_rule(tmp_path):
    """Typed Parquet columns are validated as typed values (no text round trip), with the same rules
    and reasons as text: range, future timestamps, integers beyond the contract type."""
    from decimal import Decimal

    landing = tmp_path / "landing"
    (landing / "orders").mkdir(parents=True)
    created = pa.array([1772445600_000000] * 4, pa.timestamp("us", tz="+02:00"))
    table = pa.table(
        {
            "order_id": ["o1", "o2", "o3", "o4"],
            "customer_id": ["c1", "c2", "c3", "c4"],
            "created_at": created,
            "updated_at": pa.array([1772445600_000000, None, 4102444800_000000, None], pa.timestamp("us", tz="UTC")),
            "channel": ["web_direct"] * 4,
            "order_type": ["new_subscription"] * 4,
            "status": ["completed"] * 4,
            "seats": pa.array([3, 12345678901, 2, 0], pa.int64()),
            "amount": pa.array([Decimal("10.50"), Decimal("1.00"), Decimal("1.00"), Decimal("-1.00")],
                               pa.decimal128(18, 2)),
            "currency": ["usd", "EUR", "EUR", "EUR"],
            "manual_intervention": [True, False, False, False],
        }
    )
    pq.write_table(table, landing / "orders" / "a.parquet")
    (result,) = _ingest(landing, tmp_path / "w.duckdb").files
    assert (result.rows_loaded, result.rows_rejected) == (1, 3)
    with connect(tmp_path / "w.duckdb") as con:
        loaded = con.execute(
            "SELECT order_id, strftime(created_at, '%H:%M'), seats, amount::VARCHAR, currency, manual_intervention "
            "FROM raw.orders"
        ).fetchall()
        reasons = dict(con.execute("SELECT row_number, reason FROM audit.rejected_rows").fetchall())
    assert loaded == [("o1", "10:00", 3, "10.500000", "USD", True)]
    assert "seats is not an integer: 12345678901" in reasons[2]
    assert "updated_at 2100-01-01 00:00:00" in reasons[3] and "after the load time" in reasons[3]
    assert "seats must be at least 1, got 0" in reasons[4] and "amount must be at least 0, got -1" in reasons[4]


def test_a_parquet_file_with_a_corrupt_data_page_is_rejected_and_its_chunk_still_loads(tmp_path):
    """The footer reads, a data page does not: validation straight from the files fails, the chunk is
    staged file by file, and only the broken file is rejected."""
    landing = tmp_path / "landing"
    (landing / "checkout_events").mkdir(parents=True)
    rows = 2000
    table = pa.table(
        {
            "event_id": [f"e{i}" for i in range(rows)],
            "event_name": ["checkout_started"] * rows,
            "event_time": pa.array([1772445600_000000] * rows, pa.timestamp("us", tz="UTC")),
            "checkout_id": [f"k{i}" for i in range(rows)],
            "customer_id": [f"c{i}" for i in range(rows)],
        }
    )
    pq.write_table(table, landing / "checkout_events" / "a-good.parquet")
    broken = landing / "checkout_events" / "b-broken.parquet"
    pq.write_table(table.set_column(0, "event_id", pa.array([f"x{i}" for i in range(rows)])), broken,
                   compression="snappy")
    data = bytearray(broken.read_bytes())
    data[8:4008] = b"\xff" * 4000  # the first data pages; the footer at the end stays intact
    broken.write_bytes(bytes(data))
    with connect(tmp_path / "probe.duckdb") as con:  # the footer is readable
        assert con.execute(f"SELECT num_rows FROM parquet_file_metadata('{broken}')").fetchall() == [(rows,)]
    summary = _ingest(landing, tmp_path / "w.duckdb")
    status = {f.file_path: (f.status, f.rows_loaded, f.reason) for f in summary.files}
    assert status["checkout_events/a-good.parquet"][:2] == ("loaded", rows)
    assert status["checkout_events/b-broken.parquet"][0] == "rejected"
    assert status["checkout_events/b-broken.parquet"][2].startswith("file cannot be read")
