"""What a new user tripped on in the dashboard's first cut (issue #15, problems 1-5), views kept in the
URL, and annotations: the pure builders' values, and the pages under AppTest on the conformance kit."""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from dashboards import charts, kpis, ui
from pipelines.core.kpis import KPI_BY_NAME, format_value
from pipelines.core.sql_guard import ALLOWED_TEXT, QueryRefused, run_readonly_query
from tests.dashboard.conftest import APP, ROOT

PAGES = ROOT / "dashboards" / "app_pages"
MEDIAN = KPI_BY_NAME["median_hours_to_convert"]
CONVERSION = KPI_BY_NAME["checkout_conversion_rate"]
ANNOTATIONS = pd.DataFrame({"date": [dt.date(2026, 2, 16), dt.date(2025, 1, 1)],
                            "label": ["pricing page v2", "before the data"], "note": ["new layout", ""]})


# ------------------------------------------------------------------------------------- 1. the cards

@pytest.mark.parametrize(("hours", "shown"), [(0.15, "9 min"), (0.004, "0 min"), (0.999, "1.0 h"),
                                              (5.25, "5.2 h"), (50.0, "2.1 days")])
def test_small_durations_read_in_minutes(hours, shown):
    assert format_value(hours, "hours") == shown


def test_a_change_that_rounds_to_zero_has_no_arrow_nor_colour():
    for delta, kpi in ((0.0004, CONVERSION), (-0.0004, CONVERSION), (0.004, MEDIAN), (-0.004, MEDIAN)):
        assert kpis.card_delta(delta, kpi) == kpis.Delta("no change", "off", "off"), (delta, kpi.name)
    assert kpis.card_delta(0.012, CONVERSION) == kpis.Delta("+1.2 pp", "normal", "auto")
    # lower is better for time to convert: a rise is red (inverse); 9 minutes read as minutes
    assert kpis.card_delta(0.15, MEDIAN) == kpis.Delta("+9 min", "inverse", "auto")
    assert kpis.card_delta(-1.5, MEDIAN) == kpis.Delta("-1.5 h", "inverse", "auto")
    assert kpis.card_delta(None, MEDIAN).text is None


def test_the_card_help_is_the_registry_s_definition():
    for kpi in kpis.KPIS:
        help_text = kpis.card_help(kpi)
        assert help_text.startswith(kpi.definition)
        assert kpi.name not in help_text
    assert "Lower is better" in kpis.card_help(MEDIAN) and "complete cohort" in kpis.card_help(MEDIAN)
    assert "closed period" in kpis.card_help(KPI_BY_NAME["first_orders"])


# ------------------------------------------------------------------------- 2. dates, partial periods

def test_default_dates_end_at_the_last_complete_cohort():
    lo, hi = dt.date(2026, 1, 1), dt.date(2026, 4, 3)
    assert ui.default_dates(lo, hi, dt.date(2026, 3, 4)) == (dt.date(2026, 2, 4), dt.date(2026, 3, 3))
    assert ui.default_dates(lo, hi, None) == (dt.date(2026, 3, 7), hi)  # every cohort complete
    assert ui.default_dates(lo, hi, lo) == (dt.date(2026, 3, 7), hi)  # none complete: the latest days
    assert ui.default_dates(dt.date(2026, 2, 20), hi, dt.date(2026, 3, 4))[0] == dt.date(2026, 2, 20)


def test_partial_periods_are_those_with_days_outside_the_range():
    weeks = pd.Series([dt.date(2026, 2, 2), dt.date(2026, 2, 9), dt.date(2026, 2, 23)])
    # from Wednesday 2026-02-04: its week is partial; the week of 2026-02-23 ends on Sunday 2026-03-01,
    # after the range's end
    assert kpis.partial_periods(weeks, "week", dt.date(2026, 2, 4), dt.date(2026, 2, 28)).tolist() == [True, False, True]
    months = pd.Series([dt.date(2026, 1, 1), dt.date(2026, 2, 1)])
    assert kpis.partial_periods(months, "month", dt.date(2026, 1, 1), dt.date(2026, 2, 27)).tolist() == [False, True]
    assert not kpis.partial_periods(months, "day", dt.date(2026, 1, 1), dt.date(2026, 2, 1)).any()


def test_partial_weeks_are_hatched_and_named_and_ticks_fall_on_mondays():
    weekly = pd.DataFrame({"week": pd.to_datetime(["2026-02-02", "2026-02-09", "2026-02-16"]), "n": [176, 490, 480]})
    fig = charts.period_bars(weekly, "week", "n", "t", "Week", "Checkouts", "week",
                             pd.Series([True, False, False]), ANNOTATIONS)
    names = [t.name for t in fig.data]
    assert names == ["whole week", "partial week (not all its days selected)"]
    assert list(fig.data[1].y) == [176] and fig.data[1].marker.pattern.shape == "/"
    assert pd.Timestamp(fig.layout.xaxis.tick0).weekday() == 0  # Monday
    assert fig.layout.xaxis.dtick % charts.WEEK_MS == 0


def test_values_not_final_are_hollow_with_a_dotted_line():
    df = pd.DataFrame({"period_start": pd.date_range("2026-01-05", periods=4, freq="W-MON").date,
                       "first_orders": [490, 500, 480, 176]})
    fig = charts.kpi_trend(df, "first_orders", "First orders", "count", "week", pd.Series([True, True, True, False]))
    dotted = [t for t in fig.data if t.mode == "lines" and t.line.dash == "dot"]
    assert len(dotted) == 1 and list(pd.Series(dotted[0].y).dropna()) == [480, 176]
    hollow = next(t for t in fig.data if t.name == "not final yet (can still change)")
    assert list(hollow.y) == [176] and hollow.marker.color == "white"


# -------------------------------------------------------------------------------------- 3. layout

def test_the_legend_has_its_own_row_above_the_plot_clear_of_the_x_axis_title():
    df = pd.DataFrame({"period_start": pd.date_range("2026-01-05", periods=6, freq="W-MON").date,
                       "median_hours_to_convert": [0.2, 0.3, 0.1, 0.2, 0.25, 0.3]})
    fig = charts.kpi_trend(df, "median_hours_to_convert", "Median time to convert", "hours", "week",
                           pd.Series([True] * 5 + [False]), target=2.0)
    assert fig.layout.legend.y == 1 and fig.layout.legend.yanchor == "bottom"  # above the plot area
    assert fig.layout.xaxis.title.text == "Week starting"
    # title row + legend row above the plot; a y title short enough for a 300 px chart
    assert fig.layout.margin.t >= charts.TITLE_ROW + charts.LEGEND_ROW
    assert fig.layout.yaxis.title.text == "Hours"


def test_bar_labels_sit_inside_clear_of_the_error_bars():
    df = pd.DataFrame({"plan": ["premium", "ultimate"], "rate": [0.4, 0.5], "ci_low": [0.3, 0.45], "ci_high": [0.5, 0.55]})
    bar = charts.rate_by_segment(df, "plan", "Rate by plan", "Plan").data[0]
    assert bar.textposition == "inside" and bar.insidetextanchor == "start"


def test_the_funnel_title_is_short_and_the_period_a_subtitle():
    table = kpis.funnel_table({"a": 10, "b": 5}, [(1, "checkout_started", "a"), (2, "order_placed", "b")])
    fig = charts.funnel(table, "Previous period", "cohorts 2026-01-07 to 2026-02-03")
    assert fig.layout.title.text == "Previous period"
    assert fig.layout.title.subtitle.text == "cohorts 2026-01-07 to 2026-02-03 · count · % of start"


def test_pareto_ticks_at_round_percentages_and_legend_above():
    df = pd.DataFrame({"reason": ["a", "b", "c"], "n": [10, 4, 3]})
    fig = charts.pareto(df, "reason", "n", "Reasons (Pareto)", "Reason", "Checkouts")
    assert list(fig.layout.yaxis2.tickvals) == [0, 0.25, 0.5, 0.75, 1.0]
    assert fig.layout.yaxis.title.text == "Checkouts" and fig.data[0].name == "checkouts"
    assert fig.layout.legend.y == 1 and fig.layout.legend.yanchor == "bottom"


def test_long_reasons_read_on_two_lines_at_most_whole_on_hover():
    reason = ("event_name cart_viewed is not one of checkout_started, subscription_details_completed, "
              "billing_address_completed, payment_method_completed")
    df = pd.DataFrame({"reason": [reason, "invalid JSON"], "rows_rejected": [1, 2], "source": ["checkout_events"] * 2})
    bar = charts.bars(df, "reason", "rows_rejected", "Rejected rows by reason", "Reason", "Rows rejected",
                      color="source").data[0]
    assert bar.orientation == "h"
    assert list(bar.y) == ["event_name cart_viewed is not one of<br>checkout_started,…", "invalid JSON"]
    assert list(bar.customdata) == [reason, "invalid JSON"]


def test_tables_have_human_headers_and_thousands_separators():
    df = pd.DataFrame({"checkouts_started": [10992], "order_id": ["o1"], "step_number": [1], "rate": [0.5],
                       "ci_low": [0.4]})
    config = ui.table_columns(df, ui.percent_columns("rate", "ci_low"))
    assert {c: v["label"] for c, v in config.items()} == {
        "checkouts_started": "Checkouts started", "order_id": "Order ID", "step_number": "Step number",
        "rate": "Rate", "ci_low": "95% interval, low"}
    assert config["checkouts_started"]["type_config"]["format"] == "localized"
    assert "type_config" not in config["step_number"] or config["step_number"]["type_config"].get("format") != "localized"
    assert config["rate"]["type_config"]["format"] == "percent"


def test_charts_are_drawn_without_plotly_s_toolbar():
    assert ui.PLOTLY_CONFIG == {"displayModeBar": False}


# --------------------------------------------------------------------------------- annotations

def test_annotations_in_the_chart_s_span_are_drawn_with_their_label():
    df = pd.DataFrame({"period_start": pd.date_range("2026-02-02", periods=4, freq="W-MON").date,
                       "rate": [0.4, 0.5, 0.45, 0.5], "ci_low": [0.3] * 4, "ci_high": [0.6] * 4})
    for fig in (charts.kpi_trend(df, "rate", "Checkout conversion", "rate", "week", pd.Series([True] * 4),
                                 annotations=ANNOTATIONS),
                charts.cohort_conversion(df, "week", pd.Series([True] * 4), annotations=ANNOTATIONS),
                charts.rates_over_time(df, {"rate": "rate"}, "t", "Week", "week", pd.Series([True] * 4), ANNOTATIONS)):
        labels = [a.text for a in fig.layout.annotations if a.text == "pricing page v2"]
        assert labels == ["pricing page v2"]  # 2025-01-01 is outside the chart: not drawn
        lines = [s for s in fig.layout.shapes if s.line.dash == "dot"]
        assert len(lines) == 1 and pd.Timestamp(lines[0].x0) == pd.Timestamp("2026-02-16")
        hover = next(a.hovertext for a in fig.layout.annotations if a.text == "pricing page v2")
        assert hover == "2026-02-16: new layout"


# ------------------------------------------------------------------------------------ 5. SQL guard

def test_refusals_list_pragma_and_say_refused_once(published):
    with pytest.raises(QueryRefused) as refused:
        run_readonly_query(published, "DROP TABLE marts.kpi_weekly", 10, 10)
    message = str(refused.value)
    assert "PRAGMA" in ALLOWED_TEXT and ALLOWED_TEXT in message
    assert message.lower().count("refused") == 1
    assert ui.sentence(message).startswith("Refused: DROP statements")


def test_show_tables_lists_the_public_tables(published):
    table, _ = run_readonly_query(published, "SHOW TABLES", 1000, 10)
    names = set(table.column("name").to_pylist())
    assert {"kpi_weekly", "fct_checkouts", "annotations", "load_ledger", "check_results"} <= names
    table, _ = run_readonly_query(published, "SELECT count(*) AS n FROM kpi_weekly", 10, 10)
    with duckdb.connect(str(published), read_only=True) as con:
        assert table.column("n").to_pylist() == [con.execute("SELECT count(*) FROM marts.kpi_weekly").fetchone()[0]]


def test_every_public_column_is_described(published):
    """The schema browser's descriptions: the dbt YAML's for the marts and the dbt sources, the
    contract's AUDIT_DESCRIPTIONS for the other audit tables; none missing, none of a column that
    is not there."""
    with duckdb.connect(str(published), read_only=True) as con:
        missing = con.execute("""
            SELECT c.table_schema || '.' || c.table_name || '.' || c.column_name
            FROM information_schema.columns c LEFT JOIN meta.column_descriptions d USING (table_schema, table_name, column_name)
            WHERE c.table_schema IN ('marts', 'audit') AND coalesce(d.description, '') = '' ORDER BY 1""").fetchall()
        stray = con.execute("""
            SELECT d.table_name || '.' || d.column_name FROM meta.column_descriptions d
            LEFT JOIN information_schema.columns c USING (table_schema, table_name, column_name)
            WHERE d.table_schema = 'audit' AND d.column_name IS NOT NULL AND c.column_name IS NULL""").fetchall()
    assert missing == [] and stray == []


# ------------------------------------------------------------------------------- pages (AppTest)

def _page(path: str, query: dict | None = None) -> AppTest:
    at = AppTest.from_file(str(PAGES / path), default_timeout=60)
    at.query_params.update(query or {})
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def test_overview_view_round_trips_through_the_url(use_published):
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.query_params["grain"] = "month"
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.radio(key="overview_grain").value == "month"
    at.radio(key="overview_grain").set_value("week").run()
    assert at.query_params["grain"] == "week"
    # an unknown value in a link is ignored: the default view
    assert _page("overview.py", {"grain": "fortnight"}).radio(key="overview_grain").value == "week"


def test_funnel_filters_round_trip_through_the_url(use_published):
    at = _page("funnel.py", {"dates": "2026-02-01,2026-03-31", "device": "mobile", "cohort": "month"})
    assert at.date_input(key="funnel_dates").value == (dt.date(2026, 2, 1), dt.date(2026, 3, 31))
    assert at.multiselect(key="funnel_device").value == ["mobile"]
    steps = next(d.value for d in at.dataframe if "step_name" in d.value.columns)
    assert steps.checkouts.tolist() == [1, 0, 0, 0, 0, 0]  # k22, the kit's one mobile checkout
    # the page writes back what it shows: the link of this view
    assert at.query_params["dates"] == "2026-02-01,2026-03-31"
    assert at.query_params["device"] == "mobile" and at.query_params["cohort"] == "month"
    at.multiselect(key="funnel_device").set_value([]).run()
    assert at.query_params["device"] == ""


def test_funnel_opens_on_complete_cohorts(use_published):
    at = _page("funnel.py")
    start, end = at.date_input(key="funnel_dates").value
    with duckdb.connect(str(use_published), read_only=True) as con:
        first_incomplete, first_cohort = con.execute(
            "SELECT (SELECT min(period_start) FROM marts.kpi_daily WHERE NOT cohort_complete), "
            "(SELECT min(cohort_date) FROM marts.dash_funnel_daily)").fetchone()
    # the kit's cohorts start on 2026-02-28 and are complete up to 2026-03-03
    assert (start, end) == (first_cohort, first_incomplete - dt.timedelta(days=1)) == (dt.date(2026, 2, 28), dt.date(2026, 3, 3))
    assert not any("Incomplete cohorts" in w.value for w in at.warning)


def test_sql_page_opens_on_the_kpis_and_an_empty_run_says_so(use_published):
    at = _page("sql.py")
    assert at.selectbox(key="sql_table").value == "marts.kpi_weekly"
    columns = next(d.value for d in at.dataframe if "description" in d.value.columns)
    assert columns.description.str.len().gt(0).all()  # the dbt YAML's descriptions, none missing
    assert "SELECT" not in at.text_area(key="sql_text").placeholder.split(" (")[0]
    at.button(key="sql_run").click().run()
    assert any("The query box is empty" in w.value for w in at.warning)
    at.text_area(key="sql_text").set_value("DROP TABLE marts.kpi_weekly").run()
    at.button(key="sql_run").click().run()
    errors = [e.value for e in at.error]
    assert any(e.startswith("Refused: DROP statements") for e in errors) and not any("refused: refused" in e.lower() for e in errors)
    assert at.query_params["q"] == "DROP TABLE marts.kpi_weekly"
    at.selectbox(key="sql_table").set_value("audit.check_results").run()
    columns = next(d.value for d in at.dataframe if "description" in d.value.columns)
    assert columns.set_index("column_name").description["severity"].startswith("error (a failure holds")


def test_health_page_lists_failing_checks_first(writable_copy, monkeypatch):
    with duckdb.connect(str(writable_copy)) as con:
        con.execute("DELETE FROM audit.check_results")
        con.execute("INSERT INTO audit.check_results BY NAME SELECT * FROM (VALUES "
                    "('a_passing_check', 'marts/kpi_daily', 'error', true, '0', '0', 'r', TIMESTAMP '2026-04-03 12:00'), "
                    "('a_failing_check', 'raw/orders', 'warn', false, '1', '0', 'r', TIMESTAMP '2026-04-03 11:00')) "
                    "t(check_name, asset, severity, passed, observed_value, expected, run_id, checked_at)")
    monkeypatch.setenv("FUNNEL_PUBLISHED", str(writable_copy))
    at = _page("health.py")
    checks = next(d.value for d in at.dataframe if "check_name" in d.value.columns)
    assert checks.check_name.tolist() == ["a_failing_check", "a_passing_check"]
    assert any("1 data check failing" in e.value for e in at.error)
    assert {m.label for m in at.metric} >= {"Status", "Finished", "Data as of", "Files loaded / rejected",
                                             "Rows loaded / rejected", "Checks failing"}
    assert not [c.value for c in at.caption if c.value.strip() == "published"]
