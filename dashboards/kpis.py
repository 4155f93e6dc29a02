"""Pure computations behind the pages: KPI cards, period choice, funnel tables, significance flags.

No Streamlit here: everything is a function of DataFrames, unit-testable. The statistics are the
spec's ("Uncertainty and movement"), from pipelines.core.stats.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.stats  # noqa: F401  (imported here, once, so no page pays for it on first use)

from pipelines.core.kpis import KPI_BY_NAME, KPIS, MISSING, Kpi, format_value  # noqa: F401  (the pages' vocabulary)
from pipelines.core.stats import MOVEMENT_LEVEL, two_proportion_test, wilson_interval


def period_label(start: dt.date, grain: str) -> str:
    if grain == "month":
        return start.strftime("%B %Y")
    if grain == "week":
        iso = start.isocalendar()
        return f"week {iso.week} of {iso.year} (from {start.isoformat()})"
    return start.isoformat()


def fmt_delta(delta, unit: str) -> str | None:
    """A change as people read it: +1.2 pp, -9 min, +1.5 h, +1,234; None when there is none."""
    if delta is None or (isinstance(delta, float) and math.isnan(delta)):
        return None
    if unit == "rate":
        return f"{delta * 100:+.1f} pp"
    if unit == "hours":
        return f"{delta * 60:+.0f} min" if round(abs(delta) * 60) < 60 else f"{delta:+.1f} h"
    return f"{int(delta):+,}"


@dataclass(frozen=True)
class Delta:
    """What a card shows of the change against the period before (st.metric's delta arguments)."""

    text: str | None
    color: str  # st.metric delta_color
    arrow: str  # st.metric delta_arrow


NO_CHANGE = "no change"


def card_delta(delta, kpi: Kpi) -> Delta:
    """The change, coloured by the KPI's direction; a change that rounds to zero as shown ("+0.0 pp")
    reads "no change", grey and without an arrow."""
    text = fmt_delta(delta, kpi.unit)
    if text is None:
        return Delta(None, "off", "off")
    if not any(digit in text for digit in "123456789"):
        return Delta(NO_CHANGE, "off", "off")
    return Delta(text, "inverse" if kpi.direction == "lower_is_better" else "normal", "auto")


def card_help(kpi: Kpi) -> str:
    """The "?" of a KPI card: the registry's definition, which way is good and which period is shown."""
    better = "Higher is better." if kpi.direction == "higher_is_better" else "Lower is better."
    which = ("Shown for the latest complete cohort (checkouts started in the period, all past the "
             "conversion window)." if kpi.dated_by == "cohort"
             else "Shown for the latest closed period (orders created in it).")
    return f"{kpi.definition}\n\n{better} {which}"


def partial_periods(period_start: pd.Series, grain: str, start: dt.date, end: dt.date) -> pd.Series:
    """Whether each period (week from Monday, month) has days outside the selected [start, end]: its
    count covers only part of it."""
    first = pd.to_datetime(period_start)
    last = first + (pd.offsets.MonthEnd(0) if grain == "month" else pd.Timedelta(days=6 if grain == "week" else 0))
    return pd.Series((first < pd.Timestamp(start)) | (last > pd.Timestamp(end)), index=period_start.index)


@dataclass
class Card:
    kpi: Kpi
    period_start: dt.date | None
    value: float | None
    previous_start: dt.date | None
    previous: float | None
    delta: float | None
    target: float | None
    on_track: bool | None
    moved: bool | None  # None: no verdict (not a rate, or too few)
    complete: bool  # cohort complete / period closed


def _num(v) -> float | None:
    if v is None or v is pd.NA:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def latest_index(df: pd.DataFrame, kpi: Kpi) -> int | None:
    """Row of "the latest week/month" of a KPI: latest complete cohort, or latest closed period."""
    idx = df.index[df[kpi.final_column].fillna(False).astype(bool).to_numpy()]
    return int(idx[-1]) if len(idx) else None


def build_card(df: pd.DataFrame, kpi: Kpi, grain: str, targets: pd.DataFrame) -> Card:
    df = df.reset_index(drop=True)
    i = latest_index(df, kpi)
    t = targets[(targets.kpi_name == kpi.name) & (targets.grain == grain)] if len(targets) else targets
    target = _num(t.target.iloc[0]) if len(t) else None
    if i is None:
        return Card(kpi, None, None, None, None, None, target, None, None, False)
    value = _num(df.loc[i, kpi.name])
    prev_i = i - 1 if i > 0 else None
    previous = _num(df.loc[prev_i, kpi.name]) if prev_i is not None else None
    delta = value - previous if value is not None and previous is not None else None
    on_track = None
    if value is not None and target is not None:
        on_track = value <= target if kpi.direction == "lower_is_better" else value >= target
    moved = None
    if kpi.is_rate and prev_i is not None:
        test = two_proportion_test(df.loc[i, kpi.numerator], df.loc[i, kpi.denominator],
                                   df.loc[prev_i, kpi.numerator], df.loc[prev_i, kpi.denominator],
                                   level=MOVEMENT_LEVEL)
        moved = bool(test.significant) if bool(test.has_verdict) else None
    return Card(kpi, df.loc[i, "period_start"], value,
                df.loc[prev_i, "period_start"] if prev_i is not None else None, previous, delta,
                target, on_track, moved, True)


def funnel_table(totals: dict[str, int], steps: list[tuple[int, str, str]]) -> pd.DataFrame:
    """Counts per step with conversion from the previous step and from the start, and drop-off."""
    counts = np.array([totals[col] for _, _, col in steps], dtype=float)
    prev = np.concatenate([[np.nan], counts[:-1]])
    with np.errstate(invalid="ignore", divide="ignore"):
        from_prev = np.where(prev > 0, counts / prev, np.nan)
        from_start = np.where(counts[0] > 0, counts / counts[0], np.nan)
    from_prev[0] = np.nan if counts[0] == 0 else 1.0
    drop = np.concatenate([[0], prev[1:] - counts[1:]])
    return pd.DataFrame({
        "step_number": [n for n, _, _ in steps],
        "step_name": [s for _, s, _ in steps],
        "checkouts": counts.astype(int),
        "conversion_from_previous": from_prev,
        "conversion_from_start": from_start,
        "drop_off": drop.astype(int),
    })


def with_wilson(df: pd.DataFrame, successes: str, trials: str, prefix: str = "") -> pd.DataFrame:
    df = df.copy()
    s = df[successes].to_numpy(dtype=float)
    n = df[trials].to_numpy(dtype=float)
    lo, hi = wilson_interval(s, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        df[f"{prefix}rate"] = np.where(n > 0, s / np.where(n > 0, n, 1), np.nan)
    df[f"{prefix}ci_low"] = lo
    df[f"{prefix}ci_high"] = hi
    return df


def breakdown_table(df: pd.DataFrame, successes: str = "reached", trials: str = "checkouts_started") -> pd.DataFrame:
    """Each segment's rate with its 95% Wilson interval, tested (pooled z, 95%) against the rest."""
    out = with_wilson(df, successes, trials)
    s = out[successes].to_numpy(dtype=float)
    n = out[trials].to_numpy(dtype=float)
    rest_s, rest_n = s.sum() - s, n.sum() - n
    test = two_proportion_test(s, n, rest_s, rest_n, level=0.95)
    with np.errstate(invalid="ignore", divide="ignore"):
        rest_rate = np.where(rest_n > 0, rest_s / np.where(rest_n > 0, rest_n, 1), np.nan)
    out["rest_rate"] = rest_rate
    out["p_value"] = np.where(test.has_verdict, test.p_value, np.nan)
    out["verdict"] = np.select(
        [~test.has_verdict, test.significant & (out["rate"].to_numpy() > rest_rate), test.significant],
        ["too few to tell", "higher than the rest", "lower than the rest"],
        default="no significant difference",
    )
    return out
