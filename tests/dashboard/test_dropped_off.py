"""Who dropped off (dashboards.data.dropped_off, the Drop-off page's list and its CSV), on the
conformance kit published by the real pipeline (with the payment_failed events of
tests/dashboard/pipeline_warehouses.py): the checkouts that reached a step and not the next are the
kit's expected ones (expected/fct_checkouts.csv: reached_step), with their payment failures counted
from the start on, and nothing but ids and segments."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from dashboards import data
from tests.dashboard.conftest import APP, ROOT

EXPECTED = ROOT / "tests" / "fixtures" / "conformance" / "expected" / "fct_checkouts.csv"
ALL = data.Filters(dt.date(2026, 2, 1), dt.date(2026, 3, 31))


def _expected_reached() -> dict[str, int]:
    with EXPECTED.open() as f:
        return {r["checkout_id"]: int(r["reached_step"]) for r in csv.DictReader(f)}


@pytest.mark.parametrize("step", [1, 2, 3, 4, 5])
def test_the_checkouts_that_reached_a_step_and_not_the_next(use_published, step):
    total, rows = data.dropped_off(ALL, step)
    expected = sorted(k for k, reached in _expected_reached().items() if reached == step)
    assert sorted(rows.checkout_id) == expected and total == len(expected)
    assert (rows.last_step == data.STEP_COLUMNS[step - 1][1]).all()
    # the count agrees with the drop-off mart the page's other figures come from
    marts = data.dropoffs(ALL)
    assert total == int(marts[marts.stopped_at_step == step].checkouts.sum())


def test_the_list_carries_the_last_step_and_the_payment_failures(use_published):
    """Step 3 (billing address, not payment method): k24, k20, k02, newest first. k02 failed twice with
    insufficient_funds; k20 once (the kit's card_declined); k24's failure before its start (pf5) does
    not count, its expired_card after does."""
    total, rows = data.dropped_off(ALL, 3)
    assert list(rows.columns) == data.DROPPED_OFF_COLUMNS
    got = rows.set_index("checkout_id")
    assert list(got.index) == ["k24", "k20", "k02"] and total == 3
    assert got.payment_failures.to_dict() == {"k24": 1, "k20": 1, "k02": 2}
    assert got.payment_error_code.to_dict() == {"k24": "expired_card", "k20": "card_declined",
                                                "k02": "insufficient_funds"}
    assert got.last_step_at.dt.strftime("%Y-%m-%d %H:%M").to_dict() == {
        "k24": "2026-03-19 10:03", "k20": "2026-03-16 11:10", "k02": "2026-03-02 11:09"}
    assert set(got.customer_type) == {"new"}


def test_a_segment_and_no_payment_failure(use_published):
    """k22, the only ultimate/mobile checkout, stopped at step 1 without a payment failure."""
    total, rows = data.dropped_off(data.Filters(ALL.start, ALL.end, plan=("ultimate",), device=("mobile",)), 1)
    assert total == 1
    row = rows.iloc[0]
    assert (row.checkout_id, row.plan, row.deployment, row.country, row.device) == \
        ("k22", "ultimate", "self_managed", "US", "mobile")
    assert row.payment_failures == 0 and pd.isna(row.payment_error_code)
    assert row.last_step == "checkout_started" and row.last_step_at == row.started_at


def test_shown_rows_are_capped_and_the_csv_holds_them_all(use_published):
    total, newest = data.dropped_off(ALL, 1, limit=2)
    expected = sorted(k for k, reached in _expected_reached().items() if reached == 1)
    assert total == len(expected) > 2 and len(newest) == 2
    every = pd.read_csv(io.BytesIO(data.dropped_off_csv(ALL, 1)))
    assert list(every.columns) == data.DROPPED_OFF_COLUMNS and sorted(every.checkout_id) == expected
    assert list(every.checkout_id[:2]) == list(newest.checkout_id)
    # ids only: no e-mail column, no value that looks like an address (the kit's k20 carried one)
    assert not any("email" in c for c in every.columns)
    assert not every.astype(str).apply(lambda col: col.str.contains("@")).any().any()


@pytest.mark.parametrize("step", [0, 6])
def test_a_step_without_a_next_one_is_refused(use_published, step):
    with pytest.raises(ValueError, match="pick a step from 1 to 5"):
        data.dropped_off(ALL, step)


def test_the_drop_off_page_lists_them_with_a_download(use_published):
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    at.switch_page("app_pages/dropoff.py").run()
    at.date_input(key="dropoff_dates").set_value((ALL.start, ALL.end)).run()
    at.selectbox(key="dropoff_step").set_value(3).run()
    assert not at.exception, [e.message for e in at.exception]
    listed = next(df.value for df in at.dataframe if "payment_error_code" in df.value.columns)
    assert list(listed.checkout_id) == ["k24", "k20", "k02"]
    assert any(c.value.startswith("3 checkouts reached step 3 and not step 4") for c in at.caption)
