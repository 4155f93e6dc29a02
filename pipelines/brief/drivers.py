"""What drove a rate's change between two weeks: its change split across one dimension at a time.

A rate is a weighted mean of its segments' rates: R = sum_s w_s r_s, with w_s the segment's share of
the denominator. Between week 0 and week 1 each segment contributes w1 r1 - w0 r0, split
symmetrically (a Shapley split of the two factors) into
- the **rate effect** (r1 - r0) (w0 + w1) / 2: the segment's own rate changed, and
- the **mix effect** (w1 - w0) (r0 + r1) / 2: the segment's share of the denominator changed,
which add up to the segment's contribution; the contributions of one dimension add up to R1 - R0. A
segment present in one week only has the rate it has there in both (its contribution is all mix).

The segments come from the rows the KPI counts (`KPI_UNITS`: the rows of fct_checkouts or fct_orders
behind the numerator and denominator of marts.kpi_weekly, a test holds the two equal), grouped in
one set-based query over the published copy per KPI.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb

from pipelines.core.dimensions import SEGMENTS

UNKNOWN = "(unknown)"


@dataclass(frozen=True)
class KpiUnits:
    """The rows a rate KPI counts: `source` (FROM ... with any join, aliases `u` and `c`), the date
    that places a row in a week, which rows are in the denominator and which of them in the numerator,
    and how each dimension reads on them."""

    source: str
    dated: str
    denominator: str
    numerator: str
    dimensions: dict[str, str]


# Each segment dimension (pipelines/core/dimensions.py) on each fact; an order's segments that
# fct_orders lacks (country, device) are those of its checkout (sales and reseller orders have none).
_CHECKOUT_DIMENSIONS = {d.name: d.checkouts for d in SEGMENTS}
_ORDER_DIMENSIONS = {d.name: d.orders or f"c.{d.name}" for d in SEGMENTS}
_FROM_CHECKOUT = ", ".join(f"{d.checkouts} AS {d.name}" for d in SEGMENTS if d.orders is None)
_CHECKOUTS = "marts.fct_checkouts AS u"
_ORDERS = (f"marts.fct_orders AS u LEFT JOIN (SELECT checkout_id, {_FROM_CHECKOUT} FROM marts.fct_checkouts) AS c "
           "ON c.checkout_id = u.checkout_id")

# Per rate KPI of the registry: the rows behind its numerator and denominator in macros/kpi_table.sql.
KPI_UNITS: dict[str, KpiUnits] = {
    "checkout_conversion_rate": KpiUnits(_CHECKOUTS, "u.started_at", "TRUE", "u.converted", _CHECKOUT_DIMENSIONS),
    "first_order_conversion_rate": KpiUnits(
        _CHECKOUTS, "u.started_at", "u.is_new_customer", "u.converted", _CHECKOUT_DIMENSIONS),
    "self_service_first_order_share": KpiUnits(
        _ORDERS, "u.created_at", "u.is_placed AND u.is_first_order", "u.is_self_service", _ORDER_DIMENSIONS),
    "manual_intervention_rate": KpiUnits(
        _ORDERS, "u.created_at", "u.is_self_service", "u.manual_intervention", _ORDER_DIMENSIONS),
    "first_order_manual_intervention_rate": KpiUnits(
        _ORDERS, "u.created_at", "u.is_self_service AND u.is_first_order", "u.manual_intervention",
        _ORDER_DIMENSIONS),
}


@dataclass(frozen=True)
class Driver:
    dimension: str
    segment: str
    before_denominator: int
    before_rate: float | None  # None: the segment had no row that week
    after_denominator: int
    after_rate: float | None
    rate_effect: float
    mix_effect: float

    @property
    def contribution(self) -> float:
        return self.rate_effect + self.mix_effect


def units_sql(units: KpiUnits) -> str:
    """The KPI's rows of two weeks (parameters: before, after, as Monday dates) with a 0/1 numerator
    and every dimension, NULL read as UNKNOWN."""
    dimensions = ", ".join(f"coalesce(({expression})::VARCHAR, '{UNKNOWN}') AS {name}"
                           for name, expression in units.dimensions.items())
    return (
        f"SELECT date_trunc('week', {units.dated})::DATE AS week, ({units.numerator})::INTEGER AS numerator, "
        f"{dimensions} FROM {units.source} "
        f"WHERE ({units.denominator}) AND (({units.dated} >= $before AND {units.dated} < $before + INTERVAL 7 DAY) "
        f"OR ({units.dated} >= $after AND {units.dated} < $after + INTERVAL 7 DAY))"
    )


def drivers(con: duckdb.DuckDBPyConnection, kpi_name: str, before: date, after: date) -> list[Driver]:
    """Every segment of every dimension with its rate and mix effect from week `before` to week
    `after`, the segments explaining most of the change first (largest contribution in the direction
    of the change, then the rest by size). Empty when either week has no row in the denominator."""
    units = KPI_UNITS[kpi_name]
    names = ", ".join(units.dimensions)
    rows = con.execute(
        f"""
        WITH units AS ({units_sql(units)}),
        long AS (UNPIVOT units ON {names} INTO NAME dimension VALUE segment),
        segments AS (
            SELECT dimension, segment,
                   count(*) FILTER (WHERE week = $before) AS n0, sum(numerator) FILTER (WHERE week = $before) AS x0,
                   count(*) FILTER (WHERE week = $after) AS n1, sum(numerator) FILTER (WHERE week = $after) AS x1
            FROM long GROUP BY dimension, segment
        ),
        shares AS (
            SELECT *, n0 / sum(n0) OVER (PARTITION BY dimension) AS w0, n1 / sum(n1) OVER (PARTITION BY dimension) AS w1,
                   CASE WHEN n0 > 0 THEN x0 / n0 END AS r0, CASE WHEN n1 > 0 THEN x1 / n1 END AS r1
            FROM segments
            -- a dimension with one segment (all new customers, say) splits nothing
            QUALIFY count(*) OVER (PARTITION BY dimension) > 1
        ),
        effects AS (
            SELECT *, (coalesce(r1, r0) - coalesce(r0, r1)) * (w0 + w1) / 2 AS rate_effect,
                      (w1 - w0) * (coalesce(r0, r1) + coalesce(r1, r0)) / 2 AS mix_effect
            FROM shares
        ),
        total AS (SELECT sign(sum(x1) / sum(n1) - sum(x0) / sum(n0)) AS direction FROM segments
                  WHERE dimension = '{next(iter(units.dimensions))}' HAVING sum(n0) > 0 AND sum(n1) > 0)
        SELECT dimension, segment, n0, r0, n1, r1, rate_effect, mix_effect
        FROM effects, total
        ORDER BY (rate_effect + mix_effect) * CASE WHEN direction = 0 THEN 1 ELSE direction END DESC,
                 abs(rate_effect + mix_effect) DESC, array_position([{", ".join(f"'{n}'" for n in units.dimensions)}],
                 dimension), segment
        """,
        {"before": before, "after": after},
    ).fetchall()
    return [Driver(d, s, int(n0), r0, int(n1), r1, float(rate), float(mix)) for d, s, n0, r0, n1, r1, rate, mix in rows]
