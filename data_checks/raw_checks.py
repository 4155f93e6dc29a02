"""Checks of the raw tables: the contract the ingestion enforces (error), drift of optional values,
freshness and checkouts without a start (warnings)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from data_checks.check import (
    ERROR,
    NEW_KEYS,
    NEW_ROWS,
    WARNING,
    Check,
    CheckParams,
    gxe,
    in_key_range,
    in_list,
    rows_expectation,
    timestamp_literal,
    unique_in_history,
)
from pipelines.core.contract import CHECKOUT_EVENTS, ORDERS, Source


# The contract's allowed sets and columns, from the one place that defines them.
def _allowed(source: Source, column: str) -> list[str]:
    return list(next(c for c in source.columns if c.name == column).allowed)


EVENT_NAMES = _allowed(CHECKOUT_EVENTS, "event_name")
CHANNELS = _allowed(ORDERS, "channel")
ORDER_TYPES = _allowed(ORDERS, "order_type")
STATUSES = _allowed(ORDERS, "status")
PLANS = _allowed(CHECKOUT_EVENTS, "plan")
DEPLOYMENTS = _allowed(CHECKOUT_EVENTS, "deployment")
DEVICES = _allowed(CHECKOUT_EVENTS, "device")
# The contract names these as examples, not a closed list: unknown ones are drift, not errors.
INTERVENTION_REASONS = [
    "payment_issue",
    "tax_exemption",
    "invoice_request",
    "provisioning_error",
    "quote_required",
    "other",
]

EVENT_REQUIRED = list(CHECKOUT_EVENTS.required)
EVENT_COLUMNS = list(CHECKOUT_EVENTS.column_names)
# updated_at is never null in raw: it defaults to created_at on load.
ORDER_REQUIRED = [*ORDERS.required, "updated_at"]
ORDER_COLUMNS = list(ORDERS.column_names)

# A timestamp may lie at most this far after the moment its file was loaded (the contract's rule).
FUTURE_TOLERANCE = "INTERVAL 1 DAY"


# ---------------------------------------------------------------- raw.checkout_events
def _events_drift_query() -> str:
    return f"""
        SELECT 'plan' AS column_name, plan AS value, count(*) AS rows FROM {{batch}}
         WHERE plan IS NOT NULL AND plan NOT IN ({in_list(PLANS)}) GROUP BY plan
        UNION ALL
        SELECT 'deployment', deployment, count(*) FROM {{batch}}
         WHERE deployment IS NOT NULL AND deployment NOT IN ({in_list(DEPLOYMENTS)}) GROUP BY deployment
        UNION ALL
        SELECT 'device', device, count(*) FROM {{batch}}
         WHERE device IS NOT NULL AND device NOT IN ({in_list(DEVICES)}) GROUP BY device
        UNION ALL
        SELECT 'country', country, count(*) FROM {{batch}}
         WHERE country IS NOT NULL AND NOT regexp_full_match(country, '[A-Z][A-Z]') GROUP BY country
        UNION ALL
        SELECT 'error_code', event_name || ': ' || error_code, count(*) FROM {{batch}}
         WHERE error_code IS NOT NULL AND event_name <> 'payment_failed' GROUP BY event_name, error_code
        ORDER BY column_name, rows DESC, value
    """


def _orders_drift_query() -> str:
    return f"""
        SELECT 'plan' AS column_name, plan AS value, count(*) AS rows FROM {{batch}}
         WHERE plan IS NOT NULL AND plan NOT IN ({in_list(PLANS)}) GROUP BY plan
        UNION ALL
        SELECT 'deployment', deployment, count(*) FROM {{batch}}
         WHERE deployment IS NOT NULL AND deployment NOT IN ({in_list(DEPLOYMENTS)}) GROUP BY deployment
        UNION ALL
        SELECT 'intervention_reason', intervention_reason, count(*) FROM {{batch}}
         WHERE intervention_reason IS NOT NULL AND intervention_reason NOT IN ({in_list(INTERVENTION_REASONS)})
         GROUP BY intervention_reason
        UNION ALL
        SELECT 'intervention_reason without manual_intervention', intervention_reason, count(*) FROM {{batch}}
         WHERE intervention_reason IS NOT NULL AND NOT manual_intervention GROUP BY intervention_reason
        ORDER BY column_name, rows DESC, value
    """


def _future_query(columns: list[str]) -> Callable[[CheckParams], list]:
    def build(p: CheckParams) -> list:
        conditions = " OR ".join(
            f"{c} > _loaded_at + {FUTURE_TOLERANCE} OR {c} > {timestamp_literal(p.now)} + {FUTURE_TOLERANCE}" for c in columns
        )
        return [rows_expectation(f"SELECT * FROM {{batch}} WHERE {conditions}")]

    return build


def _checkouts_without_start(p: CheckParams) -> list:
    """Checkouts with no checkout_started event. Scoped to loads: only the checkouts the new rows touch,
    with all their events (history probed with the new checkout_ids, within their range), since a
    checkout's events may arrive in several loads."""
    having = "HAVING count(*) FILTER (WHERE event_name = 'checkout_started') = 0 ORDER BY first_event, checkout_id"
    if p.loads is None:
        return [
            rows_expectation(f"SELECT checkout_id, count(*) AS events, min(event_time) AS first_event FROM {{batch}} "
                  f"GROUP BY checkout_id {having}")
        ]
    return [
        rows_expectation(
            "SELECT h.checkout_id, count(*) AS events, min(h.event_time) AS first_event FROM raw.checkout_events h "
            f"SEMI JOIN {{batch}} n ON h.checkout_id = n.checkout_id "
            f"WHERE {in_key_range(p, 'raw.checkout_events', 'checkout_id', 'h')} GROUP BY h.checkout_id {having}"
        )
    ]


RAW_CHECKS = [
    Check(
        "raw_events_required_columns", "raw/checkout_events", "raw.checkout_events", ERROR,
        "raw.checkout_events has every column of the contract",
        "columns include " + ", ".join(EVENT_COLUMNS),
        lambda p: [gxe.ExpectTableColumnsToMatchSet(column_set=EVENT_COLUMNS, exact_match=False)],
    ),
    Check(
        "raw_events_required_not_null", "raw/checkout_events", "raw.checkout_events", ERROR,
        "required event columns are never null",
        "0 nulls in " + ", ".join(EVENT_REQUIRED),
        lambda p: [gxe.ExpectColumnValuesToNotBeNull(column=c) for c in EVENT_REQUIRED],
        scope=NEW_ROWS,
    ),
    Check(
        "raw_events_allowed_values", "raw/checkout_events", "raw.checkout_events", ERROR,
        "event_name is one of the contract's six events",
        "event_name in " + ", ".join(EVENT_NAMES),
        lambda p: [gxe.ExpectColumnValuesToBeInSet(column="event_name", value_set=EVENT_NAMES)],
        scope=NEW_ROWS,
    ),
    Check(
        "raw_events_seats_in_range", "raw/checkout_events", "raw.checkout_events", ERROR,
        "seats is 1 or more where set",
        "seats >= 1",
        lambda p: [gxe.ExpectColumnValuesToBeBetween(column="seats", min_value=1)],
        scope=NEW_ROWS,
    ),
    Check(
        "raw_events_event_id_unique", "raw/checkout_events", "raw.checkout_events", ERROR,
        "event_id is unique (repeated deliveries are dropped on load)",
        "0 duplicated event_id",
        unique_in_history("raw.checkout_events", "event_id"),
        scope=NEW_KEYS,
    ),
    Check(
        "raw_events_no_future_timestamps", "raw/checkout_events", "raw.checkout_events", ERROR,
        "no event_time more than 1 day after its load or after now",
        "event_time <= least(_loaded_at, now) + 1 day",
        _future_query(["event_time"]),
        scope=NEW_ROWS,
    ),
    Check(
        "raw_events_optional_value_drift", "raw/checkout_events", "raw.checkout_events", WARNING,
        "optional columns hold only known values (plan, deployment, device, country, error_code)",
        f"plan in ({', '.join(PLANS)}), deployment in ({', '.join(DEPLOYMENTS)}), device in "
        f"({', '.join(DEVICES)}), country two upper-case letters, error_code only on payment_failed",
        lambda p: [rows_expectation(_events_drift_query())],
        scope=NEW_ROWS,
    ),
    Check(
        "raw_events_checkouts_without_start", "raw/checkout_events", "raw.checkout_events", WARNING,
        "checkouts with events but no checkout_started event (left out of the funnel)",
        "0 checkouts without checkout_started",
        _checkouts_without_start,
        scope=NEW_KEYS,
    ),
    Check(
        "raw_events_freshness", "raw/checkout_events", "raw.checkout_events", WARNING,
        "the newest event is recent",
        "newest event_time within the freshness age (hours)",
        lambda p: [
            rows_expectation(
                "SELECT max(event_time) AS newest_event_time FROM {batch} HAVING max(event_time) IS NULL "
                f"OR max(event_time) < {timestamp_literal(p.now - timedelta(hours=p.freshness_hours))}"
            )
        ],
        observe_sql=lambda p: (
            "SELECT coalesce(strftime(max(event_time), '%Y-%m-%dT%H:%M:%SZ') || ' (' || "
            f"round(epoch({timestamp_literal(p.now)} - max(event_time)) / 3600.0, 1) || ' h old)', 'no events') "
            "FROM raw.checkout_events"
        ),
    ),
    # ------------------------------------------------------------ raw.orders
    Check(
        "raw_orders_required_columns", "raw/orders", "raw.orders", ERROR,
        "raw.orders has every column of the contract",
        "columns include " + ", ".join(ORDER_COLUMNS),
        lambda p: [gxe.ExpectTableColumnsToMatchSet(column_set=ORDER_COLUMNS, exact_match=False)],
    ),
    Check(
        "raw_orders_required_not_null", "raw/orders", "raw.orders", ERROR,
        "required order columns are never null",
        "0 nulls in " + ", ".join(ORDER_REQUIRED),
        lambda p: [gxe.ExpectColumnValuesToNotBeNull(column=c) for c in ORDER_REQUIRED],
        scope=NEW_ROWS,
    ),
    Check(
        "raw_orders_allowed_values", "raw/orders", "raw.orders", ERROR,
        "channel, order_type and status in their sets; currency three upper-case letters",
        f"channel in ({', '.join(CHANNELS)}), order_type in ({', '.join(ORDER_TYPES)}), "
        f"status in ({', '.join(STATUSES)}), currency ~ [A-Z]{{3}}",
        lambda p: [
            gxe.ExpectColumnValuesToBeInSet(column="channel", value_set=CHANNELS),
            gxe.ExpectColumnValuesToBeInSet(column="order_type", value_set=ORDER_TYPES),
            gxe.ExpectColumnValuesToBeInSet(column="status", value_set=STATUSES),
            rows_expectation(
                "SELECT order_id, updated_at, currency FROM {batch} "
                "WHERE NOT regexp_full_match(currency, '[A-Z][A-Z][A-Z]')"
            ),
        ],
        scope=NEW_ROWS,
    ),
    Check(
        "raw_orders_seats_amount_in_range", "raw/orders", "raw.orders", ERROR,
        "seats is 1 or more where set; amount is 0 or more",
        "seats >= 1, amount >= 0",
        lambda p: [
            gxe.ExpectColumnValuesToBeBetween(column="seats", min_value=1),
            gxe.ExpectColumnValuesToBeBetween(column="amount", min_value=0),
        ],
        scope=NEW_ROWS,
    ),
    Check(
        "raw_orders_version_unique", "raw/orders", "raw.orders", ERROR,
        "(order_id, updated_at) is unique",
        "0 duplicated (order_id, updated_at)",
        unique_in_history("raw.orders", "order_id", "updated_at"),
        scope=NEW_KEYS,
    ),
    Check(
        "raw_orders_updated_not_before_created", "raw/orders", "raw.orders", ERROR,
        "updated_at >= created_at",
        "updated_at >= created_at on every row",
        lambda p: [
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A="updated_at", column_B="created_at", or_equal=True)
        ],
        scope=NEW_ROWS,
    ),
    Check(
        "raw_orders_no_future_timestamps", "raw/orders", "raw.orders", ERROR,
        "no created_at/updated_at more than 1 day after its load or after now",
        "created_at, updated_at <= least(_loaded_at, now) + 1 day",
        _future_query(["created_at", "updated_at"]),
        scope=NEW_ROWS,
    ),
    Check(
        "raw_orders_optional_value_drift", "raw/orders", "raw.orders", WARNING,
        "optional order columns hold only known values (plan, deployment, intervention_reason)",
        f"plan in ({', '.join(PLANS)}), deployment in ({', '.join(DEPLOYMENTS)}), intervention_reason in "
        f"({', '.join(INTERVENTION_REASONS)}) and only with manual_intervention",
        lambda p: [rows_expectation(_orders_drift_query())],
        scope=NEW_ROWS,
    ),
]
