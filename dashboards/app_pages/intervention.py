"""Manual intervention: rate over time, reasons (Pareto), by plan and deployment, latest orders."""

import streamlit as st

from dashboards import charts, data, kpis, ui
from pipelines.core.dimensions import DIMENSION_BY_NAME

st.title("Manual intervention")
ui.no_data_notice()
status = data.status()
ui.url_choice("intervention_grain", "grain", ["week", "month"])
grain = st.radio("Period", ["week", "month"], horizontal=True, key="intervention_grain")
k = data.kpis(grain)
if k.empty:
    st.info("No KPI periods in the warehouse yet.")
    st.stop()
k = k.assign(closed=k.period_closed)
ui.chart(charts.rates_over_time(
    k, {"manual_intervention_rate": "all self-service orders",
        "first_order_manual_intervention_rate": "self-service first orders"},
    f"Manual-intervention rate by {grain} (order created_at)", f"{grain.capitalize()} starting", grain,
    k.closed, data.annotations()), "intervention_trend")
st.caption("The latest period is open (not closed) until its end passes the data's as-of time: see *Closed*.")
with st.expander("Rate table"):
    ui.table(k[["period_start", "closed", "self_service_orders", "manual_intervention_orders",
                "manual_intervention_rate", "self_service_first_orders",
                "self_service_first_orders_with_intervention", "first_order_manual_intervention_rate"]],
             f"manual_intervention_{grain}ly",
             ui.percent_columns("manual_intervention_rate", "first_order_manual_intervention_rate"))

days = data.kpis("day")  # the same bounds whichever the grain above
lo, hi = days.period_start.min(), days.period_end.max()
SCOPES = ["all self-service orders", "self-service first orders"]
ui.url_dates("intervention_dates", "dates", (lo, hi), lo, hi)
ui.url_choice("intervention_scope", "orders", SCOPES)
c1, c2 = st.columns([2, 1])
picked = c1.date_input("Orders created between", min_value=lo, max_value=hi, key="intervention_dates")
scope = c2.radio("Orders", SCOPES, key="intervention_scope")
if not isinstance(picked, (tuple, list)) or len(picked) != 2:
    st.stop()
iv = data.interventions(picked[0], picked[1])
if scope != SCOPES[0]:
    iv = iv[iv.is_first_order]

reasons = (iv.dropna(subset=["intervention_reason"]).groupby("intervention_reason", as_index=False)
           .intervention_orders.sum().sort_values("intervention_orders", ascending=False))
left, right = st.columns(2)
with left:
    if reasons.empty:
        st.info("No manual interventions in this range.")
    else:
        ui.chart(charts.pareto(reasons, "intervention_reason", "intervention_orders",
                               "Intervention reasons (Pareto)", "Reason"), "reasons")
    ui.table(reasons, "intervention_reasons")
with right:
    ui.url_choice("intervention_dim", "by", list(data.INTERVENTION_SEGMENTS))
    dim = st.radio("Rate by", data.INTERVENTION_SEGMENTS, horizontal=True, key="intervention_dim",
                   format_func=lambda d: DIMENSION_BY_NAME[d].label)
    label = DIMENSION_BY_NAME[dim].label
    seg = iv.groupby(dim, as_index=False)[["intervention_orders", "self_service_orders"]].sum()
    seg = kpis.with_wilson(seg, "intervention_orders", "self_service_orders")
    if not seg.empty:
        ui.chart(charts.rate_by_segment(seg, dim, f"Manual-intervention rate by {label.lower()}", label),
                 "intervention_by_dim")
    ui.table(seg, f"intervention_by_{dim}", ui.percent_columns("rate", "ci_low", "ci_high"))

st.subheader("Latest intervened orders")
st.caption("Order and checkout ids only: no personal data.")
ui.table(data.latest_intervened_orders(50), "latest_intervened_orders")
