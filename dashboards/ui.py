"""Layout helpers shared by the pages: tables with CSV download, the status line, filters."""

from __future__ import annotations

import datetime as dt
import re

import pandas as pd
import streamlit as st

from dashboards import connections, data

PERCENT = st.column_config.NumberColumn(format="percent")


def escape_markdown(text: str) -> str:
    """Text shown as Markdown literally (file paths and reasons hold `_`, `*`, `$`...)."""
    return re.sub(r"([\\`*_{}\[\]()<>#+\-.!|$~:])", r"\\\1", str(text))


def percent_columns(*names: str) -> dict:
    return {n: PERCENT for n in names}


def table(df: pd.DataFrame, name: str, column_config: dict | None = None, height: int | str = "auto") -> None:
    """A table and its CSV download (the numbers in the file are the raw values)."""
    st.dataframe(df, hide_index=True, column_config=column_config, height=height)
    st.download_button(
        f"Download {name}.csv", df.to_csv(index=False).encode(), file_name=f"{name}.csv", mime="text/csv",
        key=f"download_{name}", icon=":material/download:",
    )


def _fmt_ts(value) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "never"
    return pd.Timestamp(value).strftime("%Y-%m-%d %H:%M UTC")


def status_line() -> data.Status | None:
    """'Data as of' and the last pipeline run, on every page. Stops the page when nothing is published."""
    if connections.version() is None:
        st.error(
            f"No published warehouse at `{connections.published_path()}` yet. Run the pipeline "
            "(`funnel run --landing DIR --warehouse FILE`); this page picks the data up by itself after it."
        )
        st.stop()
    s = data.status()
    run = s.last_run
    run_text = "no pipeline run recorded"
    if run:
        when = run.get("finished_at") if pd.notna(run.get("finished_at")) else run.get("started_at")
        run_text = f"pipeline last ran {_fmt_ts(when)} ({run.get('status')})"
        if run.get("status") != "success" and s.last_success:
            run_text += f"; last successful run {_fmt_ts(s.last_success.get('finished_at'))}"
    as_of = f"Data as of {_fmt_ts(s.as_of)}" if s.as_of is not None else "No data loaded yet"
    st.caption(f"**{as_of}** · {run_text} · conversion window {s.conversion_window_days} days")
    return s


NO_DATA = "No data yet"
HEALTH_PAGE = "app_pages/health.py"
_LANDING = ("under the landing directory (`checkout_events/` for checkout events, `orders/` for orders; "
            "`funnel run --landing DIR`, default `$FUNNEL_LANDING_DIR`, else `data/landing`)")
_STATUS_WORDS = {"loaded": "read, but every row rejected or a duplicate"}


def no_data_notice(stop: bool = True, on_health_page: bool = False) -> bool:
    """On a published warehouse with no loaded row yet: say so and what to do, and when files did land
    (all rejected, ignored or empty) point to the Data health page. Then stop the page, unless `stop`
    is False. Returns whether the warehouse has no data (False: nothing shown)."""
    landed = data.landed()
    if landed.has_data:
        return False
    if not landed.files_total:
        st.info(
            f"**{NO_DATA}**: no file has been loaded into this warehouse. Land files {_LANDING}, then run "
            "`funnel run`. The dashboard shows the data after the run, without a restart.",
            icon=":material/inbox:",
        )
    else:
        n = landed.files_total
        breakdown = "; ".join(f"{count:,} {_STATUS_WORDS.get(status, status)}"
                              for status, count in sorted(landed.files.items()))
        where = ("The files that need attention and the rejected rows below say why" if on_health_page
                 else "The **Data health** page says why, file by file")
        st.warning(
            f"**{NO_DATA}**: {n:,} file{' has' if n == 1 else 's have'} landed, but no row was loaded "
            f"({breakdown}). {where}. Land corrected files as new files {_LANDING}, then run `funnel run`.",
            icon=":material/report:",
        )
        if not on_health_page:
            st.page_link(HEALTH_PAGE, label="Data health: files that need attention", icon=":material/monitor_heart:")
    if stop:
        st.stop()
    return True


def funnel_filters(key: str, dims: tuple[str, ...] = ("plan", "deployment", "country", "device")) -> data.Filters | None:
    """Date range (cohort dates) and segment filters. Default: the latest 28 days with data."""
    values = data.dimension_values()
    bounds = values.get("cohort_dates")
    if bounds is None:
        st.info("No checkouts in the warehouse yet.")
        return None
    lo, hi = bounds
    default_start = max(lo, hi - dt.timedelta(days=27))
    cols = st.columns([2] + [1] * (len(dims) + 1))
    picked = cols[0].date_input("Cohort dates (checkout start, UTC)", value=(default_start, hi),
                                min_value=lo - dt.timedelta(days=366), max_value=hi, key=f"{key}_dates")
    if not isinstance(picked, (tuple, list)) or len(picked) != 2:
        st.info("Pick a start and an end date.")
        return None
    chosen = {}
    for col, dim in zip(cols[1:], dims, strict=False):
        chosen[dim] = tuple(col.multiselect(data.DIMENSIONS[dim], values.get(dim, []), key=f"{key}_{dim}",
                                            placeholder="all"))
    chosen["customer_type"] = tuple(cols[-1].multiselect("New vs returning", ["new", "returning"],
                                                         key=f"{key}_customer_type", placeholder="all"))
    return data.Filters(start=picked[0], end=picked[1], **chosen)


def incomplete_note(f: data.Filters, s: data.Status) -> None:
    """Say which selected cohorts are not complete (their conversion can still rise)."""
    first_incomplete = data.first_incomplete_cohort_day()
    if first_incomplete is not None and f.end >= first_incomplete:
        first = max(f.start, first_incomplete)
        st.warning(
            f"Incomplete cohorts: checkouts started on or after {first.isoformat()} are less than "
            f"{s.conversion_window_days} days old at the data's as-of time; their conversion can still rise.",
            icon=":material/hourglass_top:",
        )
