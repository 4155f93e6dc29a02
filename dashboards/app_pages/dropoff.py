"""Drop-off: checkouts that stopped at a chosen step: how many, when, where, the payment errors, and
which checkouts (ids, downloadable)."""

import pandas as pd
import streamlit as st

from dashboards import charts, data, kpis, ui

st.title("Drop-off")
ui.no_data_notice()
status = data.status()
f = ui.funnel_filters("dropoff", dims=data.DROPOFF_SEGMENTS)
if f is None:
    st.stop()
ui.incomplete_note(f, status)

steps = {n: name for n, name, _ in data.STEP_COLUMNS[:5]}
ui.url_choice("dropoff_step", "step", list(steps), 3)
step = st.selectbox("Checkouts that stopped after step", list(steps), key="dropoff_step",
                    format_func=lambda n: f"{n}, {steps[n]} (did not reach {data.STEP_COLUMNS[n][1]})")
d = data.dropoffs(f)
started = data.funnel_totals(f)["checkouts_started"]
here = d[d.stopped_at_step == step]
stopped = int(here.checkouts.sum())
with_failure = int(here.checkouts_with_payment_failure.sum())

m = st.columns(3)
m[0].metric("Stopped after this step", f"{stopped:,}")
m[1].metric("Share of checkouts started", f"{stopped / started:.1%}" if started else kpis.MISSING)
m[2].metric("With a payment_failed event", f"{with_failure:,}")

by_step = d.groupby("stopped_at_step", as_index=False)[["checkouts", "checkouts_with_payment_failure"]].sum()
by_step["step_name"] = by_step.stopped_at_step.map(steps)
ui.chart(charts.bars(by_step, "step_name", "checkouts", "Where non-converted checkouts stopped",
                     "Last step reached", "Checkouts"), "dropoff_by_step")

if here.empty:
    st.info("No checkouts stopped at this step for these filters.")
    st.stop()

weekly = here.assign(week=pd.to_datetime(here.cohort_date).dt.to_period("W-SUN").dt.start_time)
weekly = weekly.groupby("week", as_index=False).checkouts.sum()
ui.chart(charts.period_bars(weekly, "week", "checkouts", f"Stopped after {steps[step]}, by cohort week",
                            "Cohort week (checkout start)", "Checkouts", "week",
                            kpis.partial_periods(weekly.week, "week", f.start, f.end), data.annotations()),
         "dropoff_when")
for col, dim in zip(st.columns(2), ("plan", "device"), strict=True):
    label = data.SEGMENT_LABELS[dim]
    with col:
        ui.chart(charts.bars(here.groupby(dim, as_index=False).checkouts.sum(), dim, "checkouts",
                             f"By {label.lower()}", label, "Checkouts"), f"dropoff_chart_{dim}")

st.subheader("payment_failed error codes behind these drop-offs")
codes = data.payment_failures(f, step)
if codes.empty:
    st.info("No payment_failed events among these checkouts.")
else:
    ui.chart(charts.pareto(codes, "error_code", "checkouts", "Checkouts by payment error code", "Error code",
                           "Checkouts"), "dropoff_codes")
    ui.table(codes, "dropoff_error_codes")
with st.expander("Drop-off rows (cohort day × plan × device)"):
    ui.table(here, "dropoffs")

st.subheader(f"Who stopped after {steps[step]}")
total, who = data.dropped_off(f, step)
st.caption(f"{total:,} checkouts reached step {step} and not step {step + 1}, newest first"
           + (f" (the {len(who):,} newest shown; the download holds all)" if total > len(who) else "")
           + ". Ids and segments only, no personal data. Last step: the last funnel step reached, and when.")
ui.dataframe(who, column_config=ui.table_columns(who))
st.download_button(f"Download all {total:,} as CSV", lambda: data.dropped_off_csv(f, step),
                   file_name=f"dropped_off_after_step_{step}.csv", mime="text/csv", key="download_dropped_off",
                   on_click="ignore", icon=":material/download:")
