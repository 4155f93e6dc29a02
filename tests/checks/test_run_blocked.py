"""An error-level check blocks the run end to end: exit non-zero naming the check, readers keep the
last good data, and the run status says why it is not newer."""

from __future__ import annotations

import json

from pipelines.cli import main
from pipelines.core.warehouse import connect
from pipelines.run_status import status_path
from tests.conftest import CLEAN_LANDING


def test_a_blocking_check_stops_publishing_and_says_why(tmp_path, capsys, landing_copy):
    landing = landing_copy(CLEAN_LANDING)
    warehouse = tmp_path / "w.duckdb"
    args = ["run", "--landing", str(landing), "--warehouse", str(warehouse)]
    assert main(args) == 0
    published = warehouse.with_name("w.published.duckdb")
    before = published.stat()

    # Break an invariant the loader guarantees, behind the loader's back: a second row with event_id
    # ev001, written into the history by hand (it keeps the first run's _run_id and _loaded_at).
    with connect(warehouse) as con:
        con.execute("INSERT INTO raw.checkout_events SELECT * FROM raw.checkout_events WHERE event_id = 'ev001'")
    # New data lands, so the next run has work to do and checks what it loads on.
    (landing / "checkout_events" / "events-9.jsonl").write_text(
        '{"event_id": "ev900", "event_name": "checkout_started", "event_time": "2026-03-20T10:00:00Z", '
        '"checkout_id": "k90", "customer_id": "c90"}\n'
    )
    capsys.readouterr()

    # The run's row checks read only what it loaded (ev900), but the ledger reconciliation counts the
    # whole raw table against the ledger: one row more than was ever loaded blocks the run.
    assert main(args) == 1
    out = capsys.readouterr()
    assert "raw_rows_match_ledger" in out.err
    assert "left as it was at the last good run" in out.err
    after = published.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    # Recorded inside the job (its failure hook): the run's failure row, and the status file for readers.
    status = json.loads(status_path(warehouse).read_text())
    assert status["status"] == "failure" and "raw_rows_match_ledger" in status["message"]
    with connect(warehouse) as con:
        runs = con.execute("SELECT run_id, status, message FROM audit.pipeline_runs ORDER BY finished_at").fetchall()
    assert [r[1] for r in runs] == ["success", "failure"] and runs[1][0] == status["run_id"]
    assert runs[1][2] == status["message"]
    with connect(warehouse) as con:
        failed = con.execute(
            "SELECT check_name, severity, details FROM audit.check_results WHERE NOT passed AND severity = 'error'"
        ).fetchall()
    assert [name for name, _, _ in failed] == ["raw_rows_match_ledger"]
    [evidence] = json.loads(failed[0][2])["expectations"][0]["unexpected_rows"]
    assert evidence["source"] == "checkout_events" and evidence["raw_rows"] == evidence["rows_loaded"] + 1

    # The on-demand full audit reads whole tables: it names the duplicated key itself.
    assert main(["check", "--warehouse", str(warehouse)]) == 1
    out = capsys.readouterr().out
    assert "[FAILED] raw_events_event_id_unique" in out and "[FAILED] raw_rows_match_ledger" in out
