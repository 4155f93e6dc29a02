"""The weekly brief and its deliveries, end to end: generated data with a planted drop in one segment
(returning customers stop placing self-service orders from the cohort week of 2026-10-19 on) through
the real pipeline, with a real SMTP server and a real webhook server on 127.0.0.1.

With data up to 2026-11-29 the latest complete weekly cohort is 2026-10-19 (its end + 30 days <=
as_of) and the latest closed week 2026-11-16 (ISO 2026-W47): only checkout conversion can move (the
first-order conversion counts new customers only; the order-dated KPIs compare two weeks after the
change), and its top driver must be the returning customers.
"""

from __future__ import annotations

import io
import shutil
from datetime import UTC, date, datetime

import duckdb
import pytest
from pypdf import PdfReader

from pipelines.brief import brief_and_deliver
from pipelines.brief.data import build_brief
from pipelines.brief.drivers import KPI_UNITS
from pipelines.cli import main
from pipelines.core.kpis import KPI_BY_NAME, RATE_KPIS
from pipelines.core.settings import Settings
from tests.brief.conftest import free_port
from tools.generate import SegmentChange, generate_landing

WEEK = "2026-W47"
REPORT_TO = ("lead@example.com", "cfo@example.com")
ALERT_TO = "oncall@example.com"


@pytest.fixture(scope="module")
def planted(tmp_path_factory, smtp_server, webhook_server):
    """The pipeline run over the planted data, with delivery configured and the webhook answering 500."""
    from pipelines.run import run_pipeline

    root = tmp_path_factory.mktemp("brief")
    generate_landing(root / "landing", days=70, checkouts_per_day=300, seed=16, end_date="2026-11-29",
                     formats="parquet",
                     segment_change=SegmentChange("order_rate", 0.0, "customer", "returning", date(2026, 10, 19)))
    with pytest.MonkeyPatch.context() as env:
        for name, value in {
            "FUNNEL_SMTP_HOST": "127.0.0.1", "FUNNEL_SMTP_PORT": str(smtp_server.port),
            "FUNNEL_REPORT_FROM": "kpi@example.com", "FUNNEL_REPORT_TO": ",".join(REPORT_TO),
            "FUNNEL_ALERT_TO": ALERT_TO, "FUNNEL_ALERT_WEBHOOK_URL": webhook_server.url,
            "no_proxy": "127.0.0.1", "NO_PROXY": "127.0.0.1",
        }.items():
            env.setenv(name, value)
        settings = Settings.from_env(landing_dir=root / "landing", warehouse=root / "warehouse.duckdb")
        webhook_server.failing = True
        run_pipeline(settings)  # raises when the run fails
        webhook_server.failing = False
        yield settings


def published(settings: Settings) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(settings.published), read_only=True)


def deliveries(settings: Settings) -> list[tuple]:
    with published(settings) as con:
        return con.execute("SELECT kind, channel, recipient, status, error FROM audit.deliveries ORDER BY ALL").fetchall()


def subjects(smtp_server) -> list[tuple[str, str]]:
    return sorted((m["Subject"], m["To"]) for m in smtp_server.messages)


def test_the_brief_names_the_planted_segment_first(planted):
    with published(planted) as con:
        brief = build_brief(con)
    assert brief.label == WEEK
    lines = {line.kpi.name: line for line in brief.lines}
    assert [line.kpi.name for line in brief.moved] == ["checkout_conversion_rate"]
    moved = lines["checkout_conversion_rate"]
    assert (moved.period_start, moved.previous_start) == (date(2026, 10, 19), date(2026, 10, 12))
    assert (moved.top_driver.dimension, moved.top_driver.segment) == ("customer_type", "returning")
    # the returning customers' own rate collapsed (order rate 0 -> only late orders of earlier checkouts)
    assert moved.top_driver.after_rate < 0.1 and moved.top_driver.before_rate > 0.3
    assert moved.change < 0 and moved.top_driver.rate_effect / moved.change > 0.9  # its own rate, not its share
    assert lines["manual_intervention_rate"].period_start == date(2026, 11, 16)
    assert lines["checkout_conversion_rate"].on_track is False  # target 40%
    assert lines["first_orders"].verdict.startswith("no verdict")


def test_the_run_writes_the_brief_as_html_and_a_one_page_pdf(planted):
    html = (planted.reports / f"{WEEK}.html").read_text()
    assert "What drove the change" in html and "new vs returning customers = returning" in html
    pdf = PdfReader(planted.reports / f"{WEEK}.pdf")
    assert len(pdf.pages) == 1
    text = pdf.pages[0].extract_text()
    for words in (f"KPI brief {WEEK}", "Checkout conversion", "moved", "new vs returning customers = returning",
                  "Data health", KPI_BY_NAME["first_orders"].definition[:40]):
        assert words in text
    assert "@example.com" not in html + text and "cu-" not in html + text  # no personal data, no customer id


def test_the_drivers_count_what_kpi_weekly_counts(planted):
    """KPI_UNITS (the rows behind each rate) give kpi_weekly's numerator and denominator, every week."""
    with published(planted) as con:
        for kpi in RATE_KPIS:
            units = KPI_UNITS[kpi.name]
            differences = con.execute(
                f"""
                WITH units AS (SELECT date_trunc('week', {units.dated})::DATE AS week, count(*) AS denominator,
                                      sum(({units.numerator})::INTEGER) AS numerator
                               FROM {units.source} WHERE {units.denominator} GROUP BY 1)
                SELECT k.period_start FROM marts.kpi_weekly AS k FULL JOIN units AS u ON u.week = k.period_start
                WHERE coalesce(u.denominator, 0) <> k.{kpi.denominator} OR coalesce(u.numerator, 0) <> k.{kpi.numerator}
                """
            ).fetchall()
            assert differences == [], kpi.name


def test_the_brief_is_emailed_once_with_the_pdf_attached(planted, smtp_server):
    briefs = [m for m in smtp_server.messages if m["Subject"] == f"KPI brief {WEEK}"]
    assert sorted(m["To"] for m in briefs) == sorted(REPORT_TO)
    for message in briefs:
        html = next(p for p in message.walk() if p.get_content_type() == "text/html").get_payload(decode=True)
        assert b"What drove the change" in html
        attachment = next(p for p in message.walk() if p.get_content_type() == "application/pdf")
        assert attachment.get_filename() == f"{WEEK}.pdf"
        text = PdfReader(io.BytesIO(attachment.get_payload(decode=True))).pages[0].extract_text()
        assert f"KPI brief {WEEK}" in text and "new vs returning customers = returning" in text


def test_a_failing_webhook_is_recorded_in_the_published_ledger_and_the_run_succeeded(planted):
    rows = deliveries(planted)
    webhook = [r for r in rows if r[1] == "webhook"]
    # the planted move and the stale data (as_of 2026-11-29), both refused with HTTP 500
    assert sorted(r[0] for r in webhook) == ["kpi_moved", "stale_data"]
    assert {r[2] for r in webhook} == {"127.0.0.1:" + planted.alert_webhook_url.split(":")[2].split("/")[0]}
    assert all(r[3] == "failed" and "500" in r[4] for r in webhook)
    assert sorted((r[0], r[2]) for r in rows if r[1] == "email") == sorted(
        [("brief", to) for to in REPORT_TO] + [("kpi_moved", ALERT_TO), ("stale_data", ALERT_TO)])
    assert all(r[3] == "sent" for r in rows if r[1] == "email")


def test_the_next_delivery_retries_the_webhook_and_the_drop_is_alerted_once(planted, smtp_server, webhook_server):
    emails_before = subjects(smtp_server)
    brief_and_deliver(planted)
    moved = [text for text in webhook_server.texts() if "moved" in text]
    assert len(moved) == 1
    for words in ("Checkout conversion", "2026-10-19", "2026-10-12", "39.0%", "30.7%",
                  "Top driver: new vs returning customers = returning"):
        assert words in moved[0]
    assert len([t for t in webhook_server.texts() if "stale" in t]) == 1
    assert subjects(smtp_server) == emails_before  # the emails had gone out: not again


def test_a_rerun_sends_nothing(planted, smtp_server, webhook_server):
    emails, posts = subjects(smtp_server), list(webhook_server.posts)
    assert brief_and_deliver(planted).deliveries == []
    assert subjects(smtp_server) == emails and webhook_server.posts == posts


@pytest.fixture
def warehouse_copy(planted, tmp_path):
    """A writable copy of the planted warehouse and its published copy."""
    settings = planted.with_(warehouse=tmp_path / "warehouse.duckdb", reports_dir=tmp_path / "reports")
    shutil.copyfile(planted.warehouse, settings.warehouse)
    shutil.copyfile(planted.published, settings.published)
    return settings


def test_a_blocked_run_is_alerted_once_naming_the_check(warehouse_copy, webhook_server):
    with duckdb.connect(str(warehouse_copy.published)) as con:
        con.execute(
            "INSERT INTO audit.check_results VALUES ('raw_orders_unique_key', 'raw/orders', 'error', false, "
            "'3 duplicate keys', '0 duplicate keys', '{}', 'run-blocked-1', ?)",
            [datetime.now(UTC).replace(tzinfo=None)],
        )
    posts = len(webhook_server.posts)
    sent = brief_and_deliver(warehouse_copy).deliveries
    assert sorted((d.kind, d.channel) for d in sent) == [("check_blocked", "email"), ("check_blocked", "webhook")]
    assert len(webhook_server.posts) == posts + 1
    assert "raw_orders_unique_key" in webhook_server.texts()[-1] and "run-blocked-1" in webhook_server.texts()[-1]
    assert brief_and_deliver(warehouse_copy).deliveries == []


def test_an_smtp_server_that_is_down_is_retried(warehouse_copy, smtp_server):
    new_reader = "board@example.com"
    down = warehouse_copy.with_(smtp_port=free_port(), report_to=new_reader, alert_webhook_url="")
    failed = brief_and_deliver(down).deliveries
    assert [(d.kind, d.recipient, d.status) for d in failed] == [("brief", new_reader, "failed")]
    assert "Connection" in failed[0].error
    retried = brief_and_deliver(down.with_(smtp_port=smtp_server.port)).deliveries
    assert [(d.kind, d.recipient, d.status) for d in retried] == [("brief", new_reader, "sent")]
    assert (f"KPI brief {WEEK}", new_reader) in subjects(smtp_server)


def test_nothing_is_sent_or_recorded_without_the_settings(warehouse_copy):
    quiet = warehouse_copy.with_(smtp_host="", alert_webhook_url="", report_to="new@example.com")
    with duckdb.connect(str(quiet.warehouse), read_only=True) as con:
        before = con.execute("SELECT count(*) FROM audit.deliveries").fetchall()
    assert brief_and_deliver(quiet).deliveries == []
    with duckdb.connect(str(quiet.warehouse), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM audit.deliveries").fetchall() == before


def test_funnel_report_writes_a_chosen_week_and_explains_on_request(planted, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["report", "--warehouse", str(planted.warehouse), "--week", "2026-W46", "--out", str(out),
                 "--explain", "first_order_conversion_rate"])
    assert code == 0
    assert (out / "2026-W46.pdf").exists()
    html = (out / "2026-W46.html").read_text()
    assert "week of 2026-11-09" in html  # the order-dated KPIs show the chosen week
    assert "First-order conversion: " in html.split("What drove the change")[1]  # explained on request
    assert "2026-W46" in capsys.readouterr().out


def test_funnel_report_send_sends_what_is_due_and_says_so(warehouse_copy, smtp_server, monkeypatch, capsys):
    monkeypatch.setenv("FUNNEL_REPORT_TO", "cli@example.com")
    assert main(["report", "--send", "--warehouse", str(warehouse_copy.warehouse)]) == 0
    out = capsys.readouterr().out
    assert f"sent brief {WEEK} by email to cli@example.com" in out
    assert "kpi_moved" not in out  # sent by the run already (the copy's ledger says so)
    assert (f"KPI brief {WEEK}", "cli@example.com") in subjects(smtp_server)
    assert main(["report", "--send", "--week", WEEK, "--warehouse", str(warehouse_copy.warehouse)]) == 2


@pytest.mark.parametrize(("week", "says"), [
    ("2026-48", "is not an ISO week"),
    ("2026-W48", "is not closed yet"),
    ("2025-W02", "holds no data"),
])
def test_funnel_report_refuses_a_week_it_cannot_brief(planted, tmp_path, capsys, week, says):
    assert main(["report", "--warehouse", str(planted.warehouse), "--week", week, "--out", str(tmp_path)]) == 2
    assert says in capsys.readouterr().err


def test_a_segment_change_names_a_known_rate_segment_and_day():
    with pytest.raises(ValueError, match="RATE=VALUE,COLUMN=SEGMENT"):
        SegmentChange.parse("order_rate=0.2,device=mobile")
    with pytest.raises(ValueError, match="one of"):
        SegmentChange.parse("order_rate=0.2,device=watch,since=2026-10-05").validate()
    assert SegmentChange.parse("order_rate=0.2,device=mobile,since=2026-10-05") == SegmentChange(
        "order_rate", 0.2, "device", "mobile", date(2026, 10, 5))


def test_a_run_with_nothing_new_still_alerts_stale_data_once_a_day(warehouse_copy, webhook_server):
    """With no new file the job does not run, yet that is when data goes stale: `funnel run` sends it."""
    from pipelines.run import run_pipeline

    with duckdb.connect(str(warehouse_copy.warehouse)) as con:  # as if today's alert was not sent yet
        con.execute("DELETE FROM audit.deliveries WHERE kind = 'stale_data'")
    posts = len(webhook_server.posts)
    outcome = run_pipeline(warehouse_copy)
    assert "nothing rebuilt" in outcome.report
    stale = [text for text in webhook_server.texts()[posts:] if "stale" in text]
    assert len(stale) == 1 and "2026-11-29" in stale[0], webhook_server.texts()[posts:]
    assert "Delivered stale_data to webhook 127.0.0.1" in outcome.report
    run_pipeline(warehouse_copy)
    assert len(webhook_server.posts) == posts + 1
