"""The Funnel page's conversion window and time between steps (dashboards.data: funnel_totals_within,
funnel_by_period_within, time_between_steps), read from marts.fct_checkouts' step times.

A shorter window's figures computed on a warehouse built with the default 30 days must equal those of
a warehouse BUILT with that window (FUNNEL_CONVERSION_WINDOW_DAYS) from the same landing: the
conformance kit's (with bad rows and payment failures, as the other dashboard tests) plus
`WINDOW_EDGES`, four checkouts whose steps fall on either side of 1 hour, 1 day and 7 days (one
country each, so a filter picks one out)."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from dashboards import connections, data
from pipelines.core.contract import CHECKOUT_EVENTS
from tests.dashboard.conftest import ROOT
from tests.dashboard.pipeline_warehouses import DIRTY_LANDING, land_payment_failures

# The first test's setup builds three warehouses with the real pipeline (~1 min each on an idle
# machine): more than the suite's default 300 s on a busy one.
pytestmark = pytest.mark.timeout(1200)

T1 = dt.datetime(2026, 3, 10, 8, 0, tzinfo=dt.UTC)
HOUR, DAY = dt.timedelta(hours=1), dt.timedelta(days=1)
SECOND = dt.timedelta(seconds=1)
# checkout -> (country, [(step event name, time after t1)]); every checkout starts at T1.
WINDOW_EDGES = {
    # details exactly 1 day after the start (inclusive), billing one second later
    "w1": ("FR", [("subscription_details_completed", DAY), ("billing_address_completed", DAY + SECOND)]),
    # details exactly 1 hour after, payment one second before 7 days, submitted exactly at 7 days
    "w2": ("IT", [("subscription_details_completed", HOUR), ("billing_address_completed", 2 * HOUR),
                  ("payment_method_completed", 7 * DAY - SECOND), ("order_submitted", 7 * DAY)]),
    # billing before details does not count; billing again after 8 days counts within 30 days only
    "w3": ("ES", [("billing_address_completed", dt.timedelta(minutes=5)),
                  ("subscription_details_completed", dt.timedelta(minutes=10)),
                  ("billing_address_completed", 8 * DAY)]),
    # two details events: the earlier one (3 h) is t2, wherever it stands in the file
    "w4": ("NL", [("subscription_details_completed", 2 * DAY), ("subscription_details_completed", 3 * HOUR),
                  ("billing_address_completed", 2 * DAY + HOUR)]),
}
# The step each reaches within a window (hours), by the spec's rules (kpi-definitions.md "The funnel").
REACHED = {
    1: {"w1": 1, "w2": 2, "w3": 2, "w4": 1},
    24: {"w1": 2, "w2": 3, "w3": 2, "w4": 2},
    7 * 24: {"w1": 3, "w2": 5, "w3": 2, "w4": 3},
    30 * 24: {"w1": 3, "w2": 5, "w3": 3, "w4": 3},
}
EDGE_COUNTRIES = tuple(country for country, _ in WINDOW_EDGES.values())
SPAN = (dt.date(2026, 2, 1), dt.date(2026, 4, 30))


def land_window_edges(landing: Path) -> None:
    lines = []
    for checkout_id, (country, steps) in WINDOW_EDGES.items():
        events = [("checkout_started", dt.timedelta(0)), *steps]
        for n, (name, after) in enumerate(events):
            event = dict.fromkeys(CHECKOUT_EVENTS.column_names)
            event.update(event_id=f"{checkout_id}-e{n}", event_name=name, checkout_id=checkout_id,
                         customer_id=f"cust-{checkout_id}",
                         event_time=(T1 + after).strftime("%Y-%m-%dT%H:%M:%SZ"))
            if name == "checkout_started":
                event.update(plan="premium", deployment="saas", seats=3, country=country, device="desktop")
            lines.append(json.dumps(event))
    (landing / "checkout_events" / "window-edges.jsonl").write_text("\n".join(lines) + "\n")


def _build(root: Path, window_days: int) -> Path:
    """The kit + WINDOW_EDGES published by the real pipeline with a conversion window of `window_days`
    (in its own process, as the other dashboard warehouses)."""
    landing = root / "landing"
    shutil.copytree(DIRTY_LANDING, landing)
    land_payment_failures(landing)
    land_window_edges(landing)
    code = ("import sys; from pathlib import Path; from tests.dashboard.pipeline_warehouses import run; "
            "print(run(Path(sys.argv[1]), Path(sys.argv[2])))")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUNNEL_")}
    done = subprocess.run([sys.executable, "-c", code, str(landing), str(root / "warehouse.duckdb")],
                          cwd=ROOT, env={**env, "FUNNEL_CONVERSION_WINDOW_DAYS": str(window_days)},
                          capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, f"building with a {window_days}-day window failed:\n{done.stdout}\n{done.stderr}"
    return Path(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[int, Path]:
    """Published copies built with windows of 30 (the default), 7 and 1 days: {days: path}."""
    return {days: _build(tmp_path_factory.mktemp(f"window-{days}d"), days) for days in (30, 7, 1)}


@pytest.fixture
def reading(monkeypatch):
    """Point dashboards.data at one published copy."""
    def use(path: Path) -> None:
        monkeypatch.setenv("FUNNEL_PUBLISHED", str(path))
    return use


def _steps(reached: int) -> list[int]:
    return [1 if n <= reached else 0 for n in range(1, 7)]


@pytest.mark.parametrize("window_hours", sorted(REACHED))
def test_each_edge_checkout_reaches_the_spec_step(built, reading, window_hours):
    reading(built[30])
    for checkout_id, (country, _) in WINDOW_EDGES.items():
        f = data.Filters(*SPAN, country=(country,))
        got = list(data.funnel_totals_within(f, window_hours).values())
        assert got == _steps(REACHED[window_hours][checkout_id]), (checkout_id, window_hours, got)


@pytest.mark.parametrize("window_days", [7, 1])
def test_shorter_window_equals_a_warehouse_built_with_it(built, reading, window_days):
    filters = [data.Filters(*SPAN), data.Filters(*SPAN, country=EDGE_COUNTRIES),
               data.Filters(dt.date(2026, 3, 1), dt.date(2026, 3, 9)),
               data.Filters(*SPAN, customer_type=("new",))]
    reading(built[window_days])
    expected = {(f, None): data.funnel_totals(f) for f in filters}
    expected |= {(f, grain): data.funnel_by_period(f, grain).to_dict("records")
                 for f in filters for grain in ("day", "week", "month")}
    reading(built[30])
    for f in filters:
        assert data.funnel_totals_within(f, window_days * 24) == expected[(f, None)], f
        for grain in ("day", "week", "month"):
            assert data.funnel_by_period_within(f, grain, window_days * 24).to_dict("records") \
                == expected[(f, grain)], (f, grain)
    # The kit's k05 converts exactly at 30 days: not within 7 days, so the totals differ at step 6.
    assert data.funnel_totals_within(filters[0], window_days * 24)["checkouts_converted"] \
        < data.funnel_totals(filters[0])["checkouts_converted"]


def test_the_step_times_give_the_marts_funnel_for_the_built_window(built, reading):
    """What the page reads for the built window (the pre-aggregated marts) is what the step times give."""
    reading(built[30])
    f = data.Filters(*SPAN)
    computed = data._funnel_totals_within(connections.current_version(), f, 30 * 24, 30)
    assert computed == data.funnel_totals_within(f, 30 * 24) == data.funnel_totals(f)
    for grain in ("day", "week", "month"):
        computed = data._funnel_by_period_within(connections.current_version(), f, grain, 30 * 24, 30)
        assert computed.to_dict("records") == data.funnel_by_period(f, grain).to_dict("records"), grain


@pytest.mark.parametrize("window_days", [7, 1])
def test_step_times_of_a_shorter_build_are_those_within_its_window(built, window_days):
    """The rule the page's computation rests on: built with a shorter window, each step's time is the
    30-day build's time when every step up to it is within the window, else NULL."""
    steps = data.STEP_TIME_COLUMNS[1:]
    within = [f"l.{c} <= l.started_at + INTERVAL {window_days} DAY" for c in steps]
    expect = [f"CASE WHEN {' AND '.join(within[:k + 1] if k < 4 else within[:4] + [within[k]])} "
              f"THEN l.{c} END" for k, c in enumerate(steps)]
    with duckdb.connect() as con:
        con.execute(f"ATTACH '{built[30]}' AS long (READ_ONLY)")
        con.execute(f"ATTACH '{built[window_days]}' AS short (READ_ONLY)")
        differing = con.execute(f"""
            SELECT l.checkout_id FROM long.marts.fct_checkouts l JOIN short.marts.fct_checkouts s USING (checkout_id)
            WHERE {' OR '.join(f's.{c} IS DISTINCT FROM {e}' for c, e in zip(steps, expect, strict=True))}
            """).fetchall()
        counts = con.execute("SELECT (SELECT count(*) FROM long.marts.fct_checkouts), "
                             "(SELECT count(*) FROM short.marts.fct_checkouts)").fetchone()
    assert differing == [] and counts[0] == counts[1] == 22 + len(WINDOW_EDGES)


def test_a_window_beyond_the_built_one_is_refused(built, reading):
    reading(built[7])
    assert max(data.window_choices(7)) == 7 * 24 and 30 * 24 not in data.window_choices(7)
    with pytest.raises(ValueError, match="7 days the warehouse was built with"):
        data.funnel_totals_within(data.Filters(*SPAN), 8 * 24)


def test_time_between_steps_median_and_p90(built, reading):
    """The four edge checkouts together (one cohort day, week and month): hours from step to step.
    Step 1 -> 2 takes 24, 1, 1/6 and 3 hours: median (1 + 3) / 2 = 2, p90 at rank 2.7 of 0..3:
    3 + 0.7 * (24 - 3) = 17.7. Step 2 -> 3 within 30 days: 1 s, 1 h, 46 h, 191 h 50 min (w3: 8 days
    after its details at 10 min); within 7 days w3 has no step 3."""
    reading(built[30])
    f = data.Filters(*SPAN, country=EDGE_COUNTRIES)
    df = data.time_between_steps(f, "month", None, 30 * 24).set_index("from_step")
    assert list(df.period_start.unique()) == [dt.date(2026, 3, 1)] and set(df.segment) == {"all"}
    assert df.checkouts.to_dict() == {1: 4, 2: 4, 3: 1, 4: 1}
    assert df.loc[1, "median_hours"] == pytest.approx(2.0) and df.loc[1, "p90_hours"] == pytest.approx(17.7)
    assert df.loc[2, "median_hours"] == pytest.approx((1 + 46) / 2)
    assert df.loc[2, "p90_hours"] == pytest.approx(46 + 0.7 * (191 + 50 / 60 - 46))
    # w2: payment one second before 7 days after billing at 2 h; submitted one second later
    assert df.loc[3, "median_hours"] == pytest.approx(7 * 24 - 2 - 1 / 3600)
    assert df.loc[4, "median_hours"] == pytest.approx(1 / 3600)

    week = data.time_between_steps(f, "week", None, 7 * 24).set_index("from_step")
    assert week.checkouts.to_dict() == {1: 4, 2: 3, 3: 1, 4: 1}
    assert week.loc[2, "median_hours"] == pytest.approx(1.0)
    assert week.loc[2, "p90_hours"] == pytest.approx(1 + 0.8 * (46 - 1))

    by_country = data.time_between_steps(f, "week", "country", 24)
    assert by_country[by_country.from_step == 1].set_index("segment").median_hours.to_dict() \
        == pytest.approx({"FR": 24.0, "IT": 1.0, "ES": 1 / 6, "NL": 3.0})
