"""The rate/mix decomposition on a hand-made fct_checkouts whose effects are computed by hand."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest

from pipelines.brief.drivers import UNKNOWN, drivers

BEFORE, AFTER = date(2026, 1, 5), date(2026, 1, 12)


@pytest.fixture
def con():
    con = duckdb.connect()
    con.execute("CREATE SCHEMA marts")
    con.execute(
        "CREATE TABLE marts.fct_checkouts (checkout_id VARCHAR, started_at TIMESTAMP, is_new_customer BOOLEAN, "
        "plan VARCHAR, deployment VARCHAR, country VARCHAR, device VARCHAR, converted BOOLEAN)"
    )

    def add(week: date, device: str, checkouts: int, converted: int, country: str | None = "US") -> None:
        con.execute(
            "INSERT INTO marts.fct_checkouts SELECT 'ck-' || ?::VARCHAR || ? || i, ?::TIMESTAMP + INTERVAL 30 HOUR, "
            "TRUE, 'premium', 'saas', ?, ?, i < ? FROM range(?) AS t(i)",
            [week, device, week, country, device, converted, checkouts],
        )

    # Week 0: desktop 50/100, mobile 20/100 (35%). Week 1: desktop 50/100, mobile 30/300 (20%).
    add(BEFORE, "desktop", 100, 50)
    add(BEFORE, "mobile", 100, 20)
    add(AFTER, "desktop", 100, 50)
    add(AFTER, "mobile", 300, 30)
    yield con
    con.close()


def test_rate_and_mix_effects_are_the_hand_computed_ones_and_add_up_to_the_change(con):
    found = {(d.dimension, d.segment): d for d in drivers(con, "checkout_conversion_rate", BEFORE, AFTER)}
    # plan, deployment, country and customer_type have one segment each: they split nothing.
    assert set(found) == {("device", "desktop"), ("device", "mobile")}
    desktop, mobile = found["device", "desktop"], found["device", "mobile"]
    # desktop: rate unchanged (0.5), share 0.5 -> 0.25: mix = -0.25 * (0.5 + 0.5) / 2
    assert desktop.rate_effect == pytest.approx(0.0)
    assert desktop.mix_effect == pytest.approx(-0.125)
    # mobile: rate 0.2 -> 0.1 over a mean share of 0.625; share 0.5 -> 0.75 at a mean rate of 0.15
    assert mobile.rate_effect == pytest.approx(-0.0625)
    assert mobile.mix_effect == pytest.approx(0.0375)
    assert (mobile.before_denominator, mobile.after_denominator) == (100, 300)
    assert (mobile.before_rate, mobile.after_rate) == (pytest.approx(0.2), pytest.approx(0.1))
    assert desktop.contribution + mobile.contribution == pytest.approx(80 / 400 - 70 / 200)


def test_the_segment_explaining_most_of_the_change_comes_first(con):
    ranked = drivers(con, "checkout_conversion_rate", BEFORE, AFTER)
    assert [(d.dimension, d.segment) for d in ranked] == [("device", "desktop"), ("device", "mobile")]


def test_a_segment_of_one_week_only_is_all_mix_and_unknown_values_are_a_segment(con):
    con.execute("UPDATE marts.fct_checkouts SET country = NULL WHERE device = 'mobile' AND started_at >= ?", [AFTER])
    found = {(d.dimension, d.segment): d for d in drivers(con, "checkout_conversion_rate", BEFORE, AFTER)}
    unknown = found["country", UNKNOWN]
    assert (unknown.before_denominator, unknown.before_rate) == (0, None)
    assert unknown.rate_effect == 0
    assert unknown.mix_effect == pytest.approx(0.75 * 0.1)  # its whole share at its rate
    us = found["country", "US"]
    assert us.contribution + unknown.contribution == pytest.approx(-0.15)


def test_no_drivers_when_a_week_has_no_row(con):
    assert drivers(con, "checkout_conversion_rate", BEFORE, date(2026, 1, 19)) == []
