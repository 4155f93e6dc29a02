"""The segment dimensions: every categorical dimension the product splits the two public facts by, in
one place.

Each has one name (the dashboard's choices and URLs, the brief's drivers, the semantic layer's
dimension), one label (what people read) and its SQL expression over the columns of each fact that
has it: `marts.fct_checkouts` (and the dashboard marts built from it, which keep its segment columns)
and `marts.fct_orders`; None when the fact does not have it. The semantic layer's YAML
(dbt_project/models/semantic/semantic_models.yml) cannot import this list: a test holds its
categorical dimensions equal to it (tests/test_dimension_registry.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Fact = Literal["checkouts", "orders"]


@dataclass(frozen=True)
class Dimension:
    name: str
    label: str  # what people read
    checkouts: str | None  # its expression over marts.fct_checkouts; None: checkouts do not have it
    orders: str | None  # its expression over marts.fct_orders; None: orders do not have it
    # Whether a population of checkouts or orders is compared across it (the dashboard's funnel
    # filters and breakdowns, the brief's drivers): who buys what, not an outcome or a count.
    segment: bool = False

    def on(self, fact: Fact) -> str | None:
        return self.checkouts if fact == "checkouts" else self.orders


DIMENSIONS: tuple[Dimension, ...] = (
    Dimension("plan", "Plan", "plan", "plan", segment=True),
    Dimension("deployment", "Deployment", "deployment", "deployment", segment=True),
    Dimension("country", "Country", "country", None, segment=True),
    Dimension("device", "Device", "device", None, segment=True),
    # new: a checkout with no placed order created before its start / a customer's first order
    Dimension("customer_type", "New vs returning customers",
              "case when is_new_customer then 'new' else 'returning' end",
              "case when is_first_order then 'new' else 'returning' end", segment=True),
    Dimension("seats", "Seats", "seats", "seats"),
    Dimension("reached_step", "Last step reached", "reached_step", None),
    Dimension("channel", "Channel", None, "channel"),
    Dimension("order_type", "Order type", None, "order_type"),
    Dimension("intervention_reason", "Intervention reason", None, "intervention_reason"),
    Dimension("status", "Order status", None, "status"),
)
DIMENSION_BY_NAME: dict[str, Dimension] = {d.name: d for d in DIMENSIONS}
SEGMENTS: tuple[Dimension, ...] = tuple(d for d in DIMENSIONS if d.segment)


def of(fact: Fact) -> tuple[Dimension, ...]:
    """The dimensions `fact` has."""
    return tuple(d for d in DIMENSIONS if d.on(fact) is not None)
