"""The input contract (docs/input-contract.md) as data: sources, columns, types and allowed values.

Validation SQL is generated from these definitions, so a rule lives in exactly one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["string", "timestamp", "integer", "decimal", "boolean", "currency"]


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind = "string"
    required: bool = False
    # For required columns a value outside this set rejects the row; optional columns keep
    # unknown values (a data check reports them).
    allowed: tuple[str, ...] = ()
    minimum: int | None = None


@dataclass(frozen=True)
class Source:
    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    suffixes: tuple[str, ...]
    # Columns present in a file but never stored (personal data).
    dropped: tuple[str, ...] = ()

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


EVENT_NAMES = (
    "checkout_started",
    "subscription_details_completed",
    "billing_address_completed",
    "payment_method_completed",
    "order_submitted",
    "payment_failed",
)

CHECKOUT_EVENTS = Source(
    name="checkout_events",
    columns=(
        Column("event_id", required=True),
        Column("event_name", required=True, allowed=EVENT_NAMES),
        Column("event_time", "timestamp", required=True),
        Column("checkout_id", required=True),
        Column("customer_id", required=True),
        Column("plan", allowed=("premium", "ultimate")),
        Column("deployment", allowed=("saas", "self_managed")),
        Column("seats", "integer", minimum=1),
        Column("country"),
        Column("device", allowed=("desktop", "mobile", "tablet")),
        Column("error_code"),
    ),
    key=("event_id",),
    suffixes=(".jsonl", ".jsonl.gz", ".parquet"),
    dropped=("customer_email",),
)

ORDERS = Source(
    name="orders",
    columns=(
        Column("order_id", required=True),
        Column("customer_id", required=True),
        Column("checkout_id"),
        Column("created_at", "timestamp", required=True),
        Column("updated_at", "timestamp"),
        Column("channel", required=True, allowed=("web_direct", "sales_assisted", "reseller")),
        Column("order_type", required=True, allowed=("new_subscription", "renewal", "add_seats", "upgrade")),
        Column("status", required=True, allowed=("completed", "refunded", "failed", "cancelled")),
        Column("plan", allowed=("premium", "ultimate")),
        Column("deployment", allowed=("saas", "self_managed")),
        Column("seats", "integer", minimum=1),
        Column("amount", "decimal", required=True, minimum=0),
        Column("currency", "currency", required=True),
        Column("manual_intervention", "boolean", required=True),
        Column("intervention_reason"),
    ),
    key=("order_id", "updated_at"),
    suffixes=(".csv", ".parquet"),
)

SOURCES: dict[str, Source] = {s.name: s for s in (CHECKOUT_EVENTS, ORDERS)}

# A timestamp more than this long after the moment of loading is rejected.
MAX_FUTURE_SKEW = "1 day"
