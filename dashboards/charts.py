"""Pure Plotly figure builders: DataFrame in, figure out. Every chart has a title, labelled axes,
and percentages formatted as percentages. Incomplete cohorts are drawn hollow and named in the legend.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

PRIMARY = "#4C5FD5"
SECONDARY = "#9AA5B1"
ACCENT = "#E8833A"
TARGET = "#2E9E5B"
HEIGHT = 320


def _layout(fig: go.Figure, title: str, x_title: str, y_title: str, percent: bool = False,
            height: int = HEIGHT) -> go.Figure:
    fig.update_layout(
        title={"text": title}, height=height, margin={"l": 60, "r": 20, "t": 60, "b": 50},
        legend={"orientation": "h", "y": -0.25}, hovermode="x unified",
    )
    fig.update_xaxes(title_text=x_title)
    fig.update_yaxes(title_text=y_title, tickformat=".0%" if percent else ",", rangemode="tozero")
    return fig


def kpi_trend(df: pd.DataFrame, column: str, label: str, kind: str, period_title: str,
              complete: pd.Series, target: float | None = None) -> go.Figure:
    """A KPI over periods; incomplete cohorts / open periods hollow and dotted; target as a line."""
    fig = go.Figure()
    x = pd.to_datetime(df["period_start"])
    y = df[column].astype(float)
    fmt = "%{y:.1%}" if kind == "rate" else ("%{y:.1f} h" if kind == "hours" else "%{y:,}")
    fig.add_trace(go.Scatter(x=x, y=y, mode="lines", line={"color": PRIMARY}, showlegend=False,
                             hoverinfo="skip", connectgaps=False))
    done = complete.to_numpy(dtype=bool)
    fig.add_trace(go.Scatter(x=x[done], y=y[done], mode="markers", name="complete",
                             marker={"color": PRIMARY, "size": 7}, hovertemplate=fmt))
    fig.add_trace(go.Scatter(x=x[~done], y=y[~done], mode="markers", name="incomplete (can still change)",
                             marker={"color": "white", "size": 8, "line": {"color": PRIMARY, "width": 2}},
                             hovertemplate=fmt + " (incomplete)"))
    if target is not None:
        fig.add_hline(y=target, line={"color": TARGET, "dash": "dash"}, annotation_text="target",
                      annotation_position="top left")
    unit = {"rate": f"{label} (%)", "hours": f"{label} (hours)", "count": label}[kind]
    return _layout(fig, f"{label} by {period_title}", f"{period_title.capitalize()} starting", unit,
                   percent=kind == "rate", height=280)


def funnel(table: pd.DataFrame, title: str) -> go.Figure:
    """The six steps with counts, % of the previous step and % of the start."""
    fig = go.Figure(go.Funnel(
        y=table["step_name"], x=table["checkouts"], textinfo="value+percent previous+percent initial",
        texttemplate="%{value:,} · %{percentInitial:.1%}", textposition="inside",
        hovertemplate="%{y}: %{value:,}<br>%{percentPrevious:.1%} of previous step<br>"
                      "%{percentInitial:.1%} of start<extra></extra>",
        marker={"color": PRIMARY}, connector={"line": {"color": SECONDARY}},
    ))
    fig = _layout(fig, title + " (count · % of start)", "Checkouts reaching the step", "Funnel step", height=380)
    fig.update_layout(hovermode="closest")
    return fig


def cohort_conversion(df: pd.DataFrame, period_title: str, complete: pd.Series) -> go.Figure:
    """Conversion per cohort with its 95% Wilson band; incomplete cohorts hollow."""
    x = pd.to_datetime(df["period_start"])
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=x, y=df["ci_high"], mode="lines", line={"width": 0}, showlegend=False,
                             hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=x, y=df["ci_low"], mode="lines", line={"width": 0}, fill="tonexty",
                             fillcolor="rgba(76,95,213,0.18)", name="95% Wilson interval",
                             hoverinfo="skip"))
    done = complete.to_numpy(dtype=bool)
    fig.add_trace(go.Scatter(x=x, y=df["rate"], mode="lines", line={"color": PRIMARY}, showlegend=False,
                             hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=x[done], y=df["rate"][done], mode="markers", name="complete cohort",
                             marker={"color": PRIMARY, "size": 7}, hovertemplate="%{y:.1%}"))
    fig.add_trace(go.Scatter(x=x[~done], y=df["rate"][~done], mode="markers",
                             name="incomplete cohort (can still rise)",
                             marker={"color": "white", "size": 8, "line": {"color": PRIMARY, "width": 2}},
                             hovertemplate="%{y:.1%} (incomplete)"))
    return _layout(fig, f"Checkout conversion by {period_title} cohort, with 95% interval",
                   f"Cohort ({period_title} of checkout start)", "Conversion (%)", percent=True)


def bars(df: pd.DataFrame, x: str, y: str, title: str, x_title: str, y_title: str,
         percent: bool = False, color: str | None = None, horizontal: bool = False) -> go.Figure:
    fig = go.Figure()
    fmt = "%{y:.1%}" if percent else "%{y:,}"
    if color:
        for i, (name, g) in enumerate(df.groupby(color, sort=True)):
            fig.add_trace(go.Bar(x=g[x], y=g[y], name=str(name), hovertemplate=fmt))
        fig.update_layout(barmode="stack")
    elif horizontal:
        fig.add_trace(go.Bar(x=df[y], y=df[x].astype(str), orientation="h", marker={"color": PRIMARY},
                             texttemplate="%{x:.1%}" if percent else "%{x:,}", textposition="auto"))
        fig = _layout(fig, title, y_title, x_title)
        fig.update_xaxes(tickformat=".0%" if percent else ",")
        fig.update_yaxes(tickformat="", autorange="reversed")
        return fig
    else:
        fig.add_trace(go.Bar(x=df[x].astype(str) if df[x].dtype == object else df[x], y=df[y],
                             marker={"color": PRIMARY}, hovertemplate=fmt,
                             texttemplate="%{y:.1%}" if percent else "%{y:,}", textposition="auto"))
    return _layout(fig, title, x_title, y_title, percent=percent)


def rate_by_segment(df: pd.DataFrame, segment: str, title: str, x_title: str) -> go.Figure:
    """Rates per segment with their 95% Wilson interval as error bars."""
    fig = go.Figure(go.Bar(
        x=df[segment].astype(str), y=df["rate"], marker={"color": PRIMARY},
        error_y={"type": "data", "symmetric": False, "array": df["ci_high"] - df["rate"],
                 "arrayminus": df["rate"] - df["ci_low"]},
        texttemplate="%{y:.1%}", textposition="outside", hovertemplate="%{y:.1%}",
    ))
    return _layout(fig, title, x_title, "Rate (%) with 95% interval", percent=True)


def rates_over_time(df: pd.DataFrame, series: dict[str, str], title: str, x_title: str) -> go.Figure:
    fig = go.Figure()
    x = pd.to_datetime(df["period_start"])
    for column, name in series.items():
        fig.add_trace(go.Scatter(x=x, y=df[column], mode="lines+markers", name=name, hovertemplate="%{y:.1%}"))
    return _layout(fig, title, x_title, "Rate (%)", percent=True)


def pareto(df: pd.DataFrame, category: str, count: str, title: str, x_title: str) -> go.Figure:
    """Bars sorted by count with the cumulative share on a second axis."""
    df = df.sort_values(count, ascending=False)
    cumulative = df[count].cumsum() / max(df[count].sum(), 1)
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Bar(x=df[category].astype(str), y=df[count], name="orders", marker={"color": PRIMARY},
                         texttemplate="%{y:,}", textposition="auto"), secondary_y=False)
    fig.add_trace(go.Scatter(x=df[category].astype(str), y=cumulative, name="cumulative share",
                             mode="lines+markers", line={"color": ACCENT}, hovertemplate="%{y:.1%}"),
                  secondary_y=True)
    fig.update_layout(title={"text": title}, height=HEIGHT, margin={"l": 60, "r": 60, "t": 60, "b": 50},
                      legend={"orientation": "h", "y": -0.25})
    fig.update_xaxes(title_text=x_title)
    fig.update_yaxes(title_text="Orders", tickformat=",", secondary_y=False, rangemode="tozero")
    fig.update_yaxes(title_text="Cumulative share (%)", tickformat=".0%", range=[0, 1.05], secondary_y=True)
    return fig
