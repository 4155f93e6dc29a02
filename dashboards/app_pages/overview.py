"""Overview (leadership): a card per KPI for the latest complete week or month, trends below."""

import streamlit as st

from dashboards import charts, data, kpis, ui

st.title("Overview")
ui.no_data_notice()
status = data.status()
ui.url_choice("overview_grain", "grain", ["week", "month"])
head, link = st.columns([4, 1], vertical_alignment="bottom")
grain = head.radio("Period", ["week", "month"], horizontal=True, key="overview_grain",
                   format_func=lambda g: {"week": "Weekly", "month": "Monthly"}[g])
with link:
    ui.share_link()
df = data.kpis(grain)
targets = data.targets()
if df.empty:
    st.info("No KPI periods in the warehouse yet.")
    st.stop()

st.caption("Cohort-dated KPIs (conversion rates, time to convert) show the latest **complete** cohort "
           f"(period end + {status.conversion_window_days} days ≤ data as-of); order KPIs the latest "
           "**closed** period. Change is against the period before; a rate *moved* when the two-proportion "
           "test rejects at 99%.")

cards = [kpis.build_card(df, k, grain, targets) for k in kpis.KPIS]
for row in (cards[:4], cards[4:]):
    for col, card in zip(st.columns(4), row, strict=False):
        # the label above the metric, where it wraps: in st.metric's own label long names were cut
        with col.container(border=True, height="stretch"):
            k = card.kpi
            delta = kpis.card_delta(card.delta, k)
            st.markdown(f"**{k.label}**", help=kpis.card_help(k))
            st.metric(k.label, k.format(card.value), delta.text, delta_color=delta.color,
                      delta_arrow=delta.arrow, label_visibility="collapsed")
            if card.period_start is None:
                st.caption("no complete period yet")
                continue
            which = "complete cohort" if k.dated_by == "cohort" else "closed period"
            bits = [f"{kpis.period_label(card.period_start, grain)} · {which}"]
            if card.previous_start is not None:
                bits.append(f"previous {k.format(card.previous)}")
            if card.target is not None:
                icon = {True: ":green[**on track**]", False: ":red[**off track**]", None: "no value"}[card.on_track]
                bits.append(f"target {k.format(card.target)}: {icon}")
            else:
                bits.append("no target set")
            if card.moved is not None:
                bits.append("moved significantly" if card.moved else "no significant move")
            st.caption(" · ".join(bits))

st.subheader("Trends")
period_title = {"week": "week", "month": "month"}[grain]
annotations = data.annotations()
columns = st.columns(2)
for i, k in enumerate(kpis.KPIS):
    complete = df[k.final_column].fillna(False).astype(bool)
    t = targets[(targets.kpi_name == k.name) & (targets.grain == grain)]
    with columns[i % 2]:
        ui.chart(charts.kpi_trend(df, k.name, k.label, k.unit, period_title, complete,
                                  float(t.target.iloc[0]) if len(t) else None, annotations),
                 f"trend_{k.name}")

with st.expander(f"All {grain}ly KPI rows (table)"):
    ui.table(df, f"kpi_{grain}ly", ui.percent_columns(*[k.name for k in kpis.KPIS if k.is_rate]))
with st.expander("KPI targets (dbt seed `kpi_targets.csv`)"):
    ui.table(targets, "kpi_targets")
if not annotations.empty:
    with st.expander("Annotations on the charts (dbt seed `annotations.csv`)"):
        ui.table(annotations, "annotations")
