"""Delivering the brief and the alerts, each once, recorded in audit.deliveries.

What is due: the weekly brief by email to FUNNEL_REPORT_TO; alerts to the webhook
(FUNNEL_ALERT_WEBHOOK_URL, a Slack-compatible `{"text": ...}` POST) and by email to FUNNEL_ALERT_TO:
- `kpi_moved`: a rate of the registry moved (the spec's 99% test) in the brief's final weeks; key: KPI
  and period. The message names the KPI, the period, before and after, and the top driver.
- `check_blocked`: an error-level check failed in a run (audit.check_results); key: check and run.
  Sent by the run's failure hook as the run stops (`alert_blocked_run`), else by the next delivery.
- `stale_data`: the data's as_of is older than FUNNEL_FRESHNESS_HOURS (the freshness check's rule);
  key: the UTC day.

A (kind, key, channel, recipient) with a `sent` row in audit.deliveries is not sent again; every
attempt adds a row, so a failed one (server down, HTTP 500) is recorded and tried again on the next
delivery. Nothing here raises: a delivery never fails or blocks the pipeline. Nothing is sent (and
nothing recorded) for a channel whose settings are absent. The ledger lives in the pipeline's
warehouse (its writer records it); readers see it in the published copy.
"""

from __future__ import annotations

import json
import logging
import smtplib
import ssl
import urllib.request
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlsplit

import duckdb
import pyarrow as pa

from pipelines.brief.data import Brief, KpiLine
from pipelines.brief.render import driver_text, title
from pipelines.core.settings import Settings
from pipelines.ingest.ledger import ensure_tables

log = logging.getLogger(__name__)

SEND_TIMEOUT_SECONDS = 10
BLOCKED_LOOKBACK = timedelta(days=7)  # error-level failures older than this are not alerted on
SENT, FAILED = "sent", "failed"
EMAIL, WEBHOOK = "email", "webhook"


@dataclass(frozen=True)
class Message:
    kind: str  # brief, kpi_moved, check_blocked, stale_data
    key: str
    subject: str
    text: str
    html: str | None = None
    attachment: Path | None = None


@dataclass(frozen=True)
class Delivery:
    kind: str
    key: str
    channel: str
    recipient: str
    status: str
    error: str | None
    attempted_at: datetime


def recipients(addresses: str) -> list[str]:
    return [a.strip() for a in addresses.split(",") if a.strip()]


# ---- what is due ---------------------------------------------------------------------------------


def brief_message(brief: Brief, html: str, pdf: Path) -> Message:
    return Message("brief", brief.label, title(brief), f"{title(brief)}: the brief is attached as a PDF.", html, pdf)


def moved_alert(line: KpiLine) -> Message:
    kpi = line.kpi
    driver = f" Top driver: {driver_text(line, line.top_driver)}." if line.top_driver else ""
    text = (f"{kpi.label} moved: {kpi.format(line.previous_value)} (week of {line.previous_start}) -> "
            f"{kpi.format(line.value)} ({'cohort ' if kpi.dated_by == 'cohort' else ''}week of {line.period_start}, "
            f"{line.counts}), significant at 99%.{driver}")
    return Message("kpi_moved", f"{kpi.name}:{line.period_start}", f"KPI moved: {kpi.label}", text)


def blocked_alerts(con: duckdb.DuckDBPyConnection, now: datetime, run_id: str | None = None) -> list[Message]:
    """One alert per error-level check that failed in a run (audit.check_results of `con`; only
    those of `run_id` when given)."""
    rows = con.execute(
        """
        SELECT check_name, run_id, min(checked_at), arg_min(observed_value, checked_at), any_value(expected)
        FROM audit.check_results WHERE severity = 'error' AND NOT passed AND checked_at >= ?
            AND (? IS NULL OR run_id = ?)
        GROUP BY check_name, run_id ORDER BY 3, 1
        """,
        [now - BLOCKED_LOOKBACK, run_id, run_id],
    ).fetchall() if _has_table(con, "check_results") else []
    return [
        Message("check_blocked", f"{check}:{run_id}", f"Run blocked by check {check}",
                f"Run {run_id} was blocked at {at:%Y-%m-%d %H:%M} UTC by the error-level check {check}: "
                f"observed {observed}; expected {expected}. Nothing was published by that run.")
        for check, run_id, at, observed, expected in rows
    ]


def stale_alert(as_of: datetime, now: datetime, freshness_hours: float) -> list[Message]:
    age_hours = (now - as_of).total_seconds() / 3600
    if age_hours <= freshness_hours:
        return []
    return [Message("stale_data", f"{now:%Y-%m-%d}", "Data is stale",
                    f"Data is stale: the newest data is from {as_of:%Y-%m-%d %H:%M} UTC, {age_hours:.0f} h old "
                    f"(the freshness limit is {freshness_hours:g} h): no new files have arrived.")]


def due_alerts(brief: Brief, published: duckdb.DuckDBPyConnection, settings: Settings, now: datetime) -> list[Message]:
    return ([moved_alert(line) for line in brief.moved] + blocked_alerts(published, now)
            + stale_alert(brief.as_of, now, settings.freshness_hours))


# ---- sending -------------------------------------------------------------------------------------


def send_email(settings: Settings, to: str, message: Message) -> None:
    email = EmailMessage()
    email["Subject"], email["From"], email["To"] = message.subject, settings.report_from, to
    email.set_content(message.text)
    if message.html:
        email.add_alternative(message.html, subtype="html")
    if message.attachment:
        email.add_attachment(message.attachment.read_bytes(), maintype="application", subtype="pdf",
                             filename=message.attachment.name)
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=SEND_TIMEOUT_SECONDS) as smtp:
        if settings.smtp_starttls:
            smtp.starttls(context=ssl.create_default_context())
        if settings.smtp_user:
            smtp.login(settings.smtp_user, settings.smtp_password)
        smtp.send_message(email)


def post_webhook(url: str, message: Message) -> None:
    request = urllib.request.Request(url, data=json.dumps({"text": message.text}).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=SEND_TIMEOUT_SECONDS) as response:  # HTTP >= 400 raises
        response.read()


def _routes(settings: Settings, message: Message) -> list[tuple[str, str, object]]:
    """(channel, recipient as recorded, send) for each place a message goes under the settings."""
    def by_email(to: str):
        return lambda: send_email(settings, to, message)

    email_to = settings.report_to if message.kind == "brief" else settings.alert_to
    routes = [(EMAIL, to, by_email(to)) for to in recipients(email_to)] if settings.smtp_host else []
    if message.kind != "brief" and settings.alert_webhook_url:
        # The URL's path is often its secret (Slack): the ledger names the host only.
        host = urlsplit(settings.alert_webhook_url).netloc
        routes.append((WEBHOOK, host, lambda: post_webhook(settings.alert_webhook_url, message)))
    return routes


def routes_configured(settings: Settings) -> bool:
    """Whether any message could go anywhere: email needs a server and a recipient list."""
    email = bool(settings.smtp_host) and bool(recipients(settings.report_to) or recipients(settings.alert_to))
    return email or bool(settings.alert_webhook_url)


def _has_table(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'audit' "
                       "AND table_name = ?", [table]).fetchall()[0][0] > 0


def deliver(warehouse: duckdb.DuckDBPyConnection, settings: Settings, messages: list[Message],
            run_id: str | None = None) -> list[Delivery]:
    """Send each message on each of its routes not yet sent, and record every attempt in
    audit.deliveries of the warehouse (`warehouse`: the writer's connection). Never raises."""
    ensure_tables(warehouse)
    sent = set(warehouse.execute(
        "SELECT kind, key, channel, recipient FROM audit.deliveries WHERE status = ?", [SENT]
    ).fetchall())
    attempts = []
    for message in messages:
        for channel, recipient, send in _routes(settings, message):
            if (message.kind, message.key, channel, recipient) in sent:
                continue
            try:
                send()
                status, error = SENT, None
            except Exception as failure:  # noqa: BLE001 - any failure is recorded and retried next time
                status, error = FAILED, f"{type(failure).__name__}: {failure}"[:500]
                log.warning("delivery of %s %s to %s failed: %s", message.kind, message.key, recipient, error)
            attempts.append(Delivery(message.kind, message.key, channel, recipient, status, error,
                                     datetime.now(UTC).replace(tzinfo=None)))
    if attempts:
        recorded = pa.Table.from_pylist([{**asdict(a), "run_id": run_id} for a in attempts])  # noqa: F841 - read by the SQL below
        warehouse.execute(
            "INSERT INTO audit.deliveries (kind, key, channel, recipient, status, error, attempted_at, run_id) "
            "SELECT kind, key, channel, recipient, status, error, attempted_at, run_id FROM recorded"
        )
    return attempts
