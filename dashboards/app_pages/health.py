"""Data health: the files that need attention first, then the last run, freshness, files loaded, rows
rejected by reason, data-check results."""

import datetime as dt

import pandas as pd
import streamlit as st

from dashboards import charts, data, ui

st.title("Data health")
if (outcome := data.run_status() or {}).get("status") == "failure":
    st.error(f"The last run failed at {outcome.get('finished_at', '?')} UTC: "
             f"{ui.escape_markdown(str(outcome.get('message')))}; the dashboard shows the last good data.")
ui.no_data_notice(stop=False, on_health_page=True)
status = data.status()
runs = data.audit("pipeline_runs")
now = dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _age(ts) -> str:
    if ts is None or pd.isna(ts):
        return ui.MISSING
    hours = (now - pd.Timestamp(ts).to_pydatetime()).total_seconds() / 3600
    return f"{hours:.1f} h ago" if hours < 48 else f"{hours / 24:.1f} days ago"


def _count(n) -> int:
    return 0 if n is None or pd.isna(n) else int(n)


ATTENTION_BADGE = {"rejected": "red", "changed after load": "orange", "ignored": "gray", "empty": "blue"}
ATTENTION_CARDS = 10  # files shown one by one, with their rejected rows; the table below lists them all

st.subheader("Files that need attention")
attention = data.files_needing_attention()
if attention.empty:
    st.success("No file needs attention: " + ("every landed file was loaded." if data.landed().files_total
                                              else "no file has landed yet."), icon=":material/check_circle:")
else:
    counts = attention.attention.value_counts()
    n = len(attention)
    st.warning(f"{n:,} landed file{'s' if n != 1 else ''} need{'s' if n == 1 else ''} attention: "
               + ", ".join(f"{counts[label]:,} {label}" for label in ATTENTION_BADGE if label in counts)
               + ". Rejected, changed and empty files load nothing; ignored files are not contract files. "
               "Land corrections as new files.", icon=":material/report:")
    shown = attention.head(ATTENTION_CARDS)
    samples = data.rejected_samples(shown)
    for row in shown.itertuples(index=False):
        with st.container(border=True):
            st.markdown(f":{ATTENTION_BADGE.get(row.attention, 'gray')}-badge[{row.attention}] `{row.file_path}`")
            read, rejected = _count(row.rows_read), _count(row.rows_rejected)
            st.caption(f"{row.source} · {pd.Timestamp(row.when):%Y-%m-%d %H:%M UTC} · {read:,} "
                       f"row{'' if read == 1 else 's'} read, {rejected:,} rejected")
            st.markdown(f"**Reason:** {ui.escape_markdown(row.reason) if row.reason else ui.MISSING}")
            sample = samples[samples.file_path == row.file_path].drop(columns="file_path")
            # the record of a file rejected whole (no row number) only repeats the reason above
            sample = sample[sample.row_number.notna() | (sample.reason != row.reason)]
            if len(sample):
                of = f" of {rejected:,}" if rejected >= len(sample) else ""
                st.caption(f"Its rejected rows (audit.rejected_rows, first {len(sample)}{of}; raw records masked):")
                ui.dataframe(sample, column_config={
                    "row_number": st.column_config.NumberColumn("row_number", format="%d", width="small"),
                    "reason": st.column_config.TextColumn("reason", width="medium"),
                    "raw_record": st.column_config.TextColumn("raw_record", width="large")})
    if n > ATTENTION_CARDS:
        st.caption(f"The {ATTENTION_CARDS} newest shown; all {n:,} in the table.")
    with st.expander(f"All {n:,} files that need attention (table)", expanded=n > ATTENTION_CARDS):
        ui.table(attention.drop(columns="run_id"), "files_needing_attention")


last = status.last_run or {}
st.subheader("Last run")
# Short labels, in two rows so values fit ("245.4 days ago"); what each counts is in its "?".
m = [*st.columns(3), *st.columns(3)[:2]]
m[0].metric("Status", str(last.get("status", "none")),
            help=f"Run {last.get('run_id', ui.MISSING)}" + (f": {last.get('message')}" if last.get("message") else ""))
m[1].metric("Finished", _age(last.get("finished_at")), help="When the last pipeline run ended.")
m[2].metric("Data as of", _age(status.as_of), help="The newest timestamp loaded (events and orders).")
m[3].metric("Files loaded / rejected",
            f"{int(last.get('files_loaded') or 0):,} / {int(last.get('files_rejected') or 0):,}",
            help="Files the last run loaded, and files it rejected whole.")
m[4].metric("Rows loaded / rejected",
            f"{int(last.get('rows_loaded') or 0):,} / {int(last.get('rows_rejected') or 0):,}",
            help="Rows the last run loaded into raw, and rows it rejected (audit.rejected_rows).")
if last.get("status") not in (None, "success"):
    st.error(f"The last pipeline run failed: {last.get('message')}. The dashboard shows the last published data.")

st.subheader("Data checks")
checks = data.audit("check_results")
if checks is None:
    st.info("No check results in the warehouse yet (audit.check_results appears once the data checks run).")
else:
    failing = ~checks.passed.astype(bool)
    st.metric("Checks failing", f"{int(failing.sum()):,} of {len(checks):,}")
    if failing.any():
        st.error(f"{int(failing.sum()):,} data check{'s' if failing.sum() != 1 else ''} failing: first in the "
                 "table, in red.", icon=":material/error:")
    # failing checks first (errors before warnings), then the newest
    ordered = checks.assign(_failing=failing).sort_values(
        ["_failing", "severity", "checked_at", "check_name"], ascending=[False, True, False, True]
    ).drop(columns="_failing").reset_index(drop=True)
    ui.table(ordered, "check_results", highlight=~ordered.passed.astype(bool))

st.subheader("Rejected rows by reason")
rejected = data.audit("rejected_by_reason")
if rejected is None or rejected.empty:
    st.info("No rejected rows.")
else:
    ui.chart(charts.bars(rejected, "reason", "rows_rejected", "Rejected rows by reason", "Reason",
                         "Rows rejected", color="source"), "rejected_chart")
    ui.table(rejected, "rejected_rows_by_reason")

st.subheader("Files")
ledger = data.audit("load_ledger")
if ledger is not None:
    ui.table(ledger, "load_ledger")
st.subheader("Pipeline runs")
if runs is not None:
    ui.table(runs, "pipeline_runs")
