"""Leadership's weekly KPI brief and the alerts (docs/reports.md).

- data.py: the brief's numbers, SQL on the published copy; drivers.py: the rate/mix decomposition;
- render.py: one page as HTML and PDF; delivery.py: email, webhook and the audit.deliveries ledger.

`write_brief` makes the files (`funnel report`); `brief_and_deliver` makes the latest brief and
sends what is due (the Dagster asset `kpi_brief` after each published run, and `funnel report --send`);
`alert_blocked_run` alerts on the error-level checks that stopped a run (the job's failure hook).
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from pipelines.brief.data import Brief, build_brief
from pipelines.brief.delivery import (
    Delivery,
    blocked_alerts,
    brief_message,
    deliver,
    due_alerts,
    routes_configured,
)
from pipelines.brief.render import render_html, render_pdf
from pipelines.core.settings import Settings
from pipelines.core.warehouse import connect, writer_lock

log = logging.getLogger(__name__)


@dataclass
class BriefFiles:
    brief: Brief
    html: Path
    pdf: Path
    deliveries: list[Delivery] = field(default_factory=list)


@contextlib.contextmanager
def _warehouse_writer(settings: Settings, lock_wait_seconds: float):
    """The warehouse under the writer lock (re-entrant: a run that holds it passes through)."""
    with writer_lock(settings.warehouse, wait_seconds=lock_wait_seconds), connect(
        settings.warehouse, memory_limit=settings.duckdb_memory_limit, threads=settings.duckdb_threads
    ) as con:
        yield con


def write_brief(settings: Settings, week: date | None = None, out_dir: Path | None = None,
                explain: tuple[str, ...] = ()) -> BriefFiles:
    """The brief of `week` (default: the latest closed week) from the published copy, written as
    `<out_dir>/<YYYY-Www>.html` and `.pdf` (default folder: the reports setting)."""
    if not settings.published.exists():
        raise FileNotFoundError(f"no published copy at {settings.published}: run `funnel run` first")
    with connect(settings.published, read_only=True) as con:
        brief = build_brief(con, week, explain)
    out_dir = out_dir or settings.reports
    out_dir.mkdir(parents=True, exist_ok=True)
    html_path = out_dir / f"{brief.label}.html"
    html_path.write_text(render_html(brief))
    return BriefFiles(brief, html_path, render_pdf(brief, out_dir / f"{brief.label}.pdf"))


def brief_and_deliver(settings: Settings, run_id: str | None = None, lock_wait_seconds: float = 60.0) -> BriefFiles:
    """The latest brief, then everything due and not yet sent (pipelines/brief/delivery.py),
    recorded in the warehouse's audit.deliveries under the writer lock."""
    files = write_brief(settings)
    if not routes_configured(settings):
        return files
    now = datetime.now(UTC).replace(tzinfo=None)
    with connect(settings.published, read_only=True) as published:
        messages = [brief_message(files.brief, files.html.read_text(), files.pdf)]
        messages += due_alerts(files.brief, published, settings, now)
    with _warehouse_writer(settings, lock_wait_seconds) as con:
        files.deliveries = deliver(con, settings, messages, run_id)
    return files


def alert_blocked_run(settings: Settings, run_id: str, lock_wait_seconds: float = 60.0) -> list[Delivery]:
    """Alert now on the error-level checks that failed in run `run_id` (the warehouse's
    audit.check_results: a blocked run publishes nothing). Never raises: the run has failed already."""
    if not routes_configured(settings):
        return []
    try:
        with _warehouse_writer(settings, lock_wait_seconds) as con:
            messages = blocked_alerts(con, datetime.now(UTC).replace(tzinfo=None), run_id)
            return deliver(con, settings, messages, run_id)
    except Exception as error:  # noqa: BLE001 - alerting must not hide the run's own failure
        log.warning("the alert of blocked run %s was not sent: %s: %s", run_id, type(error).__name__, error)
        return []
