"""`make demo`'s data tells one story (issue #15): checkouts and orders cover the same days
(`history_days=0`: no orders before the range), and the planted change the Makefile's demo line
asks for is the row of the annotations seed the dashboard draws."""

from __future__ import annotations

import csv
import re
from datetime import date

import duckdb

from tests.dashboard.conftest import ROOT
from tools.generate import generate_landing

END = date(2026, 6, 30)
DAYS = 14


def _span(out, folder: str, column: str) -> tuple[date, date]:
    # Parquet only: timestamps are typed (with or without time zone: both UTC).
    lo, hi = duckdb.sql(f"""
        SELECT min(CAST(timezone('UTC', CAST({column} AS TIMESTAMPTZ)) AS DATE)),
               max(CAST(timezone('UTC', CAST({column} AS TIMESTAMPTZ)) AS DATE))
        FROM read_parquet('{out}/{folder}/*.parquet', union_by_name = true)""").fetchall()[0]
    return lo, hi


def test_without_history_orders_and_checkouts_cover_the_same_days(tmp_path):
    summary = generate_landing(tmp_path, days=DAYS, checkouts_per_day=60, seed=3, end_date=END,
                               formats="parquet", history_days=0)
    start = date.fromordinal(END.toordinal() - DAYS + 1)
    assert not [f for f in summary.files if "history" in str(f)]
    assert _span(tmp_path, "checkout_events", "event_time")[0] == start
    assert _span(tmp_path, "orders", "created_at")[0] == start
    assert _span(tmp_path, "orders", "updated_at")[1] <= END


def test_with_history_the_returning_customers_orders_come_first(tmp_path):
    generate_landing(tmp_path, days=DAYS, checkouts_per_day=60, seed=3, end_date=END, formats="parquet",
                     history_days=30)
    start = date.fromordinal(END.toordinal() - DAYS + 1)
    assert _span(tmp_path, "orders", "created_at")[0] < start


def test_the_demos_planted_change_is_annotated():
    demo = re.search(r"^demo:.*?\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(), re.MULTILINE).group(1)
    change = re.search(r"--rate-change (\S+)", demo).group(1)
    since = date.fromisoformat(re.search(r"since=(\d{4}-\d{2}-\d{2})", change).group(1))
    end = date.fromisoformat(re.search(r"--end-date (\S+)", demo).group(1))
    assert "--history-days 0" in demo
    with (ROOT / "dbt_project" / "seeds" / "annotations.csv").open() as f:
        rows = [r for r in csv.DictReader(f) if date.fromisoformat(r["date"]) == since]
    assert len(rows) == 1 and rows[0]["label"], rows
    # the change lies inside the demo's range, early enough for complete cohorts to show it
    assert (end - since).days > 30 + 14
