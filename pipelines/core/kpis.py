"""The KPI registry: every KPI the product shows, in one place.

Everything that lists KPIs reads this list: the dashboard's cards and pages, the data checks (rates
equal numerator / denominator), the movement warning, the run report, the dbt seed of targets (a
test compares its accepted values with this list). Each KPI is a column of marts.kpi_daily /
kpi_weekly / kpi_monthly; its numerator and denominator are columns there too. The rules that
decide which period of a KPI is final are columns of the same marts (`cohort_complete`,
`period_closed`), computed once in dbt: `Kpi.final_column` names the one a KPI uses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

DatedBy = Literal["cohort", "created_at"]
Unit = Literal["rate", "count", "hours"]
Direction = Literal["higher_is_better", "lower_is_better"]


@dataclass(frozen=True)
class Kpi:
    name: str  # the column of the kpi_* marts
    label: str  # what people read
    unit: Unit
    dated_by: DatedBy  # cohort: by the checkout's start (t1); created_at: by the placed order's creation
    direction: Direction
    definition: str  # the one line users read (tooltips, report footnotes)
    numerator: str | None = None  # rates only: columns of the kpi_* marts
    denominator: str | None = None

    @property
    def final_column(self) -> str:
        """The marts' column saying a period's value is final: a complete cohort for cohort-dated
        KPIs, a closed period for the others (kpi-definitions.md, "the latest week")."""
        return "cohort_complete" if self.dated_by == "cohort" else "period_closed"

    @property
    def is_rate(self) -> bool:
        return self.unit == "rate"

    def format(self, value: float | None) -> str:
        return format_value(value, self.unit)


MISSING = "—"  # a missing value as people read it, in cards and table cells alike


def format_value(value: float | None, unit: Unit) -> str:
    """A value as people read it: 12.3%, 1,234, 9 min (below an hour), 5.2 h, 2.1 days (from 48 h on);
    MISSING when missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    if unit == "rate":
        return f"{value:.1%}"
    if unit == "hours":
        if round(value * 60) < 60:
            return f"{value * 60:.0f} min"
        return f"{value:.1f} h" if value < 48 else f"{value / 24:.1f} days"
    return f"{int(value):,}"


KPIS: tuple[Kpi, ...] = (
    Kpi("first_order_conversion_rate", "First-order conversion", "rate", "cohort", "higher_is_better",
        "Share of new-customer checkouts started in the period that placed a self-service order within "
        "the conversion window.",
        "new_customer_checkouts_converted", "new_customer_checkouts_started"),
    Kpi("checkout_conversion_rate", "Checkout conversion", "rate", "cohort", "higher_is_better",
        "Share of checkouts started in the period that placed a self-service order within the conversion "
        "window.",
        "checkouts_converted", "checkouts_started"),
    Kpi("self_service_first_order_share", "Self-service share of first orders", "rate", "created_at",
        "higher_is_better",
        "Share of customers' first orders created in the period that came through the self-service checkout.",
        "self_service_first_orders", "first_orders"),
    Kpi("manual_intervention_rate", "Manual-intervention rate", "rate", "created_at", "lower_is_better",
        "Share of self-service orders created in the period that needed a team member to step in.",
        "manual_intervention_orders", "self_service_orders"),
    Kpi("first_order_manual_intervention_rate", "First-order manual-intervention rate", "rate", "created_at",
        "lower_is_better",
        "Share of self-service first orders created in the period that needed a team member to step in.",
        "self_service_first_orders_with_intervention", "self_service_first_orders"),
    Kpi("first_orders", "First orders", "count", "created_at", "higher_is_better",
        "Customers' first placed orders (any channel) created in the period."),
    Kpi("median_hours_to_convert", "Median time to convert", "hours", "cohort", "lower_is_better",
        "Median time from a checkout's start to its self-service order, over the period's converted "
        "checkouts."),
)
KPI_BY_NAME: dict[str, Kpi] = {k.name: k for k in KPIS}
# The KPI marts, one per grain (UTC day, ISO week from Monday, month).
KPI_TABLES: dict[str, str] = {"day": "kpi_daily", "week": "kpi_weekly", "month": "kpi_monthly"}
RATE_KPIS: tuple[Kpi, ...] = tuple(k for k in KPIS if k.is_rate)
