"""The marts that keep every dashboard query off the fact tables (dash_checkout_steps' hours to
convert, dash_latest_interventions): they give exactly what the pages used to compute from fct_checkouts and
fct_orders, on the page (AppTest) and through dashboards.data, for any filter."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re

import duckdb
import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from dashboards import connections, data, kpis
from tests.dashboard.conftest import APP, ROOT
from tests.dashboard.pipeline_warehouses import INTERVENTION_ORDERS

LATEST_INTERVENTIONS_MODEL = ROOT / "dbt_project" / "models" / "marts" / "dashboard" / "dash_latest_interventions.sql"

HISTOGRAM = """
    SELECT CASE WHEN hours_to_convert < 1 THEN '< 1 h' WHEN hours_to_convert < 6 THEN '1-6 h'
                WHEN hours_to_convert < 24 THEN '6-24 h' WHEN hours_to_convert < 72 THEN '1-3 days'
                WHEN hours_to_convert < 168 THEN '3-7 days' WHEN hours_to_convert < 336 THEN '7-14 days'
                ELSE '14 days or more' END AS bucket,
           min(hours_to_convert) AS lo, count(*) AS checkouts
    FROM marts.fct_checkouts WHERE converted AND {where} GROUP BY 1 ORDER BY lo"""

FILTERS = [
    data.Filters(dt.date(2026, 2, 1), dt.date(2026, 3, 31)),
    data.Filters(dt.date(2026, 3, 4), dt.date(2026, 3, 5)),  # k05 (720 h), k07, k09
    data.Filters(dt.date(2026, 3, 1), dt.date(2026, 3, 31), customer_type=("returning",)),  # k10
    data.Filters(dt.date(2026, 3, 1), dt.date(2026, 3, 31), device=("mobile",)),  # k22: not converted
    data.Filters(dt.date(2026, 3, 16), dt.date(2026, 3, 31), plan=("premium",), country=("DE", "US"),
                 customer_type=("new",)),
    data.Filters(dt.date(2025, 1, 1), dt.date(2025, 12, 31)),  # nothing
]


def _read(path, sql, params=None) -> pd.DataFrame:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql, params or []).df()
    finally:
        con.close()


def _values(v) -> list:
    """A Plotly array from a figure's JSON: a list, or a typed array ({dtype, bdata})."""
    if isinstance(v, dict):
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"])).tolist()
    return list(v)


def _histogram_figure(at: AppTest) -> tuple[list, list]:
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        if spec["layout"]["title"]["text"] == "Time from checkout start to order placed":
            return _values(spec["data"][0]["x"]), _values(spec["data"][0]["y"])
    raise AssertionError("no time-to-convert histogram on the page")


def _exact(path, f: data.Filters) -> tuple[dict, pd.DataFrame]:
    """What the funnel page computed before the mart: exact quantiles over fct_checkouts."""
    where, params = f.where("CAST(started_at AS DATE)")
    stats = _read(path, f"""
        SELECT count(*) AS converted, quantile_cont(hours_to_convert, 0.5) AS median,
               quantile_cont(hours_to_convert, 0.75) AS p75, quantile_cont(hours_to_convert, 0.9) AS p90
        FROM marts.fct_checkouts WHERE converted AND {where}""", params).iloc[0].to_dict()
    hist = _read(path, HISTOGRAM.format(where=where), params)[["bucket", "checkouts"]]
    return stats, hist


@pytest.fixture
def fresh_data(monkeypatch):
    """dashboards.data outside Streamlit: empty caches and no pinned connection before and after."""
    connections.close_connections()
    data.st.cache_data.clear()
    yield data
    connections.close_connections()
    data.st.cache_data.clear()


@pytest.fixture
def without_new_marts(writable_copy, monkeypatch):
    """A published copy from before dash_latest_interventions (the dashboard falls back to fct_orders)."""
    con = duckdb.connect(str(writable_copy))
    con.execute("DROP TABLE marts.dash_latest_interventions")
    con.close()
    return writable_copy


def test_checkout_steps_carry_the_hours_to_convert_of_fct_checkouts(published):
    steps = _read(published, """SELECT checkout_id, cohort_date, reached_step, hours_to_convert
                                FROM marts.dash_checkout_steps ORDER BY checkout_id""")
    facts = _read(published, """SELECT checkout_id, CAST(started_at AS DATE) AS cohort_date, reached_step,
                                       hours_to_convert FROM marts.fct_checkouts ORDER BY checkout_id""")
    assert (steps.reached_step == 6).sum() == steps.hours_to_convert.notna().sum() == 10
    pd.testing.assert_frame_equal(steps, facts)
    labels = _read(published, "SELECT label FROM marts.time_to_convert_buckets ORDER BY hours_bucket").label
    assert labels.tolist() == ["< 1 h", "1-6 h", "6-24 h", "1-3 days", "3-7 days", "7-14 days", "14 days or more"]


def test_time_to_convert_buckets_follow_the_seed(fresh_data, writable_copy, monkeypatch):
    """The histogram's bounds and labels are the seed's rows: edited there, the page follows."""
    con = duckdb.connect(str(writable_copy))
    con.execute("""DELETE FROM marts.time_to_convert_buckets WHERE hours_bucket > 1;
                   UPDATE marts.time_to_convert_buckets SET to_hours = NULL, label = '1 h or more'
                   WHERE hours_bucket = 1""")
    con.close()
    monkeypatch.setenv("FUNNEL_PUBLISHED", str(writable_copy))
    f = FILTERS[1]  # k05 (720 h), k07 (2.67 h), k09 (0.68 h)
    stats, hist = data.time_to_convert(f)
    assert int(stats["converted"]) == 3
    assert hist.bucket.tolist() == ["< 1 h", "1 h or more"] and hist.checkouts.tolist() == [1, 2]


@pytest.mark.parametrize("f", FILTERS, ids=range(len(FILTERS)))
def test_time_to_convert_is_exact_for_any_filter(use_published, fresh_data, f):
    stats, hist = data.time_to_convert(f)
    expected_stats, expected_hist = _exact(use_published, f)
    assert int(stats["converted"]) == int(expected_stats["converted"])
    for key in ("median", "p75", "p90"):
        if pd.isna(expected_stats[key]):
            assert pd.isna(stats[key]), key
        else:
            assert stats[key] == pytest.approx(expected_stats[key], rel=1e-12), key
    pd.testing.assert_frame_equal(hist, expected_hist, check_dtype=False)


def test_latest_interventions_mart_is_the_newest_of_fct_orders(published):
    mart = _read(published, "SELECT * FROM marts.dash_latest_interventions ORDER BY recency_rank")
    facts = _read(published, """
        SELECT order_id, checkout_id, created_at FROM marts.fct_orders
        WHERE is_self_service AND manual_intervention ORDER BY created_at DESC, order_id""")
    assert mart.order_id.tolist() == facts.order_id.tolist() == ["o16"]
    assert mart.recency_rank.tolist() == list(range(1, len(mart) + 1))
    assert "customer_id" not in mart.columns
    # the page's constant matches the model's cap
    cap = re.search(r"recency_rank <= (\d+)", LATEST_INTERVENTIONS_MODEL.read_text())
    assert int(cap.group(1)) == data.LATEST_INTERVENTIONS_KEPT


def test_latest_interventions_ranks_ties_by_order_id_and_caps(pipeline_published):
    """Ties on created_at in byte order of order_id; at most LATEST_INTERVENTIONS_KEPT rows (a warehouse
    of INTERVENTION_ORDERS orders, three to a created_at, built by the pipeline)."""
    published = pipeline_published("interventions")
    mart = _read(published, "SELECT * FROM marts.dash_latest_interventions ORDER BY recency_rank")
    expected = _read(published, f"""SELECT order_id FROM marts.fct_orders WHERE is_self_service AND manual_intervention
                                   ORDER BY created_at DESC, order_id LIMIT {data.LATEST_INTERVENTIONS_KEPT}""")
    facts = _read(published, "SELECT count(*) AS n, count(DISTINCT created_at) AS times FROM marts.fct_orders")
    assert facts.n[0] == INTERVENTION_ORDERS > facts.times[0]  # ties
    assert len(mart) == data.LATEST_INTERVENTIONS_KEPT
    assert mart.order_id.tolist() == expected.order_id.tolist()


@pytest.mark.parametrize("limit", [1, 50, data.LATEST_INTERVENTIONS_KEPT + 1])
def test_latest_intervened_orders_equal_with_and_without_the_mart(published, without_new_marts, fresh_data,
                                                                   monkeypatch, limit):
    monkeypatch.setenv("FUNNEL_PUBLISHED", str(published))
    with_mart = data.latest_intervened_orders(limit)
    monkeypatch.setenv("FUNNEL_PUBLISHED", str(without_new_marts))
    without = data.latest_intervened_orders(limit)
    pd.testing.assert_frame_equal(with_mart, without)
    assert with_mart.order_id.tolist() == ["o16"]


def test_funnel_page_time_to_convert_equals_fct_checkouts(use_published):
    """AppTest: the page's cards and histogram are the exact figures of fct_checkouts, filtered."""
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    at.switch_page("app_pages/funnel.py").run()
    for f in (FILTERS[1], FILTERS[2]):
        at.date_input[0].set_value((f.start, f.end)).run()
        at.multiselect(key="funnel_customer_type").set_value(list(f.customer_type)).run()
        assert not at.exception, [e.message for e in at.exception]
        stats, hist = _exact(use_published, f)
        m = {x.label: x.value for x in at.metric}
        assert m["Converted checkouts"] == f"{int(stats['converted']):,}"
        for label, key in (("Median", "median"), ("75th percentile", "p75"), ("90th percentile", "p90")):
            assert m[label] == kpis.format_value(float(stats[key]), "hours"), (f, label)
        x, y = _histogram_figure(at)
        assert x == hist.bucket.tolist() and y == hist.checkouts.tolist(), f
    # 2026-03-04..05: k05 720 h, k07 2.67 h, k09 0.68 h -> median 2.7 h, one conversion in 14-30 days
    at.date_input[0].set_value((FILTERS[1].start, FILTERS[1].end)).run()
    at.multiselect(key="funnel_customer_type").set_value([]).run()
    m = {x.label: x.value for x in at.metric}
    assert m["Converted checkouts"] == "3" and m["Median"] == "2.7 h"

