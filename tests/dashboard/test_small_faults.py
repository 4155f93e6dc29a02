"""Small faults seen in the dashboard, each fixed once in a shared builder: count axes tick at whole
numbers, empty cells read "—" (not "None"); and the segments and the conversion window read from
their one home (pipelines/core/dimensions.py, pipelines/core/settings.py)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import duckdb
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from dashboards import charts, data, kpis
from pipelines.core import dimensions
from tests.dashboard.conftest import APP

SMALL = [1, 3]  # Plotly's own ticks here: 0, 0.5, 1, ... 3 (half a checkout)
LARGE = [120, 4_000]


def _steps(counts: list[int]) -> pd.DataFrame:
    return kpis.funnel_table(dict(zip("abc", counts, strict=False)),
                             [(1, "checkout_started", "a"), (2, "order_placed", "b")])


def _count_axes(counts: list[int]) -> dict[str, object]:
    """Each builder that draws counts, with `counts`: the layout of its count axis."""
    cats = pd.DataFrame({"step": ["a", "b"], "n": counts, "source": ["x", "y"]})
    weekly = pd.DataFrame({"week": pd.to_datetime(["2026-02-02", "2026-02-09"]), "n": counts})
    trend = pd.DataFrame({"period_start": [dt.date(2026, 2, 2), dt.date(2026, 2, 9)], "first_orders": counts})
    return {
        "bars": charts.bars(cats, "step", "n", "t", "Step", "Checkouts").layout.yaxis,
        "horizontal bars": charts.bars(cats, "step", "n", "t", "Step", "Checkouts", horizontal=True).layout.xaxis,
        "stacked bars": charts.bars(cats, "step", "n", "t", "Step", "Rows", color="source").layout.xaxis,
        "period bars": charts.period_bars(weekly, "week", "n", "t", "Week", "Checkouts", "week",
                                          pd.Series([False, False])).layout.yaxis,
        "pareto": charts.pareto(cats, "step", "n", "t", "Step", "Checkouts").layout.yaxis,
        "count trend": charts.kpi_trend(trend, "first_orders", "First orders", "count", "week",
                                        pd.Series([True, True])).layout.yaxis,
        "funnel": charts.funnel(_steps(counts), "Funnel", "cohorts").layout.xaxis,
    }


def test_small_counts_tick_at_every_whole_number():
    for chart, axis in _count_axes(SMALL).items():
        assert (axis.tick0, axis.dtick) == (0, 1), chart


def test_large_counts_keep_plotly_s_whole_steps_and_rates_their_percent_ticks():
    for chart, axis in _count_axes(LARGE).items():
        assert axis.dtick is None, chart
    rates = pd.DataFrame({"plan": ["a", "b"], "rate": [0.2, 0.4], "ci_low": [0.1, 0.3], "ci_high": [0.3, 0.5]})
    fig = charts.rate_by_segment(rates, "plan", "Rate by plan", "Plan")
    assert fig.layout.yaxis.dtick is None and fig.layout.yaxis.tickformat == ".0%"


@pytest.mark.parametrize("page", ["app_pages/health.py", "app_pages/intervention.py", "app_pages/dropoff.py"])
def test_every_table_shows_an_empty_cell_as_a_dash(use_published, page):
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    at.switch_page(page).run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.dataframe and {df.proto.placeholder for df in at.dataframe} == {kpis.MISSING}


def test_the_health_page_s_tables_have_empty_cells(use_published):
    # what the test above guards: the kit's ledger and runs have missing reasons and messages
    with duckdb.connect(str(use_published), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM audit.load_ledger WHERE reason IS NULL").fetchone()[0] > 0


def test_the_funnel_filters_are_the_registry_s_segments():
    fields = [f.name for f in dataclasses.fields(data.Filters)]
    assert fields == ["start", "end", *(d.name for d in dimensions.SEGMENTS)]
    assert data.SEGMENT_LABELS["customer_type"] == dimensions.DIMENSION_BY_NAME["customer_type"].label


def test_segment_values_come_from_the_registry_s_expressions(use_published):
    values = data.dimension_values()
    assert values["customer_type"] == ["new", "returning"]
    with duckdb.connect(str(use_published), read_only=True) as con:
        plans = sorted(r[0] for r in con.execute("SELECT DISTINCT plan FROM marts.dash_funnel_daily").fetchall())
    assert values["plan"] == plans


def test_new_customers_only_on_the_dropoff_page_filters_every_figure(use_published):
    """The filter used to fail the page (dash_payment_failures had no new vs returning); now its error
    codes are split too. Step 3 of the kit: k02 (insufficient_funds), k20 (card_declined), k24
    (expired_card), all new customers: each code one checkout for new customers, none for returning."""
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    at.switch_page("app_pages/dropoff.py").run()
    at.date_input[0].set_value((dt.date(2026, 2, 1), dt.date(2026, 3, 31))).run()
    at.selectbox(key="dropoff_step").set_value(3).run()
    at.multiselect(key="dropoff_customer_type").set_value(["new"]).run()
    assert not at.exception, [e.message for e in at.exception]
    with duckdb.connect(str(use_published), read_only=True) as con:
        new = con.execute("SELECT coalesce(sum(checkouts), 0) FROM marts.dash_dropoffs WHERE stopped_at_step = 3 "
                          "AND is_new_customer AND cohort_date BETWEEN '2026-02-01' AND '2026-03-31'").fetchone()[0]
    assert {m.label: m.value for m in at.metric}["Stopped after this step"] == f"{new:,}"
    period = (dt.date(2026, 2, 1), dt.date(2026, 3, 31))
    codes = data.payment_failures(data.Filters(*period, customer_type=("new",)), 3)
    assert dict(zip(codes.error_code, codes.checkouts, strict=True)) == {
        "card_declined": 1, "expired_card": 1, "insufficient_funds": 1}
    assert data.payment_failures(data.Filters(*period, customer_type=("returning",)), 3).empty


def test_without_a_built_window_the_status_reads_the_setting(writable_copy, monkeypatch):
    with duckdb.connect(str(writable_copy)) as con:
        con.execute("DELETE FROM marts.warehouse_as_of")
    monkeypatch.setenv("FUNNEL_PUBLISHED", str(writable_copy))
    monkeypatch.setenv("FUNNEL_CONVERSION_WINDOW_DAYS", "7")
    assert data.status().conversion_window_days == 7
