"""The weekly brief's numbers, read from the published copy.

The brief of ISO week W shows, for each KPI of the registry, "the latest week" of the spec not after
W: the latest complete cohort for cohort-dated KPIs and the latest closed week for the others (the
marts' `cohort_complete` / `period_closed`, `Kpi.final_column`). W itself must be closed; the default
W is the latest closed week, so by default each KPI shows exactly the spec's latest week. Beside the
value: the weekly target (seed kpi_targets), the final week before (the spec's 99% movement test,
`pipelines.core.stats`, as the movement check `data_checks.movement` runs it), the 12 weeks up to W
with their final flag, what drove the change (pipelines/brief/drivers.py) for each rate that moved
or that was asked for, and the data's health from W's Monday through the week after it (when the
brief goes out).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import duckdb

from data_checks.movement import verdict_text
from pipelines.brief.drivers import Driver, drivers
from pipelines.core.kpis import KPI_BY_NAME, KPI_TABLES, KPIS, Kpi
from pipelines.core.stats import MOVEMENT_LEVEL, two_proportion_test

TREND_WEEKS = 12
FRESHNESS_CHECK = "raw_events_freshness"  # data_checks/raw_checks.py: the freshness warning
MAX_FILES_LISTED = 10
_WEEK_RE = re.compile(r"(\d{4})-W(\d{2})")


class BriefError(ValueError):
    """The brief cannot be made for that week (not closed yet, no data, a malformed week)."""


def parse_week(text: str) -> date:
    """The Monday of an ISO week `YYYY-Www` (e.g. 2026-W48)."""
    match = _WEEK_RE.fullmatch(text.strip())
    if not match:
        raise BriefError(f"week {text!r} is not an ISO week YYYY-Www (e.g. 2026-W48)")
    try:
        return date.fromisocalendar(int(match[1]), int(match[2]), 1)
    except ValueError:
        raise BriefError(f"week {text!r} does not exist") from None


def week_label(monday: date) -> str:
    year, week, _ = monday.isocalendar()
    return f"{year}-W{week:02d}"


@dataclass(frozen=True)
class TrendPoint:
    period_start: date
    value: float | None
    final: bool  # False: an open cohort or a period not yet closed, drawn as such


@dataclass
class KpiLine:
    kpi: Kpi
    period_start: date | None  # the week shown (None: no final week yet)
    value: float | None
    previous_start: date | None
    previous_value: float | None
    target: float | None
    counts: str  # "numerator/denominator" of the shown week, rates only
    verdict: str
    moved: bool
    trend: list[TrendPoint]
    drivers: list[Driver] = field(default_factory=list)

    @property
    def on_track(self) -> bool | None:
        if self.target is None or self.value is None:
            return None
        return self.value >= self.target if self.kpi.direction == "higher_is_better" else self.value <= self.target

    @property
    def change(self) -> float | None:
        if self.value is None or self.previous_value is None:
            return None
        return self.value - self.previous_value

    @property
    def top_driver(self) -> Driver | None:
        return self.drivers[0] if self.drivers else None


@dataclass(frozen=True)
class CheckFailure:
    check_name: str
    severity: str
    failures: int  # runs in the week that failed it
    observed: str | None


@dataclass
class Health:
    runs: int  # published runs in the week
    failed_checks: list[CheckFailure]
    files_by_status: dict[str, int]
    files_not_loaded: list[tuple[str, str, str]]  # (status, file_path, reason): rejected, empty, ignored
    rows_rejected: int
    freshness: str  # the freshness check's latest word, or that it did not run
    start: datetime
    end: datetime


@dataclass
class Brief:
    week_start: date
    as_of: datetime
    lines: list[KpiLine]
    health: Health
    generated_at: datetime

    @property
    def label(self) -> str:
        return week_label(self.week_start)

    @property
    def moved(self) -> list[KpiLine]:
        return [line for line in self.lines if line.moved]


def _long_kpis_sql() -> str:
    """marts.kpi_weekly as one row per (KPI, week), from the registry: value, counts, final flag."""
    return " UNION ALL ".join(
        f"SELECT '{k.name}' AS kpi, period_start::DATE AS period_start, {k.name}::DOUBLE AS value, "
        f"{k.numerator or 'NULL'}::BIGINT AS numerator, {k.denominator or 'NULL'}::BIGINT AS denominator, "
        f"{k.final_column} AS final FROM marts.{KPI_TABLES['week']}"
        for k in KPIS
    )


def latest_closed_week(con: duckdb.DuckDBPyConnection) -> date:
    found = con.execute(f"SELECT max(period_start)::DATE FROM marts.{KPI_TABLES['week']} WHERE period_closed").fetchall()
    if not found[0][0]:
        raise BriefError("no closed week yet: the brief covers closed weeks only")
    return found[0][0]


def _check_week_closed(con: duckdb.DuckDBPyConnection, week: date) -> None:
    found = con.execute(
        f"SELECT period_closed FROM marts.{KPI_TABLES['week']} WHERE period_start = ?", [week]
    ).fetchall()
    if not found:
        raise BriefError(f"week {week_label(week)} holds no data")
    if not found[0][0]:
        raise BriefError(f"week {week_label(week)} is not closed yet: the brief covers closed weeks only")


def _relation_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?", [schema, table]
    ).fetchall()[0][0] > 0


def kpi_lines(con: duckdb.DuckDBPyConnection, week: date, explain: tuple[str, ...] = ()) -> list[KpiLine]:
    """One line per KPI of the registry for the brief of `week` (module docstring); drivers for the
    rates that moved and those named in `explain`."""
    rows = con.execute(
        f"""
        WITH long AS ({_long_kpis_sql()})
        SELECT kpi, period_start, value, numerator, denominator, final,
               CASE WHEN final THEN row_number() OVER (PARTITION BY kpi, final ORDER BY period_start DESC) END
        FROM long WHERE period_start <= ? ORDER BY kpi, period_start
        """,
        [week],
    ).fetchall()
    targets = dict(con.execute("SELECT kpi_name, target FROM marts.kpi_targets WHERE grain = 'week'").fetchall())
    by_kpi: dict[str, list[tuple]] = {}
    for row in rows:
        by_kpi.setdefault(row[0], []).append(row)
    lines = []
    for kpi in KPIS:
        weeks = by_kpi.get(kpi.name, [])
        latest = next((r for r in weeks if r[6] == 1), None)
        previous = next((r for r in weeks if r[6] == 2), None)
        verdict, moved = _verdict(kpi, latest, previous)
        line = KpiLine(
            kpi=kpi,
            period_start=latest[1] if latest else None,
            value=latest[2] if latest else None,
            previous_start=previous[1] if previous else None,
            previous_value=previous[2] if previous else None,
            target=targets.get(kpi.name),
            counts=f"{latest[3]:,}/{latest[4]:,}" if latest and kpi.is_rate else "",
            verdict=verdict,
            moved=moved,
            trend=[TrendPoint(r[1], r[2], bool(r[5])) for r in weeks[-TREND_WEEKS:]],
        )
        if kpi.is_rate and latest and previous and (moved or kpi.name in explain):
            line.drivers = drivers(con, kpi.name, previous[1], latest[1])
        lines.append(line)
    return lines


def _verdict(kpi: Kpi, latest: tuple | None, previous: tuple | None) -> tuple[str, bool]:
    """The spec's movement test between the two final weeks, in the movement check's words."""
    if not kpi.is_rate:
        return f"no verdict: the {MOVEMENT_LEVEL:.0%} test compares proportions; this KPI is not a rate", False
    if latest is None or previous is None:
        return "no verdict: fewer than two final weeks", False
    test = two_proportion_test(latest[3], latest[4], previous[3], previous[4], level=MOVEMENT_LEVEL)
    return verdict_text(test), bool(test.significant)


def health_window(week: date, now: datetime) -> tuple[datetime, datetime]:
    """The runs a brief reports on: from the week's Monday through the week after it (the brief goes
    out then), or until now when that is earlier."""
    start = datetime.combine(week, datetime.min.time())
    return start, min(start + timedelta(days=14), now)


def health(con: duckdb.DuckDBPyConnection, start: datetime, end: datetime) -> Health:
    """The data's health from `start` to `end` (UTC): runs, failed checks, files not loaded, freshness."""
    failed, freshness = [], "the freshness check did not run then"
    if _relation_exists(con, "audit", "check_results"):
        failed = [CheckFailure(*row) for row in con.execute(
            """
            SELECT check_name, severity, count(DISTINCT run_id), arg_max(observed_value, checked_at)
            FROM audit.check_results WHERE NOT passed AND checked_at >= ? AND checked_at < ?
            GROUP BY check_name, severity ORDER BY severity = 'error' DESC, check_name
            """,
            [start, end],
        ).fetchall()]
        latest = con.execute(
            "SELECT passed, observed_value FROM audit.check_results WHERE check_name = ? AND checked_at >= ? "
            "AND checked_at < ? ORDER BY checked_at DESC LIMIT 1",
            [FRESHNESS_CHECK, start, end],
        ).fetchall()
        if latest:
            freshness = f"{'fresh' if latest[0][0] else 'STALE'}: newest event {latest[0][1]} at the last check"
    files_by_status = dict(con.execute(
        "SELECT status, count(*) FROM audit.load_ledger WHERE loaded_at >= ? AND loaded_at < ? GROUP BY status "
        "ORDER BY array_position(['loaded', 'rejected', 'empty', 'ignored'], status), status",
        [start, end],
    ).fetchall())
    not_loaded = con.execute(
        "SELECT status, file_path, coalesce(reason, '') FROM audit.load_ledger WHERE loaded_at >= ? AND loaded_at < ? "
        "AND status <> 'loaded' ORDER BY array_position(['rejected', 'empty', 'ignored'], status), file_path LIMIT ?",
        [start, end, MAX_FILES_LISTED],
    ).fetchall()
    rows_rejected = con.execute(
        "SELECT coalesce(sum(rows_rejected), 0) FROM audit.load_ledger WHERE loaded_at >= ? AND loaded_at < ?",
        [start, end],
    ).fetchall()[0][0]
    runs = con.execute(
        "SELECT count(*) FROM audit.pipeline_runs WHERE status = 'success' AND started_at >= ? AND started_at < ?",
        [start, end],
    ).fetchall()[0][0]
    return Health(int(runs), failed, files_by_status, not_loaded, int(rows_rejected), freshness, start, end)


def as_of(con: duckdb.DuckDBPyConnection) -> datetime:
    return con.execute("SELECT as_of FROM marts.warehouse_as_of").fetchall()[0][0]


def build_brief(con: duckdb.DuckDBPyConnection, week: date | None = None, explain: tuple[str, ...] = ()) -> Brief:
    """The brief of ISO week `week` (a Monday; default the latest closed week) from a connection to
    the published copy. `explain`: KPI names whose drivers are wanted even when they did not move."""
    unknown = [name for name in explain if name not in KPI_BY_NAME or not KPI_BY_NAME[name].is_rate]
    if unknown:
        raise BriefError(f"no drivers for {', '.join(unknown)}: drivers split the rates of the KPI registry")
    if week is None:
        week = latest_closed_week(con)
    else:
        _check_week_closed(con, week)
    now = datetime.now(UTC).replace(tzinfo=None)
    return Brief(week, as_of(con), kpi_lines(con, week, explain), health(con, *health_window(week, now)), now)
