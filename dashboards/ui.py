"""Layout helpers shared by the pages: tables with CSV download, the status line, filters."""

from __future__ import annotations

import datetime as dt
import re
import urllib.parse

import pandas as pd
import streamlit as st

from dashboards import connections, data
from pipelines.core.kpis import MISSING

PERCENT = st.column_config.NumberColumn(format="percent")
# Counts in tables as in the charts: 10,992 (the reader's locale's separator).
COUNT = st.column_config.NumberColumn(format="localized")
# Charts without Plotly's toolbar: on a phone it sat over the chart's title (drag still zooms,
# double-click resets; Streamlit's own toolbar keeps full screen).
PLOTLY_CONFIG = {"displayModeBar": False}
# Headers that "first letter up, underscores to spaces" would not say well.
HEADERS = {"ci_low": "95% interval, low", "ci_high": "95% interval, high", "p_value": "p-value",
           "rest_rate": "Rate of the others", "hours_bucket": "Bucket"}


def escape_markdown(text: str) -> str:
    """Text shown as Markdown literally (file paths and reasons hold `_`, `*`, `$`...)."""
    return re.sub(r"([\\`*_{}\[\]()<>#+\-.!|$~:])", r"\\\1", str(text))


def percent_columns(*names: str) -> dict:
    return {n: PERCENT for n in names}


def sentence(text: str) -> str:
    """`text` with its first letter up (messages written to follow "Error: " read as sentences)."""
    return text[:1].upper() + text[1:]


def header(column: str) -> str:
    """A column name as a table header: `checkouts_started` -> "Checkouts started", `order_id` -> "Order ID"."""
    if column in HEADERS:
        return HEADERS[column]
    words = ["ID" if word == "id" else word for word in column.split("_")]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


def _is_identifier(column: str) -> bool:
    return column.endswith(("_id", "_number", "_step", "_bucket")) or column in {"seats", "year"}


def table_columns(df: pd.DataFrame, given: dict | None = None) -> dict:
    """Every column with a human header; integer counts with thousands separators (not ids or step
    numbers); `given` (e.g. percent_columns) decides the format of the columns it names."""
    given = given or {}
    config = {}
    for column in df.columns:
        if column in given:
            base = given[column]
        elif pd.api.types.is_integer_dtype(df[column].dtype) and not _is_identifier(str(column)):
            base = COUNT
        else:
            base = st.column_config.Column()
        config[column] = {**base, "label": header(str(column))}
    return config


HIGHLIGHT = "background-color: #FDE2E1; color: #8A1C14"


def dataframe(df, **kwargs) -> None:
    """A table without its index, an empty cell reading MISSING (Streamlit's default: "None")."""
    st.dataframe(df, hide_index=True, placeholder=MISSING, **kwargs)


def table(df: pd.DataFrame, name: str, column_config: dict | None = None, height: int | str = "auto",
          highlight: pd.Series | None = None) -> None:
    """A table with human headers and its CSV download (the file keeps the column names and raw values);
    the rows where `highlight` is true in red."""
    shown = df
    if highlight is not None and highlight.any():
        shown = df.style.apply(lambda row: [HIGHLIGHT if highlight.loc[row.name] else ""] * len(row), axis=1)
    dataframe(shown, column_config=table_columns(df, column_config), height=height)
    st.download_button(
        f"Download {name}.csv", df.to_csv(index=False).encode(), file_name=f"{name}.csv", mime="text/csv",
        key=f"download_{name}", icon=":material/download:",
    )


def chart(fig, key: str) -> None:
    """A Plotly figure, full width, without Plotly's toolbar (PLOTLY_CONFIG)."""
    st.plotly_chart(fig, key=key, config=PLOTLY_CONFIG)


# ------------------------------------------------------------------------------------ views in the URL
# Each page's filters live in the URL's query string (st.query_params), so a link opens the same view:
# on a session's first run of a page the widget starts from the URL's value (when valid), and every run
# writes the widgets' current values back. The widgets bound here get no `value`/`index` argument: their
# session state holds it.

def _bind(key: str, param: str, default, decode, encode=None) -> None:
    if key not in st.session_state:
        raw = st.query_params.get(param)
        value = None
        if raw is not None:
            try:
                value = decode(raw)
            except ValueError:
                value = None
        st.session_state[key] = default if value is None else value
    st.query_params[param] = (encode or encode_url_value)(st.session_state[key])


def encode_url_value(value) -> str:
    if isinstance(value, (tuple, list)):
        return ",".join(encode_url_value(v) for v in value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def url_choice(key: str, param: str, options: list, default=None, text=encode_url_value) -> None:
    """A single choice (radio, selectbox) bound to `param`, written as `text(option)`; an unknown value
    in the URL is ignored."""
    by_text = {text(o): o for o in options}
    _bind(key, param, options[0] if default is None else default, by_text.get, text)


def url_choices(key: str, param: str, options: list) -> None:
    """A multiselect bound to `param` (comma-separated); values the options do not hold are dropped."""
    _bind(key, param, [], lambda raw: [v for v in raw.split(",") if v in options])


def url_text(key: str, param: str) -> None:
    """A text box bound to `param`."""
    _bind(key, param, "", str)


def url_dates(key: str, param: str, default: tuple[dt.date, dt.date], lo: dt.date, hi: dt.date) -> None:
    """A date range bound to `param` (`start,end`, ISO dates); one outside [lo, hi] is ignored."""
    def decode(raw: str):
        start, end = (dt.date.fromisoformat(part) for part in raw.split(","))
        return (start, end) if lo <= start <= end <= hi else None

    _bind(key, param, default, decode)


def share_link() -> None:
    """The link that opens this view (this page with its filters)."""
    base = (st.context.url or "").split("?", 1)[0]
    query = "&".join(f"{k}={urllib.parse.quote(v, safe=',')}" for k, v in st.query_params.to_dict().items())
    with st.popover("Link to this view", icon=":material/link:"):
        st.caption("Opens this page with the same filters:")
        st.code(f"{base}?{query}" if query else base, language=None, wrap_lines=True)


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


def default_dates(lo: dt.date, hi: dt.date, first_incomplete: dt.date | None, days: int = 28) -> tuple[dt.date, dt.date]:
    """The date range a filter opens on: the latest `days` days up to the last complete cohort (the day
    before the first incomplete one), so the page opens on final numbers; the latest `days` days with
    data when no cohort is complete yet."""
    end = hi
    if first_incomplete is not None and lo < first_incomplete:
        end = min(hi, first_incomplete - dt.timedelta(days=1))
    return max(lo, end - dt.timedelta(days=days - 1)), end


def funnel_filters(key: str, dims: tuple[str, ...] = tuple(data.SEGMENT_LABELS)) -> data.Filters | None:
    """Date range (cohort dates) and a filter per segment of `dims`, kept in the URL. Default: the 28
    days up to the last complete cohort (default_dates)."""
    values = data.dimension_values()
    bounds = values.get("cohort_dates")
    if bounds is None:
        st.info("No checkouts in the warehouse yet.")
        return None
    lo, hi = bounds
    # a year either side of the data: a range (or a link) may reach past it
    min_date, max_date = lo - dt.timedelta(days=366), hi + dt.timedelta(days=366)
    url_dates(f"{key}_dates", "dates", default_dates(lo, hi, data.first_incomplete_cohort_day()), min_date, max_date)
    # bottom-aligned: a label on two lines (New vs returning customers) leaves the boxes in one row
    cols = st.columns([2] + [1] * len(dims), vertical_alignment="bottom")
    picked = cols[0].date_input("Cohort dates (checkout start, UTC)", min_value=min_date, max_value=max_date,
                                key=f"{key}_dates")
    if not isinstance(picked, (tuple, list)) or len(picked) != 2:
        st.info("Pick a start and an end date.")
        return None
    chosen = {}
    for col, dim in zip(cols[1:], dims, strict=True):
        options = values.get(dim, [])
        url_choices(f"{key}_{dim}", dim, options)
        chosen[dim] = tuple(col.multiselect(data.SEGMENT_LABELS[dim], options, key=f"{key}_{dim}", placeholder="all"))
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
