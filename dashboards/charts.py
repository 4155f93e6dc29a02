"""Pure Plotly figure builders: DataFrame in, figure out. Every chart has a title, labelled axes,
and percentages formatted as percentages. Incomplete cohorts, open periods and partly selected
periods are drawn hollow (bars: hatched) and named in the legend; annotations (the dbt seed
`annotations`) are drawn on every trend as a labelled dotted line.

Layout, the same everywhere (`_layout`): the title (and its subtitle) at the top left, the legend in
its own row between the title and the plot, so it never meets the x-axis title; short y titles (the
title names the measure; the axis its unit), so they fit the chart's height.
"""

from __future__ import annotations

import math
import textwrap

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

PRIMARY = "#4C5FD5"
SECONDARY = "#9AA5B1"
ACCENT = "#E8833A"
TARGET = "#2E9E5B"
ANNOTATION = "#7A4CC2"
HEIGHT = 320
# Ticks of a weekly axis fall on Mondays (ISO weeks, the marts' weeks, start on Monday).
A_MONDAY = "2024-01-01"
WEEK_MS = 7 * 24 * 3600 * 1000
MAX_TICKS = 10
# Room above the plot: the title row, the subtitle row, the legend row (pixels).
TITLE_ROW, SUBTITLE_ROW, LEGEND_ROW = 34, 20, 28
HOLLOW = {"color": "white", "size": 8, "line": {"color": PRIMARY, "width": 2}}
PARTIAL_BAR = {"color": "rgba(76,95,213,0.35)", "line": {"color": PRIMARY, "width": 1},
               "pattern": {"shape": "/", "fgcolor": PRIMARY, "size": 6}}


def _layout(fig: go.Figure, title: str, x_title: str, y_title: str, percent: bool = False,
            height: int = HEIGHT, subtitle: str | None = None, legend: bool = True) -> go.Figure:
    top = TITLE_ROW + (SUBTITLE_ROW if subtitle else 0) + (LEGEND_ROW if legend else 0) + 6
    title_spec = {"text": title, "x": 0, "xanchor": "left", "xref": "container", "y": 1, "yanchor": "top",
                  "yref": "container", "pad": {"t": 8, "l": 8}}
    if subtitle:
        title_spec["subtitle"] = {"text": subtitle}
    fig.update_layout(
        title=title_spec, height=height, margin={"l": 64, "r": 16, "t": top, "b": 56},
        # The legend's own row above the plot: below it, the x-axis title has the space to itself.
        legend={"orientation": "h", "x": 0, "xanchor": "left", "y": 1.0, "yanchor": "bottom"},
        showlegend=legend, hovermode="x unified",
    )
    fig.update_xaxes(title_text=x_title, automargin=True)
    fig.update_yaxes(title_text=y_title, tickformat=".0%" if percent else ",", rangemode="tozero", automargin=True)
    return fig


def _count_axis(fig: go.Figure, counts, axis: str = "y", **selector) -> None:
    """Whole-number ticks on an axis of counts: below MAX_TICKS a tick per unit, where Plotly would
    step by 0.5 (half a checkout); from MAX_TICKS up Plotly's own steps (1, 2, 5 x 10^n, at most
    MAX_TICKS ticks) are whole already."""
    top = pd.Series(counts, dtype=float).max()
    if not top >= MAX_TICKS:  # NaN too: no bar, an empty axis
        (fig.update_yaxes if axis == "y" else fig.update_xaxes)(tick0=0, dtick=1, **selector)


def _time_axis(fig: go.Figure, x: pd.Series, grain: str) -> None:
    """Ticks at period starts: Mondays for weeks (at most MAX_TICKS of them), months' firsts."""
    if grain == "week":
        weeks = max(1, len(pd.Series(x).drop_duplicates()))
        every = max(1, math.ceil(weeks / MAX_TICKS))
        fig.update_xaxes(tick0=A_MONDAY, dtick=WEEK_MS * every, tickformat="%d %b<br>%Y")
    elif grain == "month":
        months = max(1, len(pd.Series(x).drop_duplicates()))
        fig.update_xaxes(tick0="2024-01-01", dtick=f"M{max(1, math.ceil(months / MAX_TICKS))}", tickformat="%b<br>%Y")


def annotate(fig: go.Figure, annotations: pd.DataFrame | None, x: pd.Series) -> go.Figure:
    """Each annotation (date, label, note) inside the chart's date span as a dotted vertical line at the
    start of its day, labelled at the top of the plot, its note on hover."""
    if annotations is None or annotations.empty or len(x) == 0:
        return fig
    dates = pd.to_datetime(pd.Series(x))
    lo, hi = dates.min(), dates.max()
    shown = annotations[(pd.to_datetime(annotations["date"]) >= lo) & (pd.to_datetime(annotations["date"]) <= hi)]
    for row in shown.itertuples(index=False):
        when = pd.Timestamp(row.date)
        fig.add_shape(type="line", x0=when, x1=when, xref="x", y0=0, y1=1, yref="paper",
                      line={"color": ANNOTATION, "width": 1.5, "dash": "dot"})
        note = row.note if isinstance(row.note, str) and row.note else row.label
        fig.add_annotation(x=when, y=1, xref="x", yref="paper", text=row.label, showarrow=False,
                           xanchor="left", yanchor="top", font={"color": ANNOTATION, "size": 11},
                           bgcolor="rgba(255,255,255,0.8)", hovertext=f"{when:%Y-%m-%d}: {note}")
    return fig


def _line_with_final_points(fig: go.Figure, x: pd.Series, y: pd.Series, final: pd.Series, fmt: str,
                            final_name: str, other_name: str) -> None:
    """The series as a solid line through its final points, dotted on to the others (open periods,
    incomplete cohorts), final points filled and the others hollow."""
    done = final.to_numpy(dtype=bool)
    solid = y.where(done)
    fig.add_trace(go.Scatter(x=x, y=solid, mode="lines", line={"color": PRIMARY}, showlegend=False,
                             hoverinfo="skip", connectgaps=False))
    if (~done).any():
        # dotted from the last final point on, so a partial value never reads as a real drop
        last_final = int(done.nonzero()[0][-1]) if done.any() else 0
        tail = y.where(pd.Series(range(len(y)), index=y.index) >= last_final)
        fig.add_trace(go.Scatter(x=x, y=tail, mode="lines", line={"color": PRIMARY, "dash": "dot"},
                                 showlegend=False, hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=x[done], y=y[done], mode="markers", name=final_name,
                             marker={"color": PRIMARY, "size": 7}, hovertemplate=fmt))
    fig.add_trace(go.Scatter(x=x[~done], y=y[~done], mode="markers", name=other_name, marker=HOLLOW,
                             hovertemplate=fmt + f" ({other_name})"))


# The y-axis title per unit: the chart's title names the KPI.
UNIT_TITLE = {"rate": "Share (%)", "hours": "Hours", "count": "Count"}


def kpi_trend(df: pd.DataFrame, column: str, label: str, kind: str, period_title: str,
              complete: pd.Series, target: float | None = None,
              annotations: pd.DataFrame | None = None) -> go.Figure:
    """A KPI over periods; incomplete cohorts / open periods hollow with a dotted line; target as a line."""
    fig = go.Figure()
    x = pd.to_datetime(df["period_start"])
    y = df[column].astype(float)
    fmt = "%{y:.1%}" if kind == "rate" else ("%{y:.2f} h" if kind == "hours" else "%{y:,}")
    _line_with_final_points(fig, x, y, complete, fmt, "final", "not final yet (can still change)")
    if target is not None:
        fig.add_hline(y=target, line={"color": TARGET, "dash": "dash"}, annotation_text="target",
                      annotation_position="bottom left")
    fig = _layout(fig, f"{label} by {period_title}", f"{period_title.capitalize()} starting", UNIT_TITLE[kind],
                  percent=kind == "rate", height=300)
    if kind == "hours":
        fig.update_yaxes(tickformat=".1f")
    if kind == "count":
        _count_axis(fig, y)
    _time_axis(fig, x, period_title)
    return annotate(fig, annotations, x)


def funnel(table: pd.DataFrame, title: str, subtitle: str) -> go.Figure:
    """The six steps with counts, % of the previous step and % of the start."""
    fig = go.Figure(go.Funnel(
        y=table["step_name"], x=table["checkouts"], textinfo="value+percent previous+percent initial",
        texttemplate="%{value:,} · %{percentInitial:.1%}", textposition="inside",
        hovertemplate="%{y}: %{value:,}<br>%{percentPrevious:.1%} of previous step<br>"
                      "%{percentInitial:.1%} of start<extra></extra>",
        marker={"color": PRIMARY}, connector={"line": {"color": SECONDARY}},
    ))
    fig = _layout(fig, title, "Checkouts reaching the step", "Funnel step", height=380,
                  subtitle=f"{subtitle} · count · % of start", legend=False)
    fig.update_layout(hovermode="closest")
    _count_axis(fig, table["checkouts"], "x")
    return fig


def cohort_conversion(df: pd.DataFrame, period_title: str, complete: pd.Series,
                      partial: pd.Series | None = None, annotations: pd.DataFrame | None = None) -> go.Figure:
    """Conversion per cohort with its 95% Wilson band; incomplete cohorts hollow, cohorts of which only
    some days are selected (`partial`) as hollow diamonds."""
    x = pd.to_datetime(df["period_start"])
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=x, y=df["ci_high"], mode="lines", line={"width": 0}, showlegend=False,
                             hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=x, y=df["ci_low"], mode="lines", line={"width": 0}, fill="tonexty",
                             fillcolor="rgba(76,95,213,0.18)", name="95% Wilson interval",
                             hoverinfo="skip"))
    partial = pd.Series(False, index=df.index) if partial is None else partial.astype(bool)
    whole = ~partial
    _line_with_final_points(fig, x[whole], df["rate"][whole], complete[whole], "%{y:.1%}",
                            "complete cohort", "incomplete cohort (can still rise)")
    if partial.any():
        fig.add_trace(go.Scatter(x=x[partial], y=df["rate"][partial], mode="markers",
                                 name=f"partial {period_title} (not all its days selected)",
                                 marker={**HOLLOW, "symbol": "diamond", "line": {"color": ACCENT, "width": 2}},
                                 hovertemplate="%{y:.1%} (partial)"))
    fig = _layout(fig, f"Checkout conversion by {period_title} cohort", f"Cohort ({period_title} of checkout start)",
                  "Conversion (%)", percent=True, subtitle="with its 95% interval")
    _time_axis(fig, x, period_title)
    return annotate(fig, annotations, x)


def bars(df: pd.DataFrame, x: str, y: str, title: str, x_title: str, y_title: str,
         percent: bool = False, color: str | None = None, horizontal: bool = False) -> go.Figure:
    fig = go.Figure()
    fmt = "%{y:.1%}" if percent else "%{y:,}"
    if color:
        # stacked, horizontal: long category names (reasons) read on the y axis, one row each
        for name, g in df.groupby(color, sort=True):
            fig.add_trace(go.Bar(x=g[y], y=g[x].astype(str).map(_wrap), name=str(name), orientation="h",
                                 customdata=g[x].astype(str),
                                 hovertemplate="%{customdata}: " + ("%{x:.1%}" if percent else "%{x:,}")))
        rows = df[x].nunique()
        fig = _layout(fig, title, y_title, x_title, height=max(HEIGHT, 34 * rows + 140))
        fig.update_layout(barmode="stack", hovermode="y unified")
        fig.update_xaxes(tickformat=".0%" if percent else ",")
        fig.update_yaxes(tickformat="", autorange="reversed", title_text="")
        if not percent:
            _count_axis(fig, df.groupby(x)[y].sum(), "x")
        return fig
    if horizontal:
        fig.add_trace(go.Bar(x=df[y], y=df[x].astype(str), orientation="h", marker={"color": PRIMARY},
                             texttemplate="%{x:.1%}" if percent else "%{x:,}", textposition="auto"))
        fig = _layout(fig, title, y_title, x_title, legend=False)
        fig.update_xaxes(tickformat=".0%" if percent else ",")
        fig.update_yaxes(tickformat="", autorange="reversed")
        if not percent:
            _count_axis(fig, df[y], "x")
        return fig
    fig.add_trace(go.Bar(x=df[x].astype(str) if df[x].dtype == object else df[x], y=df[y],
                         marker={"color": PRIMARY}, hovertemplate=fmt,
                         texttemplate="%{y:.1%}" if percent else "%{y:,}", textposition="auto"))
    fig = _layout(fig, title, x_title, y_title, percent=percent, legend=False)
    if not percent:
        _count_axis(fig, df[y])
    return fig


def _wrap(label: str, width: int = 48, lines: int = 2) -> str:
    """A long category label on at most `lines` lines of `width` characters (Plotly breaks at <br>),
    cut with "…" beyond them (the hover shows it whole)."""
    wrapped = textwrap.wrap(label, width) or [label]
    if len(wrapped) > lines:
        wrapped = [*wrapped[:lines - 1], wrapped[lines - 1] + "…"]
    return "<br>".join(wrapped)


def period_bars(df: pd.DataFrame, x: str, y: str, title: str, x_title: str, y_title: str, grain: str,
                partial: pd.Series, annotations: pd.DataFrame | None = None) -> go.Figure:
    """Counts per period; periods of which only some days are selected (`partial`) hatched and named
    in the legend, so their lower count does not read as a dip."""
    fig = go.Figure()
    partial = partial.astype(bool).to_numpy()
    dates = pd.to_datetime(df[x])
    # each bar spans its period (Monday to Sunday, 1st to month end), so an annotation falls on its day
    period = {"week": {"xperiod": WEEK_MS, "xperiod0": A_MONDAY}, "month": {"xperiod": "M1", "xperiod0": "2024-01-01"}}
    for mask, name, marker in ((~partial, f"whole {grain}", {"color": PRIMARY}),
                               (partial, f"partial {grain} (not all its days selected)", PARTIAL_BAR)):
        if mask.any():
            fig.add_trace(go.Bar(x=dates[mask], y=df[y][mask], name=name, marker=marker, hovertemplate="%{y:,}",
                                 texttemplate="%{y:,}", textposition="auto", xperiodalignment="middle",
                                 **period.get(grain, {})))
    fig = _layout(fig, title, x_title, y_title)
    fig.update_layout(hovermode="closest")
    _count_axis(fig, df[y])
    _time_axis(fig, dates, grain)
    return annotate(fig, annotations, dates)


def rate_by_segment(df: pd.DataFrame, segment: str, title: str, x_title: str) -> go.Figure:
    """Rates per segment with their 95% Wilson interval as error bars; the rate is written inside the
    bar at its base, clear of the error bar at its top."""
    fig = go.Figure(go.Bar(
        x=df[segment].astype(str), y=df["rate"], marker={"color": PRIMARY},
        error_y={"type": "data", "symmetric": False, "array": df["ci_high"] - df["rate"],
                 "arrayminus": df["rate"] - df["ci_low"], "color": "#333"},
        texttemplate="%{y:.1%}", textposition="inside", insidetextanchor="start",
        textfont={"color": "white"}, hovertemplate="%{y:.1%}",
    ))
    return _layout(fig, title, x_title, "Rate (%)", percent=True, subtitle="bars: rate · whiskers: 95% interval",
                   legend=False)


def rates_over_time(df: pd.DataFrame, series: dict[str, str], title: str, x_title: str, grain: str,
                    final: pd.Series, annotations: pd.DataFrame | None = None) -> go.Figure:
    """Rates over periods, one line per series; the periods not final yet (`final` false) hollow."""
    fig = go.Figure()
    x = pd.to_datetime(df["period_start"])
    done = final.astype(bool).to_numpy()
    for color, (column, name) in zip((PRIMARY, ACCENT), series.items(), strict=False):
        fig.add_trace(go.Scatter(x=x, y=df[column], mode="lines", name=name, line={"color": color},
                                 hovertemplate="%{y:.1%}"))
        fig.add_trace(go.Scatter(x=x[~done], y=df[column][~done], mode="markers", showlegend=False,
                                 marker={**HOLLOW, "line": {"color": color, "width": 2}}, hoverinfo="skip"))
    fig = _layout(fig, title, x_title, "Rate (%)", percent=True,
                  subtitle="hollow: the open period (can still change)" if (~done).any() else None)
    _time_axis(fig, x, grain)
    return annotate(fig, annotations, x)


PARETO_TICKS = [0, 0.25, 0.5, 0.75, 1.0]


def pareto(df: pd.DataFrame, category: str, count: str, title: str, x_title: str,
           count_title: str = "Orders") -> go.Figure:
    """Bars sorted by count with the cumulative share on a second axis (ticks at round percentages)."""
    df = df.sort_values(count, ascending=False)
    cumulative = df[count].cumsum() / max(df[count].sum(), 1)
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Bar(x=df[category].astype(str), y=df[count], name=count_title.lower(),
                         marker={"color": PRIMARY}, texttemplate="%{y:,}", textposition="inside",
                         insidetextanchor="end"), secondary_y=False)
    fig.add_trace(go.Scatter(x=df[category].astype(str), y=cumulative, name="cumulative share",
                             mode="lines+markers", line={"color": ACCENT}, hovertemplate="%{y:.1%}"),
                  secondary_y=True)
    _layout(fig, title, x_title, count_title)
    fig.update_layout(margin={"r": 64}, hovermode="x unified")
    fig.update_yaxes(rangemode="tozero", secondary_y=False)
    _count_axis(fig, df[count], secondary_y=False)
    fig.update_yaxes(title_text="Cumulative share (%)", tickformat=".0%", range=[0, 1.05], tickmode="array",
                     tickvals=PARETO_TICKS, showgrid=False, secondary_y=True)
    return fig
