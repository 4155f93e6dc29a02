"""Data health: the last run, freshness, files loaded, rows rejected by reason, data-check results."""

import datetime as dt

import pandas as pd
import streamlit as st

from dashboards import charts, data, ui

st.title("Data health")
status = data.status()
runs = data.audit("pipeline_runs")
now = dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _age(ts) -> str:
    if ts is None or pd.isna(ts):
        return "—"
    hours = (now - pd.Timestamp(ts).to_pydatetime()).total_seconds() / 3600
    return f"{hours:.1f} h ago" if hours < 48 else f"{hours / 24:.1f} days ago"


last = status.last_run or {}
m = st.columns(5)
m[0].metric("Last run", str(last.get("status", "none")), help=str(last.get("run_id", "")))
m[1].metric("Last run finished", _age(last.get("finished_at")))
m[2].metric("Data as of (newest loaded timestamp)", _age(status.as_of))
m[3].metric("Files loaded / rejected (last run)",
            f"{int(last.get('files_loaded') or 0):,} / {int(last.get('files_rejected') or 0):,}")
m[4].metric("Rows loaded / rejected (last run)",
            f"{int(last.get('rows_loaded') or 0):,} / {int(last.get('rows_rejected') or 0):,}")
if last.get("status") not in (None, "success"):
    st.error(f"The last pipeline run failed: {last.get('message')}. The dashboard shows the last published data.")
if last.get("message") and last.get("status") == "success":
    st.caption(str(last.get("message")))

st.subheader("Data checks")
checks = data.audit("check_results")
if checks is None:
    st.info("No check results in the warehouse yet (audit.check_results appears once the data checks run).")
else:
    failed = checks[~checks.passed.astype(bool)]
    st.metric("Checks failing", f"{len(failed):,} of {len(checks):,}")
    ui.table(checks, "check_results")

st.subheader("Rejected rows by reason")
rejected = data.audit("rejected_by_reason")
if rejected is None or rejected.empty:
    st.info("No rejected rows.")
else:
    st.plotly_chart(charts.bars(rejected, "reason", "rows_rejected", "Rejected rows by reason", "Reason",
                                "Rows rejected", color="source"), key="rejected_chart")
    ui.table(rejected, "rejected_rows_by_reason")

st.subheader("Files")
ledger = data.audit("load_ledger")
if ledger is not None:
    ui.table(ledger, "load_ledger")
st.subheader("Pipeline runs")
if runs is not None:
    ui.table(runs, "pipeline_runs")
