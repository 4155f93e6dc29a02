"""Funnel (product managers): steps within a chosen conversion window, previous period, cohorts with
intervals, time to convert, time between steps, breakdown."""

import pandas as pd
import streamlit as st

from dashboards import charts, data, kpis, ui
from pipelines.core.stats import MIN_DENOMINATOR, MIN_NUMERATOR

st.title("Funnel")
ui.no_data_notice()
status = data.status()
f = ui.funnel_filters("funnel")
if f is None:
    st.stop()
ui.incomplete_note(f, status)

# Any conversion window up to the one the warehouse was built with, from the step times.
windows = data.window_choices(status.conversion_window_days)
ui.url_choice("funnel_window", "window", list(windows), status.conversion_window_days * 24)
window = st.selectbox("Conversion window", list(windows), format_func=windows.get, key="funnel_window",
                      help="A step counts when it is reached within this time of the checkout's start. "
                           f"Up to the {status.conversion_window_days} days the warehouse was built with.")

prev = f.shifted_back()
current = kpis.funnel_table(data.funnel_totals_within(f, window), data.STEP_COLUMNS)
previous = kpis.funnel_table(data.funnel_totals_within(prev, window), data.STEP_COLUMNS)

left, right = st.columns(2)
with left:
    ui.chart(charts.funnel(current, "Funnel", f"cohorts {f.start} to {f.end}"), "funnel_current")
with right:
    ui.chart(charts.funnel(previous, "Previous period", f"cohorts {prev.start} to {prev.end}"), "funnel_previous")

steps = current.rename(columns={
    "checkouts": "checkouts", "conversion_from_previous": "from_previous_step",
    "conversion_from_start": "from_start", "drop_off": "drop_off"})
steps["previous_period_checkouts"] = previous["checkouts"]
steps["previous_period_from_start"] = previous["conversion_from_start"]
ui.table(steps, "funnel_steps", ui.percent_columns("from_previous_step", "from_start", "previous_period_from_start"))

st.subheader("Conversion by cohort")
ui.url_choice("funnel_cohort_grain", "cohort", ["week", "month", "day"])
grain = st.radio("Cohort", ["week", "month", "day"], horizontal=True, key="funnel_cohort_grain")
by = kpis.with_wilson(data.funnel_by_period_within(f, grain, window), "checkouts_converted", "checkouts_started")
if by.empty:
    st.info("No checkouts for these filters.")
else:
    complete = by["cohort_complete"]
    partial = kpis.partial_periods(by["period_start"], grain, f.start, f.end)
    ui.chart(charts.cohort_conversion(by, grain, complete, partial, data.annotations()), "cohort_chart")
    with st.expander("Cohort table"):
        ui.table(by, f"conversion_by_{grain}", ui.percent_columns("rate", "ci_low", "ci_high"))

st.subheader("Time to convert")
stats, hist = data.time_to_convert(f)
m = st.columns(4)
m[0].metric("Converted checkouts", f"{int(stats['converted']):,}")
for col, key, label in ((m[1], "median", "Median"), (m[2], "p75", "75th percentile"), (m[3], "p90", "90th percentile")):
    col.metric(label, kpis.format_value(None if pd.isna(stats[key]) else float(stats[key]), "hours"))
if not hist.empty:
    ui.chart(charts.bars(hist, "bucket", "checkouts", "Time from checkout start to order placed",
                         "Time to convert", "Converted checkouts"), "ttc_hist")

st.subheader("Time between steps")
# "all", not None: a selectbox shows None as no choice at all ("Choose an option").
ui.url_choice("between_segment", "between_by", ["all", *data.SEGMENT_LABELS])
segment_dim = st.selectbox("Per segment", ["all", *data.SEGMENT_LABELS], key="between_segment",
                           format_func=lambda d: "All checkouts" if d == "all" else data.SEGMENT_LABELS[d])
between = data.time_between_steps(f, grain, None if segment_dim == "all" else segment_dim, window)
st.caption(f"Per {grain} cohort: minutes from each step to the next, median and 90th percentile, over the "
           "checkouts that reached the next step within the window. Order placed can come a moment "
           "before order submitted (the order system may record it first): a negative time.")
if between.empty:
    st.info("No checkout reached step 2 for these filters.")
else:
    between["step_pair"] = between.from_step.astype(str) + " → " + between.to_step.astype(str)
    wide = between.pivot_table(index=["period_start", "segment"], columns="step_pair",
                               values=["median_hours", "p90_hours"], aggfunc="first")
    # Minutes: steps follow each other within minutes, which hours would show as 0.02.
    wide = wide * 60
    wide.columns = [f"{pair} {'median' if stat == 'median_hours' else 'p90'} (min)" for stat, pair in wide.columns]
    wide = wide[sorted(wide.columns)].reset_index()
    minutes = st.column_config.NumberColumn(format="%.1f")
    ui.table(wide, f"time_between_steps_by_{grain}", dict.fromkeys(wide.columns[2:], minutes))

st.subheader("Breakdown")
c1, c2 = st.columns(2)
ui.url_choice("breakdown_dim", "by", list(data.SEGMENT_LABELS))
ui.url_choice("breakdown_step", "rate_step", data.STEP_COLUMNS[1:], data.STEP_COLUMNS[-1], lambda s: str(s[0]))
dimension = c1.selectbox("By", list(data.SEGMENT_LABELS), format_func=data.SEGMENT_LABELS.get, key="breakdown_dim")
step = c2.selectbox("Rate: checkouts reaching", data.STEP_COLUMNS[1:], key="breakdown_step",
                    format_func=lambda s: f"step {s[0]}, {s[1]}")
bd = kpis.breakdown_table(data.breakdown(f, dimension, step[2]))
st.caption("Rate = checkouts reaching the step / checkouts started, with its 95% Wilson interval. Each "
           "segment is compared with all the others together (pooled two-proportion z-test, 95%); no "
           f"verdict when either side has fewer than {MIN_DENOMINATOR} checkouts or fewer than {MIN_NUMERATOR} "
           "reaching the step.")
if not bd.empty:
    ui.chart(charts.rate_by_segment(bd, "segment", f"Rate by {data.SEGMENT_LABELS[dimension].lower()}",
                                    data.SEGMENT_LABELS[dimension]), "breakdown_chart")
ui.table(bd, f"breakdown_by_{dimension}", ui.percent_columns("rate", "ci_low", "ci_high", "rest_rate"))
