"""A run an error-level check blocks is alerted as it stops (the job's failure hook), once, naming the
check; the next delivery does not send it again. The block is tests/checks/test_run_blocked.py's:
a raw row the ledger never loaded, found by the ledger reconciliation of the next run."""

from __future__ import annotations

import duckdb

from pipelines.brief import brief_and_deliver
from pipelines.cli import main
from pipelines.core.settings import Settings
from pipelines.core.warehouse import connect
from tests.conftest import CLEAN_LANDING


def test_a_blocked_run_alerts_once_as_it_stops(tmp_path, landing_copy, webhook_server, monkeypatch, capsys):
    monkeypatch.setenv("FUNNEL_ALERT_WEBHOOK_URL", webhook_server.url)
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    landing = landing_copy(CLEAN_LANDING)
    warehouse = tmp_path / "w.duckdb"
    args = ["run", "--landing", str(landing), "--warehouse", str(warehouse)]
    assert main(args) == 0
    with connect(warehouse) as con:
        con.execute("INSERT INTO raw.checkout_events SELECT * FROM raw.checkout_events WHERE event_id = 'ev001'")
    (landing / "checkout_events" / "events-9.jsonl").write_text(
        '{"event_id": "ev900", "event_name": "checkout_started", "event_time": "2026-03-20T10:00:00Z", '
        '"checkout_id": "k90", "customer_id": "c90"}\n'
    )
    blocked_before = [t for t in webhook_server.texts() if "blocked" in t]

    assert main(args) == 1
    with duckdb.connect(str(warehouse), read_only=True) as con:
        [run_id] = con.execute("SELECT run_id FROM audit.pipeline_runs WHERE status = 'failure'").fetchall()[0]
        recorded = con.execute(
            "SELECT kind, key, channel, status, run_id FROM audit.deliveries WHERE kind = 'check_blocked'"
        ).fetchall()
    blocked = [t for t in webhook_server.texts() if "blocked" in t][len(blocked_before):]
    assert len(blocked) == 1
    assert "raw_rows_match_ledger" in blocked[0] and run_id in blocked[0]
    assert recorded == [("check_blocked", f"raw_rows_match_ledger:{run_id}", "webhook", "sent", run_id)]
    assert "raw_rows_match_ledger" in capsys.readouterr().err  # the run's own report is unchanged

    posts = len(webhook_server.posts)
    settings = Settings.from_env(landing_dir=landing, warehouse=warehouse)
    assert [d.kind for d in brief_and_deliver(settings).deliveries if d.kind == "check_blocked"] == []
    assert [t for t in webhook_server.texts()[posts:] if "blocked" in t] == []
