"""Read-only, cached queries over the published DuckDB copy (connections: dashboards/connections.py).

Each cached function takes the file's `version` as an argument: after a publish the version changes,
the next page load misses the cache and reads the new copy: no restart needed. While nothing is
published the cache (TTL `CACHE_TTL`) serves repeated page loads.

Nothing here reads raw events or scans a fact table: the pages read pre-aggregated marts
(marts.kpi_*, marts.dash_*), or, for the views over single checkouts (a shorter conversion window,
time between steps, time to convert, who dropped off), marts.dash_checkout_steps, ordered by cohort
day. Only when an older published copy lacks marts.dash_latest_interventions does
`latest_intervened_orders` fall back to fct_orders.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

import pandas as pd
import streamlit as st

from dashboards.connections import current_version, has_table, published_path, query
from pipelines.core import contract
from pipelines.core.dimensions import DIMENSION_BY_NAME, SEGMENTS
from pipelines.core.kpis import KPI_TABLES
from pipelines.core.settings import Settings

CACHE_TTL = "10m"

# The segments a funnel is filtered and broken down by (pipelines/core/dimensions.py): name -> label.
SEGMENT_LABELS = {d.name: d.label for d in SEGMENTS}
# The segments dash_dropoffs and dash_payment_failures keep (not country).
DROPOFF_SEGMENTS = ("plan", "deployment", "device", "customer_type")
# The segments of orders dash_interventions keeps.
INTERVENTION_SEGMENTS = ("plan", "deployment")
STEP_COLUMNS = [
    (1, "checkout_started", "checkouts_started"),
    (2, "subscription_details_completed", "reached_subscription_details"),
    (3, "billing_address_completed", "reached_billing_address"),
    (4, "payment_method_completed", "reached_payment_method"),
    (5, "order_submitted", "reached_order_submitted"),
    (6, "order_placed", "checkouts_converted"),
]


# ---------------------------------------------------------------------------------------------- status

@dataclass(frozen=True)
class Status:
    as_of: dt.datetime | None
    conversion_window_days: int
    last_run: dict | None
    last_success: dict | None


@st.cache_data(ttl=CACHE_TTL, show_spinner=False)
def _status(v) -> Status:
    as_of = query(v[0], "SELECT as_of, conversion_window_days FROM marts.warehouse_as_of LIMIT 1")
    runs = query(v[0], "SELECT * FROM audit.pipeline_runs ORDER BY started_at DESC LIMIT 50")
    last = runs.iloc[0].to_dict() if len(runs) else None
    ok = runs[runs.status == "success"]
    return Status(
        as_of=as_of.as_of.iloc[0].to_pydatetime() if len(as_of) and pd.notna(as_of.as_of.iloc[0]) else None,
        conversion_window_days=(int(as_of.conversion_window_days.iloc[0]) if len(as_of)
                                else Settings.from_env().conversion_window_days),
        last_run=last,
        last_success=ok.iloc[0].to_dict() if len(ok) else None,
    )


def status() -> Status:
    return _status(current_version())


def run_status() -> dict | None:
    """The last run's outcome beside the published copy (`<published stem>.run-status.json`, written by
    the pipeline's job: pipelines/run_status.py), or None before any run wrote it. A failed run leaves
    the published copy as it was, so only this file says the data is not newer. Read at each call."""
    from pipelines.core.run_status import read_status_file, status_path_of_published

    return read_status_file(status_path_of_published(published_path()))


# ------------------------------------------------------------------------------------------ overview

@st.cache_data(ttl=CACHE_TTL, show_spinner=False)
def _kpis(v, grain: str) -> pd.DataFrame:
    df = query(v[0], f"SELECT * FROM marts.{KPI_TABLES[grain]} ORDER BY period_start")
    df["period_start"] = pd.to_datetime(df["period_start"]).dt.date
    df["period_end"] = pd.to_datetime(df["period_end"]).dt.date
    return df


def kpis(grain: str) -> pd.DataFrame:
    return _kpis(current_version(), grain)


@st.cache_data(ttl=CACHE_TTL, show_spinner=False)
def _first_incomplete_cohort_day(v) -> dt.date | None:
    day = query(v[0], "SELECT min(period_start) AS d FROM marts.kpi_daily WHERE NOT cohort_complete").d[0]
    return None if pd.isna(day) else pd.Timestamp(day).date()


def first_incomplete_cohort_day() -> dt.date | None:
    """The first day whose cohort is not complete (kpi_daily.cohort_complete; later days are not either)."""
    if not has_table("marts", "kpi_daily"):
        return None
    return _first_incomplete_cohort_day(current_version())


@st.cache_data(ttl=CACHE_TTL, show_spinner=False)
def _targets(v) -> pd.DataFrame:
    return query(v[0], "SELECT kpi_name, grain, CAST(target AS DOUBLE) AS target FROM marts.kpi_targets")


def targets() -> pd.DataFrame:
    if not has_table("marts", "kpi_targets"):
        return pd.DataFrame(columns=["kpi_name", "grain", "target"])
    return _targets(current_version())


@st.cache_data(ttl=CACHE_TTL, show_spinner=False)
def _annotations(v) -> pd.DataFrame:
    df = query(v[0], "SELECT date, label, note FROM marts.annotations ORDER BY date, label")
    df["date"] = pd.to_datetime(df["date"]).dt.date
    return df


def annotations() -> pd.DataFrame:
    """The releases and incidents to mark on trend charts (dbt seed `annotations`: date, label, note);
    empty in a published copy from before the seed."""
    if not has_table("marts", "annotations"):
        return pd.DataFrame({"date": pd.Series(dtype=object), "label": pd.Series(dtype=str),
                             "note": pd.Series(dtype=str)})
    return _annotations(current_version())


# -------------------------------------------------------------------------------------------- funnel

@dataclass(frozen=True)
class Filters:
    """Funnel filters: a field per segment (SEGMENT_LABELS' names, a test holds them equal); an empty
    tuple means "all"."""

    start: dt.date
    end: dt.date  # inclusive
    plan: tuple[str, ...] = ()
    deployment: tuple[str, ...] = ()
    country: tuple[str, ...] = ()
    device: tuple[str, ...] = ()
    customer_type: tuple[str, ...] = ()  # "new", "returning"

    def shifted_back(self) -> Filters:
        """The same filters over the period of equal length just before."""
        days = (self.end - self.start).days + 1
        return replace(self, start=self.start - dt.timedelta(days=days), end=self.start - dt.timedelta(days=1))

    def where(self, date_column: str = "cohort_date", dims: tuple[str, ...] | None = None) -> tuple[str, list]:
        clauses = [f"{date_column} BETWEEN ? AND ?"]
        params: list = [self.start, self.end]
        for dim in dims if dims is not None else SEGMENT_LABELS:
            values = getattr(self, dim)
            if values:
                clauses.append(f"list_contains(?, {_segment_sql(dim)})")
                params.append(list(values))
        return " AND ".join(clauses), params


@st.cache_data(ttl=CACHE_TTL, show_spinner=False)
def _dimension_values(v) -> dict:
    df = query(v[0], " UNION ALL ".join(f"SELECT '{d.name}' AS dim, {d.checkouts} AS value FROM marts.dash_funnel_daily "
                                        "GROUP BY ALL" for d in SEGMENTS) + " ORDER BY 1, 2")
    out = {dim: sorted(g.value.tolist()) for dim, g in df.groupby("dim")}
    bounds = query(v[0], "SELECT min(cohort_date) AS lo, max(cohort_date) AS hi FROM marts.dash_funnel_daily")
    out["cohort_dates"] = (
        (pd.Timestamp(bounds.lo.iloc[0]).date(), pd.Timestamp(bounds.hi.iloc[0]).date())
        if len(bounds) and pd.notna(bounds.lo.iloc[0]) else None
    )
    return out


def dimension_values() -> dict:
    return _dimension_values(current_version())


_STEP_SUMS = ", ".join(f"CAST(coalesce(sum({col}), 0) AS BIGINT) AS {col}" for _, _, col in STEP_COLUMNS)


@st.cache_data(ttl=CACHE_TTL, show_spinner=False)
def _funnel_totals(v, f: Filters) -> dict[str, int]:
    where, params = f.where()
    df = query(v[0], f"SELECT {_STEP_SUMS} FROM marts.dash_funnel_daily WHERE {where}", params)
    return {k: int(val) for k, val in df.iloc[0].items()}


def funnel_totals(f: Filters) -> dict[str, int]:
    return _funnel_totals(current_version(), f)


@st.cache_data(ttl=CACHE_TTL, show_spinner=False)
def _funnel_by_period(v, f: Filters, grain: str) -> pd.DataFrame:
    where, params = f.where()
    # Whether a cohort is complete is the KPI mart's column, never recomputed here.
    df = query(v[0], f"""
        WITH cohorts AS (
            SELECT CAST(date_trunc('{grain}', cohort_date) AS DATE) AS period_start,
                   CAST(sum(checkouts_started) AS BIGINT) AS checkouts_started,
                   CAST(sum(checkouts_converted) AS BIGINT) AS checkouts_converted
            FROM marts.dash_funnel_daily WHERE {where} GROUP BY 1)
        SELECT cohorts.*, coalesce(k.cohort_complete, false) AS cohort_complete
        FROM cohorts LEFT JOIN marts.{KPI_TABLES[grain]} AS k USING (period_start) ORDER BY 1""", params)
    df["period_start"] = pd.to_datetime(df["period_start"]).dt.date
    return df


def funnel_by_period(f: Filters, grain: str) -> pd.DataFrame:
    return _funnel_by_period(current_version(), f, grain)


def _segment_sql(name: str) -> str:
    """A segment's expression over fct_checkouts' columns, which the funnel's marts keep."""
    if name not in SEGMENT_LABELS:
        raise ValueError(name)
    return DIMENSION_BY_NAME[name].checkouts


@st.cache_data(ttl=CACHE_TTL, show_spinner=False)
def _breakdown(v, f: Filters, dimension: str, step_column: str) -> pd.DataFrame:
    if step_column not in {c for _, _, c in STEP_COLUMNS}:
        raise ValueError(step_column)
    where, params = f.where()
    return query(v[0], f"""
        SELECT {_segment_sql(dimension)} AS segment,
               CAST(sum(checkouts_started) AS BIGINT) AS checkouts_started,
               CAST(sum({step_column}) AS BIGINT) AS reached
        FROM marts.dash_funnel_daily WHERE {where} GROUP BY 1 ORDER BY 2 DESC, 1""", params)


def breakdown(f: Filters, dimension: str, step_column: str = "checkouts_converted") -> pd.DataFrame:
    return _breakdown(current_version(), f, dimension, step_column)


@st.cache_data(ttl=CACHE_TTL, show_spinner=False)
def _time_to_convert(v, f: Filters) -> tuple[dict, pd.DataFrame]:
    """Exact median / p75 / p90 (quantile_cont) of hours_to_convert over the selected converted
    checkouts, and their count per histogram bucket, in one pass over the selected cohort days of
    marts.dash_checkout_steps. The buckets and their labels are the dbt seed time_to_convert_buckets:
    a checkout is in a bucket when from_hours <= hours_to_convert < to_hours (no upper bound when
    to_hours is NULL)."""
    buckets = query(v[0], "SELECT hours_bucket, label, from_hours, to_hours FROM marts.time_to_convert_buckets "
                          "ORDER BY hours_bucket")
    bucket_of, bucket_params = _bucket_case(buckets)
    where, params = f.where()
    row = query(v[0], f"""
        SELECT count(*) AS converted, quantile_cont(hours_to_convert, [0.5, 0.75, 0.9]) AS q,
               histogram({bucket_of}) AS per_bucket
        FROM {_CHECKOUTS} WHERE reached_step = 6 AND {where}""", [*bucket_params, *params]).iloc[0]
    converted = int(row.converted)
    q = list(row.q) if converted else [None] * 3  # the aggregates of no rows are NULL
    stats = {"converted": converted, "median": q[0], "p75": q[1], "p90": q[2]}
    per_bucket = dict(row.per_bucket) if converted else {}
    hist = pd.DataFrame({"bucket": buckets.label,
                         "checkouts": [int(per_bucket.get(b, 0)) for b in buckets.hours_bucket]})
    return stats, hist[hist.checkouts > 0].reset_index(drop=True)


def _bucket_case(buckets: pd.DataFrame) -> tuple[str, list]:
    """hours_to_convert's bucket number, as a CASE over the seed's rows (bounds as parameters)."""
    whens, params = [], []
    for b in buckets.itertuples():
        if pd.isna(b.to_hours):
            whens.append("WHEN hours_to_convert >= ? THEN ?")
            params += [b.from_hours, b.hours_bucket]
        else:
            whens.append("WHEN hours_to_convert >= ? AND hours_to_convert < ? THEN ?")
            params += [b.from_hours, b.to_hours, b.hours_bucket]
    return f"CASE {' '.join(whens)} END", params


def time_to_convert(f: Filters) -> tuple[dict, pd.DataFrame]:
    return _time_to_convert(current_version(), f)


# ------------------------------------------------------------------------------------------ drop-off

@st.cache_data(ttl=CACHE_TTL, show_spinner=False)
def _dropoffs(v, f: Filters) -> pd.DataFrame:
    where, params = f.where(dims=DROPOFF_SEGMENTS)
    return query(v[0], f"""
        SELECT cohort_date, stopped_at_step, plan, device,
               CAST(sum(checkouts) AS BIGINT) AS checkouts,
               CAST(sum(checkouts_with_payment_failure) AS BIGINT) AS checkouts_with_payment_failure
        FROM marts.dash_dropoffs WHERE {where} GROUP BY ALL ORDER BY 1, 2""", params)


def dropoffs(f: Filters) -> pd.DataFrame:
    return _dropoffs(current_version(), f)


@st.cache_data(ttl=CACHE_TTL, show_spinner=False)
def _payment_failures(v, f: Filters, stopped_at_step: int) -> pd.DataFrame:
    where, params = f.where(dims=DROPOFF_SEGMENTS)
    return query(v[0], f"""
        SELECT error_code, CAST(sum(checkouts) AS BIGINT) AS checkouts, CAST(sum(failures) AS BIGINT) AS failures
        FROM marts.dash_payment_failures
        WHERE {where} AND NOT converted AND reached_step = ?
        GROUP BY 1 ORDER BY 2 DESC, 1""", [*params, stopped_at_step])


def payment_failures(f: Filters, stopped_at_step: int) -> pd.DataFrame:
    return _payment_failures(current_version(), f, stopped_at_step)


# ------------------------------------------------------------------- funnel within a shorter window

# The funnel of any window up to the one the warehouse was built with, from the step times of
# marts.fct_checkouts (kpi-definitions.md "The funnel"), read from marts.dash_checkout_steps.
# Within the built window W, step k's time tk is the earliest qualifying event in [t(k-1), t1 + W];
# so within a window w <= W step k counts exactly when every step before it counts and tk <= t1 + w
# (the earliest event in [t(k-1), t1 + W] is also the earliest in [t(k-1), t1 + w] when it falls
# there, and none falls there otherwise).
# Step times never decrease up to step 5, so "step 5 counts" is t5 <= t1 + w; step 6 also needs
# step 5 (t6 may precede t5). tests/dashboard/test_funnel_window.py compares these figures with a
# warehouse built with the shorter window.
WINDOW_CHOICES_HOURS = {1: "1 hour", 24: "1 day", 7 * 24: "7 days", 14 * 24: "14 days", 30 * 24: "30 days",
                        60 * 24: "60 days", 90 * 24: "90 days"}
STEP_TIME_COLUMNS = ["started_at", "subscription_details_completed_at", "billing_address_completed_at",
                     "payment_method_completed_at", "order_submitted_at", "converted_at"]
# fct_checkouts' step times, one row per checkout ordered by cohort day (a date range reads only its
# blocks), segments coded as in dash_funnel_daily.
_CHECKOUTS = "marts.dash_checkout_steps"


def window_choices(built_window_days: int) -> dict[int, str]:
    """The windows (hours: label) a view may pick: the standard ones up to the built window, and the
    built window itself."""
    built = built_window_days * 24
    choices = {h: label for h, label in WINDOW_CHOICES_HOURS.items() if h < built}
    choices[built] = f"{built_window_days} days" if built_window_days != 1 else "1 day"
    return choices


def _windowed_sql(f: Filters, window_hours: int, built_window_days: int) -> tuple[str, list]:
    """A CTE `windowed`: the selected checkouts with the step they reach within `window_hours`."""
    if not 0 < window_hours <= built_window_days * 24:
        raise ValueError(f"conversion window of {window_hours} hours: pick one from 1 hour to the "
                         f"{built_window_days} days the warehouse was built with")
    where, params = f.where()
    within = [f"{col} <= started_at + to_hours({int(window_hours)})" for col in STEP_TIME_COLUMNS[1:]]
    steps = (f"CASE WHEN {within[3]} AND {within[4]} THEN 6 WHEN {within[3]} THEN 5 "
             f"WHEN {within[2]} THEN 4 WHEN {within[1]} THEN 3 WHEN {within[0]} THEN 2 ELSE 1 END")
    sql = f"""windowed AS (
        SELECT * REPLACE ({steps} AS reached_step)
        FROM {_CHECKOUTS} WHERE {where})"""
    return sql, params


@st.cache_data(ttl=CACHE_TTL, show_spinner=False)
def _funnel_totals_within(v, f: Filters, window_hours: int, built_window_days: int) -> dict[str, int]:
    windowed, params = _windowed_sql(f, window_hours, built_window_days)
    sums = ", ".join(f"CAST(count(*) FILTER (WHERE reached_step >= {n}) AS BIGINT) AS {col}"
                     for n, _, col in STEP_COLUMNS)
    df = query(v[0], f"WITH {windowed} SELECT {sums} FROM windowed", params)
    return {k: int(val) for k, val in df.iloc[0].items()}


def funnel_totals_within(f: Filters, window_hours: int) -> dict[str, int]:
    """Checkouts reaching each step (STEP_COLUMNS' names) within a conversion window of `window_hours`
    (up to the built window; ValueError beyond it)."""
    built = status().conversion_window_days
    if window_hours == built * 24:  # the marts' own funnel, pre-aggregated
        return funnel_totals(f)
    return _funnel_totals_within(current_version(), f, window_hours, built)


@st.cache_data(ttl=CACHE_TTL, show_spinner=False)
def _funnel_by_period_within(v, f: Filters, grain: str, window_hours: int, built_window_days: int) -> pd.DataFrame:
    if grain not in KPI_TABLES:
        raise ValueError(grain)
    windowed, params = _windowed_sql(f, window_hours, built_window_days)
    # A cohort is complete when its period's end + the window <= as_of (kpi-definitions.md).
    df = query(v[0], f"""
        WITH {windowed},
        cohorts AS (
            SELECT CAST(date_trunc('{grain}', cohort_date) AS DATE) AS period_start,
                   CAST(count(*) AS BIGINT) AS checkouts_started,
                   CAST(count(*) FILTER (WHERE reached_step = 6) AS BIGINT) AS checkouts_converted
            FROM windowed GROUP BY 1)
        SELECT cohorts.*,
               coalesce(CAST(period_start + INTERVAL 1 {grain} AS TIMESTAMP) + to_hours({int(window_hours)})
                        <= (SELECT as_of FROM marts.warehouse_as_of), false) AS cohort_complete
        FROM cohorts ORDER BY 1""", params)
    df["period_start"] = pd.to_datetime(df["period_start"]).dt.date
    return df


def funnel_by_period_within(f: Filters, grain: str, window_hours: int) -> pd.DataFrame:
    """Checkouts started and converted within `window_hours` per cohort period, and whether each
    cohort is complete for that window."""
    built = status().conversion_window_days
    if window_hours == built * 24:  # the marts' own funnel, pre-aggregated
        return funnel_by_period(f, grain)
    return _funnel_by_period_within(current_version(), f, grain, window_hours, built)


@st.cache_data(ttl=CACHE_TTL, show_spinner=False)
def _time_between_steps(v, f: Filters, grain: str, dimension: str | None, window_hours: int,
                        built_window_days: int) -> pd.DataFrame:
    if grain not in KPI_TABLES:
        raise ValueError(grain)
    windowed, params = _windowed_sql(f, window_hours, built_window_days)
    segment = "'all'" if dimension is None else _segment_sql(dimension)
    # One GROUP BY with two exact quantiles per step pair (over the checkouts that reached its second
    # step), then one row per pair: no row per checkout and pair is ever built.
    pairs = range(1, len(STEP_TIME_COLUMNS))
    per_pair = ", ".join(
        f"count(*) FILTER (WHERE reached_step > {k}) AS n{k}, "
        f"quantile_cont((epoch({STEP_TIME_COLUMNS[k]}) - epoch({STEP_TIME_COLUMNS[k - 1]})) / 3600.0, [0.5, 0.9]) "
        f"FILTER (WHERE reached_step > {k}) AS q{k}" for k in pairs)
    rows = " UNION ALL ".join(f"SELECT period_start, segment, {k} AS from_step, n{k} AS checkouts, q{k} AS q "
                              f"FROM per_period" for k in pairs)
    df = query(v[0], f"""
        WITH {windowed},
        per_period AS (
            SELECT CAST(date_trunc('{grain}', cohort_date) AS DATE) AS period_start, {segment} AS segment, {per_pair}
            FROM windowed WHERE reached_step >= 2 GROUP BY ALL)
        SELECT period_start, segment, from_step, from_step + 1 AS to_step, CAST(checkouts AS BIGINT) AS checkouts,
               q[1] AS median_hours, q[2] AS p90_hours
        FROM ({rows}) WHERE checkouts > 0
        ORDER BY period_start, segment, from_step""", params)
    df["period_start"] = pd.to_datetime(df["period_start"]).dt.date
    return df


def time_between_steps(f: Filters, grain: str, dimension: str | None, window_hours: int) -> pd.DataFrame:
    """Per cohort period, segment (`dimension`'s value, or 'all') and step k -> k+1: the checkouts that
    reached step k+1 within `window_hours`, and the median and 90th percentile (exact, interpolated)
    of t(k+1) - tk in hours. 5 -> 6 can be negative: the order may be recorded before order_submitted."""
    return _time_between_steps(current_version(), f, grain, dimension, window_hours,
                               status().conversion_window_days)


DROPPED_OFF_SHOWN = 1000  # rows shown on the page; the download holds them all
DROPPED_OFF_COLUMNS = ["checkout_id", "customer_id", "started_at", *SEGMENT_LABELS, "last_step", "last_step_at",
                       "payment_failures", "payment_error_code"]
_SEGMENT_COLUMNS = ", ".join(f"{d.checkouts} AS {d.name}" for d in SEGMENTS)


def _dropped_off_rows(f: Filters, step: int) -> tuple[str, list]:
    """FROM and WHERE of the selected checkouts that reached `step` and not the next."""
    if step not in range(1, 6):
        raise ValueError(f"step {step}: pick a step from 1 to 5 (step 6 is the last)")
    where, params = f.where(dims=DROPOFF_SEGMENTS)
    return f"FROM {_CHECKOUTS} WHERE reached_step = ? AND {where}", [step, *params]


def _dropped_off_query(path: str, f: Filters, step: int, limit: int | None) -> tuple[int, pd.DataFrame]:
    rows_sql, params = _dropped_off_rows(f, step)
    step_names = " ".join(f"WHEN {n} THEN '{name}'" for n, name, _ in STEP_COLUMNS)
    step_times = " ".join(f"WHEN {n} THEN {col}" for n, col in enumerate(STEP_TIME_COLUMNS, start=1))
    # ids and segments only, no personal data (the contract keeps e-mails out of the warehouse)
    rows = query(path, f"""
        SELECT checkout_id, customer_id, started_at, {_SEGMENT_COLUMNS},
               CASE reached_step {step_names} END AS last_step,
               CASE reached_step {step_times} END AS last_step_at,
               payment_failures, payment_error_code
        {rows_sql}
        ORDER BY started_at DESC, checkout_id{' LIMIT ?' if limit is not None else ''}""",
                 params + ([limit] if limit is not None else []))
    total = query(path, f"SELECT count(*) AS n {rows_sql}", params).n.iloc[0]
    return int(total), rows


@st.cache_data(ttl=CACHE_TTL, show_spinner=False)
def _dropped_off(v, f: Filters, step: int, limit: int | None) -> tuple[int, pd.DataFrame]:
    return _dropped_off_query(v[0], f, step, limit)


def dropped_off(f: Filters, step: int, limit: int | None = DROPPED_OFF_SHOWN) -> tuple[int, pd.DataFrame]:
    """The checkouts of the selection that reached `step` (1-5) and not the next (within the built
    window), newest first: how many, and up to `limit` of them (None: all) with DROPPED_OFF_COLUMNS:
    ids, segments, the last step reached and when, and their payment failures. Ids only."""
    return _dropped_off(current_version(), f, step, limit)


def dropped_off_csv(f: Filters, step: int) -> bytes:
    """All of dropped_off(f, step) as CSV, read when asked for (the download button's callable runs
    outside the page's run, so uncached)."""
    return _dropped_off_query(str(published_path()), f, step, None)[1].to_csv(index=False).encode()


# ------------------------------------------------------------------------------- manual intervention

@st.cache_data(ttl=CACHE_TTL, show_spinner=False)
def _interventions(v, start: dt.date, end: dt.date) -> pd.DataFrame:
    df = query(v[0], """
        SELECT created_date, plan, deployment, is_first_order, intervention_reason,
               self_service_orders, intervention_orders
        FROM marts.dash_interventions WHERE created_date BETWEEN ? AND ?""", [start, end])
    df["created_date"] = pd.to_datetime(df["created_date"]).dt.date
    return df


def interventions(start: dt.date, end: dt.date) -> pd.DataFrame:
    return _interventions(current_version(), start, end)


LATEST_INTERVENTIONS_KEPT = 500  # rows of marts.dash_latest_interventions (recency_rank <= 500)
_LATEST_COLUMNS = "order_id, checkout_id, created_at, plan, deployment, seats, is_first_order, intervention_reason"


@st.cache_data(ttl=CACHE_TTL, show_spinner=False)
def _latest_intervened_orders(v, limit: int) -> pd.DataFrame:
    # ids only: no customer data
    if limit <= LATEST_INTERVENTIONS_KEPT and has_table("marts", "dash_latest_interventions"):
        return query(v[0], f"""
            SELECT {_LATEST_COLUMNS} FROM marts.dash_latest_interventions
            WHERE recency_rank <= ? ORDER BY recency_rank""", [limit])
    return query(v[0], f"""
        SELECT {_LATEST_COLUMNS}
        FROM marts.fct_orders WHERE is_self_service AND manual_intervention
        ORDER BY created_at DESC, order_id LIMIT ?""", [limit])


def latest_intervened_orders(limit: int = 50) -> pd.DataFrame:
    return _latest_intervened_orders(current_version(), limit)


# ------------------------------------------------------------------------------------------- health

@st.cache_data(ttl=CACHE_TTL, show_spinner=False)
def _audit(v, name: str) -> pd.DataFrame:
    sql = {
        "load_ledger": "SELECT * FROM audit.load_ledger ORDER BY loaded_at DESC, source, file_path",
        "rejected_by_reason": """SELECT source, reason, count(*) AS rows_rejected, count(DISTINCT file_path) AS files
                                 FROM audit.rejected_rows GROUP BY ALL ORDER BY 3 DESC, 1, 2""",
        "pipeline_runs": "SELECT * FROM audit.pipeline_runs ORDER BY started_at DESC LIMIT 100",
        "check_results": "SELECT * FROM audit.check_results ORDER BY checked_at DESC, check_name",
    }[name]
    return query(v[0], sql)


def audit(name: str) -> pd.DataFrame | None:
    """An audit view; None when its table is not in the warehouse (yet)."""
    table = {"rejected_by_reason": "rejected_rows"}.get(name, name)
    if not has_table("audit", table):
        return None
    return _audit(current_version(), name)


@dataclass(frozen=True)
class Landed:
    """What the warehouse holds so far: whether any row was loaded, and the landed files per ledger
    status (each path counted once, by its latest ledger row)."""

    has_data: bool
    files: dict[str, int]

    @property
    def files_total(self) -> int:
        return sum(self.files.values())


@st.cache_data(ttl=CACHE_TTL, show_spinner=False)
def _landed(v, has_ledger: bool) -> Landed:
    as_of = query(v[0], "SELECT as_of FROM marts.warehouse_as_of LIMIT 1")
    has_data = bool(len(as_of)) and pd.notna(as_of.as_of.iloc[0])
    files: dict[str, int] = {}
    if has_ledger:
        df = query(v[0], """
            SELECT status, count(*) AS files FROM (
                SELECT status FROM audit.load_ledger
                QUALIFY row_number() OVER (PARTITION BY file_path ORDER BY loaded_at DESC, status) = 1)
            GROUP BY ALL ORDER BY 1""")
        files = {str(s): int(n) for s, n in zip(df.status, df.files, strict=True)}
    return Landed(has_data=has_data, files=files)


def landed() -> Landed:
    """Whether the published copy holds any loaded data (marts.warehouse_as_of has an as-of time: some
    event or order was loaded), and how many landed files the ledger holds per status."""
    return _landed(current_version(), has_table("audit", "load_ledger"))


ATTENTION_STATUSES = (contract.REJECTED, contract.IGNORED, contract.EMPTY)
ATTENTION_SAMPLE_ROWS = 5


@st.cache_data(ttl=CACHE_TTL, show_spinner=False)
def _files_needing_attention(v) -> pd.DataFrame:
    # Each landed path by its latest ledger row (an empty file that was later filled and loaded needs
    # nothing any more; a file changed after it was loaded keeps its loaded row and gets a newer one).
    df = query(v[0], """
        SELECT file_path, coalesce(nullif(source, ''), '(no source folder)') AS source,
               CASE WHEN status = ? AND starts_with(coalesce(reason, ''), ?) THEN 'changed after load'
                    ELSE status END AS attention,
               status, reason, loaded_at AS "when", rows_read, rows_rejected, run_id
        FROM audit.load_ledger
        QUALIFY row_number() OVER (PARTITION BY file_path ORDER BY loaded_at DESC, status) = 1
            AND list_contains(?, status)
        ORDER BY loaded_at DESC, file_path""",
               [contract.REJECTED, contract.CHANGED_AFTER_LOADED, list(ATTENTION_STATUSES)])
    return df


def files_needing_attention() -> pd.DataFrame:
    """Landed files someone should look at: the latest ledger row of each path whose status is
    rejected (those whose reason starts with "file changed after it was loaded" labelled "changed
    after load" in `attention`), ignored or empty; newest first. Empty when none (or no ledger)."""
    if not has_table("audit", "load_ledger"):
        return pd.DataFrame(columns=["file_path", "source", "attention", "status", "reason", "when",
                                     "rows_read", "rows_rejected", "run_id"])
    return _files_needing_attention(current_version())


@st.cache_data(ttl=CACHE_TTL, show_spinner=False)
def _rejected_samples(v, files: tuple[tuple[str, str | None], ...], per_file: int) -> pd.DataFrame:
    return query(v[0], """
        WITH k AS (SELECT unnest(?::VARCHAR[]) AS file_path, unnest(?::VARCHAR[]) AS run_id)
        SELECT r.file_path, r.row_number, r.reason, r.raw_record
        FROM audit.rejected_rows r JOIN k ON r.file_path = k.file_path AND (k.run_id IS NULL OR r.run_id = k.run_id)
        QUALIFY row_number() OVER (PARTITION BY r.file_path ORDER BY r.row_number NULLS FIRST) <= ?
        ORDER BY r.file_path, r.row_number NULLS FIRST""", [[f for f, _ in files], [r for _, r in files], per_file])


def rejected_samples(files: pd.DataFrame, per_file: int = ATTENTION_SAMPLE_ROWS) -> pd.DataFrame:
    """Up to `per_file` rows of audit.rejected_rows (row_number, reason, raw_record: already masked)
    for each file of `files` (file_path, run_id: the ledger row's run, so a changed file shows this
    version's rows), in row order; the file's own rejection (no row number) first."""
    if files.empty or not has_table("audit", "rejected_rows"):
        return pd.DataFrame(columns=["file_path", "row_number", "reason", "raw_record"])
    keys = tuple((str(p), None if r is None or pd.isna(r) else str(r))
                 for p, r in zip(files.file_path, files.run_id, strict=True))
    return _rejected_samples(current_version(), keys, per_file)


# ---------------------------------------------------------------------------------------------- SQL

@st.cache_data(ttl=CACHE_TTL, show_spinner=False)
def _schema(v) -> pd.DataFrame:
    has_meta = has_table("meta", "column_descriptions")
    description = "d.description" if has_meta else "CAST(NULL AS VARCHAR)"
    join = ("LEFT JOIN meta.column_descriptions d ON d.table_schema = c.table_schema "
            "AND d.table_name = c.table_name AND d.column_name = c.column_name") if has_meta else ""
    return query(v[0], f"""
        SELECT c.table_schema, c.table_name, c.column_name, c.data_type, {description} AS description
        FROM information_schema.columns c {join}
        WHERE c.table_schema NOT IN ('information_schema', 'pg_catalog')
        ORDER BY c.table_schema, c.table_name, c.ordinal_position""")


def schema() -> pd.DataFrame:
    return _schema(current_version())


# The schema browser opens on the KPIs, the marts before the audit and bookkeeping tables.
SCHEMA_FIRST_TABLE = "marts.kpi_weekly"
SCHEMA_ORDER = ("marts", "audit", "meta")


def schema_tables(schema: pd.DataFrame) -> list[str]:
    """The `schema.table` names of `schema()`, marts first, then audit, meta and any other schema."""
    names = (schema.table_schema + "." + schema.table_name).drop_duplicates().tolist()
    rank = {name: i for i, name in enumerate(SCHEMA_ORDER)}
    return sorted(names, key=lambda n: (rank.get(n.split(".", 1)[0], len(rank)), n))
