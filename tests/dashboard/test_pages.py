"""Every page under Streamlit's AppTest, on the conformance kit published by the real pipeline: no
exception, and the numbers shown are the marts' numbers (the conformance kit's figures where they apply)."""

from __future__ import annotations

import csv
import datetime as dt

import duckdb
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from dashboards import kpis
from tests.dashboard.conftest import APP, ROOT, march_on_track

EXPECTED = ROOT / "tests" / "fixtures" / "conformance" / "expected"

PAGES = ["app_pages/overview.py", "app_pages/funnel.py", "app_pages/dropoff.py",
         "app_pages/intervention.py", "app_pages/health.py", "app_pages/sql.py"]


def _read(path, sql) -> pd.DataFrame:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql).df()
    finally:
        con.close()


def _last_run(path) -> pd.Series:
    return _read(path, "SELECT * FROM audit.pipeline_runs ORDER BY started_at DESC LIMIT 1").iloc[0]


def _app(page: str | None = None) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    if page:
        at.switch_page(page).run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _frame(at: AppTest, required: set[str]) -> pd.DataFrame:
    for df in at.dataframe:
        if required <= set(df.value.columns):
            return df.value
    raise AssertionError(f"no table with columns {required}")


def _set_dates(at: AppTest, start: dt.date, end: dt.date) -> None:
    at.date_input[0].set_value((start, end)).run()
    assert not at.exception, [e.message for e in at.exception]


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_with_status_line(use_published, page):
    at = _app(page)
    text = " ".join(c.value for c in at.caption)
    assert "Data as of 2026-04-03 10:00 UTC" in text  # the kit's newest event
    finished = _last_run(use_published).finished_at
    assert f"pipeline last ran {finished:%Y-%m-%d %H:%M} UTC (success)" in text


def test_overview_monthly_cards_are_the_conformance_figures(use_published):
    at = _app()
    at.radio(key="overview_grain").set_value("month").run()
    m = _metrics(at)
    # latest complete monthly cohort is February 2026 (1 checkout, not converted)
    assert m["Checkout conversion"] == "0.0%"
    assert m["First-order conversion"] == "0.0%"
    assert m["Median time to convert"] == "—"
    # latest closed month is March 2026: kpi_monthly.csv
    assert m["Self-service share of first orders"] == "90.0%"
    assert m["Manual-intervention rate"] == "9.1%"
    assert m["First orders"] == "10"
    captions = " ".join(c.value for c in at.caption)
    assert "March 2026 · closed period" in captions and "February 2026 · complete cohort" in captions
    for on_track in march_on_track(use_published).values():
        assert (":green[**on track**]" if on_track else ":red[**off track**]") in captions


def test_overview_cards_equal_marts_for_both_grains(use_published):
    at = _app()
    for grain, table in (("week", "kpi_weekly"), ("month", "kpi_monthly")):
        at.radio(key="overview_grain").set_value(grain).run()
        df = _read(use_published, f"SELECT * FROM marts.{table} ORDER BY period_start")
        df["period_start"] = pd.to_datetime(df.period_start).dt.date
        targets = _read(use_published, "SELECT * FROM marts.kpi_targets")
        m = _metrics(at)
        for k in kpis.KPIS:
            card = kpis.build_card(df, k, grain, targets)
            assert m[k.label] == k.format(card.value), (grain, k.name)
        # weekly: cohort-dated cards use 2026-02-23 (complete), order cards 2026-03-23 (closed, empty)
        if grain == "week":
            assert "week 9 of 2026 (from 2026-02-23) · complete cohort" in " ".join(c.value for c in at.caption)
            assert m["First orders"] == "0" and m["Self-service share of first orders"] == "—"


def test_funnel_whole_range_equals_funnel_steps(use_published):
    at = _app("app_pages/funnel.py")
    _set_dates(at, dt.date(2026, 2, 1), dt.date(2026, 3, 31))
    steps = _frame(at, {"step_name", "checkouts", "from_start"})
    expected = _read(use_published, """SELECT step_number, sum(checkouts) AS checkouts FROM marts.funnel_steps
                                        WHERE grain = 'month' GROUP BY 1 ORDER BY 1""")
    assert steps.checkouts.tolist() == expected.checkouts.astype(int).tolist() == [22, 17, 16, 13, 12, 10]
    assert steps.from_start.iloc[-1] == pytest.approx(10 / 22)
    assert steps.from_previous_step.iloc[3] == pytest.approx(13 / 16)
    assert steps.drop_off.tolist() == [0, 5, 1, 3, 1, 2]
    # incomplete cohorts are flagged
    assert any("Incomplete cohorts" in w.value for w in at.warning)
    # conversion by month cohort = kpi_monthly
    at.radio(key="funnel_cohort_grain").set_value("month").run()
    by = _frame(at, {"period_start", "checkouts_started", "rate", "ci_low", "cohort_complete"})
    monthly = _read(use_published, "SELECT * FROM marts.kpi_monthly WHERE checkouts_started > 0 ORDER BY 1")
    assert by.checkouts_started.tolist() == monthly.checkouts_started.tolist()
    assert by.rate.tolist() == pytest.approx(monthly.checkout_conversion_rate.tolist())
    assert by.cohort_complete.tolist() == monthly.cohort_complete.tolist()
    assert (by.ci_low <= by.rate).all() and (by.rate <= by.ci_high).all()
    # time to convert: exact quantiles of fct_checkouts
    q = _read(use_published, """SELECT quantile_cont(hours_to_convert, 0.5) AS m, quantile_cont(hours_to_convert, 0.9) AS p90
                                 FROM marts.fct_checkouts WHERE converted""")
    m = _metrics(at)
    assert m["Converted checkouts"] == "10"
    assert m["Median"] == kpis.format_value(q.m[0], "hours")
    assert m["90th percentile"] == kpis.format_value(q.p90[0], "hours")


def test_funnel_filters_and_breakdown(use_published):
    at = _app("app_pages/funnel.py")
    _set_dates(at, dt.date(2026, 2, 1), dt.date(2026, 3, 31))
    at.selectbox(key="breakdown_dim").set_value("customer_type").run()
    bd = _frame(at, {"segment", "rate", "ci_low", "ci_high", "verdict"}).set_index("segment")
    assert bd.loc["new", "checkouts_started"] == 1 + 19 and bd.loc["new", "reached"] == 9  # kpi_monthly Feb + Mar
    assert bd.loc["returning", "checkouts_started"] == 2  # k10, k19
    assert set(bd.verdict) == {"too few to tell"}  # the spec's minimum sample
    at.multiselect(key="funnel_device").set_value(["mobile"]).run()
    steps = _frame(at, {"step_name", "checkouts"})
    assert steps.checkouts.tolist() == [1, 0, 0, 0, 0, 0]  # k22
    # previous period side by side: 59 days before February 1st hold only c10's pre-checkout order: 0 checkouts
    assert steps.previous_period_checkouts.tolist() == [0] * 6


def test_dropoff_page(use_published):
    at = _app("app_pages/dropoff.py")
    _set_dates(at, dt.date(2026, 2, 1), dt.date(2026, 3, 31))
    at.selectbox(key="dropoff_step").set_value(3).run()
    m = _metrics(at)
    assert m["Stopped after this step"] == "3"  # k02, k20, k24 (fct_checkouts.csv reached_step 3)
    assert m["With a payment_failed event"] == "3"
    assert m["Share of checkouts started"] == f"{3 / 22:.1%}"
    codes = _frame(at, {"error_code", "checkouts", "failures"}).set_index("error_code")
    assert codes.checkouts.to_dict() == {"card_declined": 1, "expired_card": 1, "insufficient_funds": 1}
    assert codes.loc["insufficient_funds", "failures"] == 2
    at.selectbox(key="dropoff_step").set_value(1).run()
    assert _metrics(at)["Stopped after this step"] == "5"  # k04 k17 k18 k19 k22


def test_intervention_page(use_published):
    at = _app("app_pages/intervention.py")
    rates = _frame(at, {"manual_intervention_rate", "first_order_manual_intervention_rate"})
    weekly = _read(use_published, "SELECT * FROM marts.kpi_weekly ORDER BY period_start")
    assert rates.manual_intervention_orders.tolist() == weekly.manual_intervention_orders.tolist()
    pd.testing.assert_series_equal(rates.manual_intervention_rate.reset_index(drop=True),
                                   weekly.manual_intervention_rate, check_names=False)
    reasons = _frame(at, {"intervention_reason", "intervention_orders"})
    assert reasons.set_index("intervention_reason").intervention_orders.to_dict() == {"tax_exemption": 1}
    latest = _frame(at, {"order_id", "checkout_id", "intervention_reason"})
    assert latest.order_id.tolist() == ["o16"]  # o13 is sales-assisted: not self-service
    assert "customer_id" not in latest.columns
    by_plan = _frame(at, {"plan", "rate", "ci_low"}).set_index("plan")
    orders = _read(use_published, """SELECT plan, count(*) AS self_service_orders,
                                            count(*) FILTER (manual_intervention) AS intervention_orders
                                     FROM marts.fct_orders WHERE is_self_service GROUP BY 1""").set_index("plan")
    for plan, row in orders.iterrows():
        assert by_plan.loc[plan, "rate"] == pytest.approx(row.intervention_orders / row.self_service_orders), plan
    assert by_plan.intervention_orders.sum() == 1  # o16
    assert by_plan.self_service_orders.sum() == weekly.self_service_orders.sum() == 13


def test_health_page(writable_copy, monkeypatch):
    # hand-made check results of the last run: one failing warning, one passing error-level check
    run_id = _last_run(writable_copy).run_id
    with duckdb.connect(str(writable_copy)) as con:
        con.execute("DELETE FROM audit.check_results")
        con.execute("INSERT INTO audit.check_results BY NAME SELECT * FROM (VALUES "
                    "('checkouts_without_start', 'raw/checkout_events', 'warn', false, '1', '0', $1, now()), "
                    "('kpi_rates_between_0_and_1', 'marts/kpi_daily', 'error', true, '0', '0', $1, now())) "
                    "t(check_name, asset, severity, passed, observed_value, expected, run_id, checked_at)", [run_id])
    monkeypatch.setenv("FUNNEL_PUBLISHED", str(writable_copy))
    at = _app("app_pages/health.py")
    m = _metrics(at)
    last = _last_run(writable_copy)
    assert m["Status"] == last.status == "success"
    assert m["Files loaded / rejected"] == f"{last.files_loaded} / {last.files_rejected}"
    assert last.files_rejected == 3  # load_ledger-with-bad-rows.csv
    assert m["Checks failing"] == "1 of 2"
    rejected = _frame(at, {"reason", "rows_rejected", "files"})
    with (EXPECTED / "rejected_rows-with-bad-rows.csv").open() as f:
        assert rejected.rows_rejected.sum() == len(list(csv.DictReader(f))) == 26
    ledger = _frame(at, {"file_path", "status", "rows_loaded"})
    assert len(ledger) == len(_read(writable_copy, "SELECT * FROM audit.load_ledger"))
    # first on the page: the 3 files the kit's landing has rejected whole (load_ledger-with-bad-rows.csv)
    assert at.subheader[0].value == "Files that need attention"
    attention = _frame(at, {"file_path", "attention", "when"})
    assert sorted(attention.file_path) == sorted(ledger[ledger.status == "rejected"].file_path)
    assert set(attention.attention) == {"rejected"}


def test_health_page_without_check_results(published_without_checks, monkeypatch):
    monkeypatch.setenv("FUNNEL_PUBLISHED", str(published_without_checks))
    at = _app("app_pages/health.py")
    assert any("No check results" in i.value for i in at.info)


def test_sql_page_runs_and_refuses(use_published):
    at = _app("app_pages/sql.py")
    assert any("marts.kpi_weekly" in str(sb.options) for sb in at.selectbox)
    at.text_area(key="sql_text").set_value("SELECT period_start, first_orders FROM marts.kpi_monthly ORDER BY 1").run()
    at.button(key="sql_run").click().run()
    assert not at.exception
    result = at.dataframe[-1].value
    assert result.first_orders.tolist() == [1, 0, 10, 2]  # kpi_monthly.csv first_orders
    at.text_area(key="sql_text").set_value("DROP TABLE marts.kpi_monthly").run()
    at.button(key="sql_run").click().run()
    assert any("Refused" in e.value for e in at.error)
    at.selectbox(key="sql_example").set_value("Top payment error codes").run()
    assert "dash_payment_failures" in at.text_area(key="sql_text").value


def test_no_published_copy_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("FUNNEL_PUBLISHED", str(tmp_path / "missing.published.duckdb"))
    at = AppTest.from_file(str(APP), default_timeout=30).run()
    assert not at.exception
    assert any("No published warehouse" in e.value for e in at.error)


def test_funnel_time_between_steps_reads_in_minutes_for_all_checkouts(use_published):
    """The segment choice opens on all checkouts (not an empty "Choose an option"), and the table shows
    minutes: steps follow each other within minutes, which hours showed as 0.02."""
    from dashboards import data

    at = _app("app_pages/funnel.py")
    _set_dates(at, dt.date(2026, 2, 1), dt.date(2026, 3, 31))
    assert at.selectbox(key="between_segment").value == "all"
    shown = _frame(at, {"period_start", "segment"})
    assert set(shown.segment) == {"all"}
    hours = data.time_between_steps(data.Filters(dt.date(2026, 2, 1), dt.date(2026, 3, 31)), "week", None, 30 * 24)
    first = hours[hours.from_step == 1].set_index("period_start").median_hours.dropna()
    assert len(first) > 0
    minutes = shown.set_index("period_start")["1 → 2 median (min)"]
    for period, value in first.items():
        assert minutes.loc[period] == pytest.approx(value * 60)
