"""Every data check, defined in code: GX 1.x expectations over the warehouse's tables.

A `Check` is one named rule on one table with one severity. Its expectations are GX 1.x
expectation objects; checks of the same table are grouped into one GX suite per run (see
`data_checks.runner`). Checks that need SQL no column expectation can say (conservation, funnel order,
period gaps, drift counts) use `UnexpectedRowsExpectation`: the query returns the offending rows, so
it runs in DuckDB and GX only receives the first rows as evidence.

Severity: "error" means the KPIs would be wrong (a raw table breaks the contract the ingestion
enforces, conservation is broken, a mart invariant is broken, keys are not unique): blocking.
"warning" means strange or late but not wrong (freshness, drift of optional values, checkouts without
a start, KPI movement): recorded and shown, never blocking.

Scope (docs/data-quality.md, "What each check reads"): raw rows are written once by the ingestion and
never change, so a check about single rows only needs the rows of the loads not yet checked
(`CheckParams.loads`, ingestion run ids = `_run_id`); key uniqueness probes the whole history with
those rows' keys; checks about a whole table read metadata, an aggregate or the small ledger.
`loads=None` (the on-demand audit, `funnel check`) reads every row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pipelines.settings  # noqa: F401  (GX analytics off before great_expectations is imported)
from pipelines.core.contract import CHECKOUT_EVENTS, ORDERS, Source
from pipelines.core.kpis import RATE_KPIS


class _ExpectationClasses:
    """`great_expectations.expectations`, imported when a check first builds its expectations.

    Importing GX takes ~2.6 s; the checks are listed (for Dagster's definitions, the docs, the CLI)
    in processes that may never run one (`dagster dev`, sensors, `funnel sql`)."""

    def __getattr__(self, name: str):
        import great_expectations.expectations

        return getattr(great_expectations.expectations, name)


gxe = _ExpectationClasses()

ERROR = "error"
WARNING = "warning"

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

KPI_COUNTS = [c for k in RATE_KPIS for c in (k.numerator, k.denominator)]
# (smaller, larger): the smaller count is a subset of the larger one.
KPI_SUBSETS = [
    ("checkouts_converted", "checkouts_started"),
    ("new_customer_checkouts_started", "checkouts_started"),
    ("new_customer_checkouts_converted", "new_customer_checkouts_started"),
    ("new_customer_checkouts_converted", "checkouts_converted"),
    ("self_service_first_orders", "first_orders"),
    ("self_service_first_orders", "self_service_orders"),
    ("manual_intervention_orders", "self_service_orders"),
    ("self_service_first_orders_with_intervention", "self_service_first_orders"),
    ("self_service_first_orders_with_intervention", "manual_intervention_orders"),
]
GRAINS = {"daily": ("day", "INTERVAL 1 DAY"), "weekly": ("week", "INTERVAL 7 DAY"), "monthly": ("month", "INTERVAL 1 MONTH")}


# What a check reads (its `scope`); the reasons per check are in docs/data-quality.md.
NEW_ROWS = "new rows"  # the rows of the loads being checked; raw rows never change once loaded
NEW_KEYS = "new keys vs history"  # the loads' keys, probed against the whole table (a semi join)
WHOLE_TABLE = "whole table"  # metadata, one aggregate, or a small table (the ledger, a mart)
LOAD_SCOPES = (NEW_ROWS, NEW_KEYS)  # the GX batch is the rows of the loads being checked


@dataclass(frozen=True)
class CheckParams:
    """What a run of the checks depends on besides the data."""

    now: datetime  # naive UTC
    freshness_hours: float = 36.0
    # The ingestion runs (raw `_run_id`, ledger `run_id`) whose rows the load-scoped checks read;
    # None: every row (the on-demand audit). `data_checks.runner.unverified_loads` says which.
    loads: tuple[str, ...] | None = None


def load_filter(loads: tuple[str, ...] | list[str] | None, column: str = "_run_id") -> str:
    """SQL condition selecting the rows of `loads` (TRUE for None: every row)."""
    if loads is None:
        return "TRUE"
    return f"{column} IN ({_in_list(sorted(loads))})" if loads else "FALSE"


@dataclass(frozen=True)
class Check:
    name: str
    asset: str  # Dagster asset key, "/"-separated
    table: str  # schema.table the check's GX batch reads
    severity: str  # ERROR or WARNING
    description: str
    expected: str
    expectations: Callable[[CheckParams], list] | None = None
    # Extra tables the check's SQL reads (besides `table`); the check reports them missing otherwise.
    reads: tuple[str, ...] = ()
    # A SQL query (one row, one column) whose value is the check's observed value; default: the count
    # of unexpected rows or values.
    observe_sql: Callable[[CheckParams], str] | None = None
    # Checks computed outside GX (statistics): fn(con, params) -> (passed, observed, details).
    custom: Callable | None = None
    tags: dict = field(default_factory=dict)
    # What the check reads: NEW_ROWS / NEW_KEYS (its GX batch is the rows of `CheckParams.loads`,
    # or the whole table when loads is None) or WHOLE_TABLE.
    scope: str = WHOLE_TABLE

    @property
    def blocking(self) -> bool:
        return self.severity == ERROR


def _in_list(values: list[str]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


def _ts(value: datetime) -> str:
    return f"TIMESTAMP '{value.strftime('%Y-%m-%d %H:%M:%S.%f')}'"


def _rows(query: str, **meta) -> gxe.UnexpectedRowsExpectation:
    """Fails when `query` (over `{batch}`) returns rows; the rows are the evidence. The query runs once
    (`UnexpectedRowsQueriedOnce`), not twice as with GX's own class."""
    from data_checks.expectations import UnexpectedRowsQueriedOnce

    return UnexpectedRowsQueriedOnce(unexpected_rows_query=query, meta=meta or None)


def _unique(*columns: str, not_null: bool = False) -> gxe.UnexpectedRowsExpectation:
    """Uniqueness as one GROUP BY in DuckDB (GX's own column-uniqueness expectation compiles to a
    NOT IN (subquery) that took ~18 s on 10M event ids). With `not_null`, a NULL key is reported by
    the same scan (its group), instead of a second expectation reading the column again."""
    cols = ", ".join(columns)
    nulls = "".join(f" OR {c} IS NULL" for c in columns) if not_null else ""
    return _rows(
        f"SELECT {cols}, count(*) AS copies FROM {{batch}} GROUP BY {cols} HAVING count(*) > 1{nulls} ORDER BY {cols}"
    )


def _unique_in_history(table: str, *columns: str) -> Callable[[CheckParams], list]:
    """Uniqueness of `columns` across the whole `table`, driven by the rows being checked.

    Whole table (loads None): one GROUP BY. Scoped to loads: the history is probed with the new keys
    only (a semi join whose hash table holds the new rows' keys; one pass over the key columns, no
    aggregate over the history), so a key repeated within the new rows, or one whose first copy was
    loaded by an earlier run, is found. Keys repeated only among old rows were found when loaded.
    """

    def build(p: CheckParams) -> list:
        if p.loads is None:
            return [_unique(*columns)]
        cols = ", ".join(f"h.{c}" for c in columns)
        on = " AND ".join(f"h.{c} = n.{c}" for c in columns)
        return [
            _rows(
                f"SELECT {cols}, count(*) AS copies FROM {table} h SEMI JOIN {{batch}} n ON {on} "
                f"GROUP BY {cols} HAVING count(*) > 1 ORDER BY {cols}"
            )
        ]

    return build


# ---------------------------------------------------------------- raw.checkout_events
def _events_drift_query() -> str:
    return f"""
        SELECT 'plan' AS column_name, plan AS value, count(*) AS rows FROM {{batch}}
         WHERE plan IS NOT NULL AND plan NOT IN ({_in_list(PLANS)}) GROUP BY plan
        UNION ALL
        SELECT 'deployment', deployment, count(*) FROM {{batch}}
         WHERE deployment IS NOT NULL AND deployment NOT IN ({_in_list(DEPLOYMENTS)}) GROUP BY deployment
        UNION ALL
        SELECT 'device', device, count(*) FROM {{batch}}
         WHERE device IS NOT NULL AND device NOT IN ({_in_list(DEVICES)}) GROUP BY device
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
         WHERE plan IS NOT NULL AND plan NOT IN ({_in_list(PLANS)}) GROUP BY plan
        UNION ALL
        SELECT 'deployment', deployment, count(*) FROM {{batch}}
         WHERE deployment IS NOT NULL AND deployment NOT IN ({_in_list(DEPLOYMENTS)}) GROUP BY deployment
        UNION ALL
        SELECT 'intervention_reason', intervention_reason, count(*) FROM {{batch}}
         WHERE intervention_reason IS NOT NULL AND intervention_reason NOT IN ({_in_list(INTERVENTION_REASONS)})
         GROUP BY intervention_reason
        UNION ALL
        SELECT 'intervention_reason without manual_intervention', intervention_reason, count(*) FROM {{batch}}
         WHERE intervention_reason IS NOT NULL AND NOT manual_intervention GROUP BY intervention_reason
        ORDER BY column_name, rows DESC, value
    """


def _future_query(columns: list[str]) -> Callable[[CheckParams], list]:
    def build(p: CheckParams) -> list:
        conditions = " OR ".join(
            f"{c} > _loaded_at + {FUTURE_TOLERANCE} OR {c} > {_ts(p.now)} + {FUTURE_TOLERANCE}" for c in columns
        )
        return [_rows(f"SELECT * FROM {{batch}} WHERE {conditions}")]

    return build


def _checkouts_without_start(p: CheckParams) -> list:
    """Checkouts with no checkout_started event. Scoped to loads: only the checkouts the new rows touch,
    with all their events (history probed with the new checkout_ids), since a checkout's events may
    arrive in several loads."""
    having = "HAVING count(*) FILTER (WHERE event_name = 'checkout_started') = 0 ORDER BY first_event, checkout_id"
    if p.loads is None:
        return [
            _rows(f"SELECT checkout_id, count(*) AS events, min(event_time) AS first_event FROM {{batch}} "
                  f"GROUP BY checkout_id {having}")
        ]
    return [
        _rows(
            "SELECT h.checkout_id, count(*) AS events, min(h.event_time) AS first_event FROM raw.checkout_events h "
            f"SEMI JOIN {{batch}} n ON h.checkout_id = n.checkout_id GROUP BY h.checkout_id {having}"
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
        _unique_in_history("raw.checkout_events", "event_id"),
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
        lambda p: [_rows(_events_drift_query())],
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
            _rows(
                "SELECT max(event_time) AS newest_event_time FROM {batch} HAVING max(event_time) IS NULL "
                f"OR max(event_time) < {_ts(p.now - timedelta(hours=p.freshness_hours))}"
            )
        ],
        observe_sql=lambda p: (
            "SELECT coalesce(strftime(max(event_time), '%Y-%m-%dT%H:%M:%SZ') || ' (' || "
            f"round(epoch({_ts(p.now)} - max(event_time)) / 3600.0, 1) || ' h old)', 'no events') "
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
            _rows(
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
        _unique_in_history("raw.orders", "order_id", "updated_at"),
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
        lambda p: [_rows(_orders_drift_query())],
        scope=NEW_ROWS,
    ),
]

# ---------------------------------------------------------------- audit.load_ledger (conservation)
def _raw_rows_match_ledger(p: CheckParams) -> list:
    """Per file, raw rows = the ledger's rows_loaded (both sides limited to the loads being checked: a
    load writes its raw rows and its ledger rows with one run id, in one transaction). Scoped to loads,
    the whole history is reconciled by totals too: sum(rows_loaded) per source = count(*) of the raw
    table (a row count, no column read), which catches raw rows added or removed after their load."""
    raw = load_filter(p.loads)
    per_file = f"""
        WITH raw_counts AS (
            SELECT 'checkout_events' AS source, _file_path AS file_path, count(*) AS raw_rows
              FROM raw.checkout_events WHERE {raw} GROUP BY _file_path
            UNION ALL
            SELECT 'orders', _file_path, count(*) FROM raw.orders WHERE {raw} GROUP BY _file_path),
        ledger AS (SELECT source, file_path, sum(rows_loaded) AS rows_loaded FROM {{batch}}
                    WHERE {load_filter(p.loads, "run_id")} GROUP BY source, file_path)
        SELECT coalesce(l.source, r.source) AS source, coalesce(l.file_path, r.file_path) AS file_path,
               coalesce(l.rows_loaded, 0) AS rows_loaded, coalesce(r.raw_rows, 0) AS raw_rows
          FROM ledger l FULL OUTER JOIN raw_counts r
            ON l.source = r.source AND l.file_path = r.file_path
         WHERE coalesce(l.rows_loaded, 0) <> coalesce(r.raw_rows, 0)
    """
    if p.loads is None:
        return [_rows(per_file + " ORDER BY source, file_path")]
    totals = """
        SELECT r.source, '(all files, every load)' AS file_path, coalesce(l.rows_loaded, 0) AS rows_loaded,
               r.raw_rows
          FROM (SELECT 'checkout_events' AS source, count(*) AS raw_rows FROM raw.checkout_events
                UNION ALL SELECT 'orders', count(*) FROM raw.orders) r
          LEFT JOIN (SELECT source, sum(rows_loaded) AS rows_loaded FROM {batch} GROUP BY source) l
            ON l.source = r.source
         WHERE coalesce(l.rows_loaded, 0) <> r.raw_rows
    """
    return [_rows(f"SELECT * FROM ({per_file} UNION ALL {totals}) ORDER BY source, file_path")]


def _rejected_rows_match_ledger(p: CheckParams) -> list:
    """Per file, audit.rejected_rows keeps what the ledger counts: a loaded file's `rows_rejected` rows,
    each with its row number, and one row without a row number (the reason) for a file rejected whole.
    Scoped to the loads being checked (the ledger and the rejected rows of a load share its run id),
    plus, per source, the same counts over the whole history: rejected rows deleted after their load
    still fail."""

    def mismatches(keys: str, where: str, file_path: str) -> str:
        join = " AND ".join(f"l.{key} = k.{key}" for key in keys.split(", "))
        return f"""
            SELECT coalesce(l.source, k.source) AS source, {file_path} AS file_path,
                   coalesce(l.rows_rejected, 0) AS rows_rejected, coalesce(k.rows_kept, 0) AS rows_kept,
                   coalesce(l.files_rejected, 0) AS files_rejected, coalesce(k.file_reasons_kept, 0) AS file_reasons_kept
              FROM (SELECT {keys}, sum(rows_rejected) FILTER (WHERE status <> 'rejected') AS rows_rejected,
                           count(*) FILTER (WHERE status = 'rejected') AS files_rejected
                      FROM {{batch}} WHERE {where} GROUP BY {keys}) l
              FULL OUTER JOIN
                   (SELECT {keys}, count(row_number) AS rows_kept, count(*) - count(row_number) AS file_reasons_kept
                      FROM audit.rejected_rows WHERE {where} GROUP BY {keys}) k ON {join}
             WHERE coalesce(l.rows_rejected, 0) <> coalesce(k.rows_kept, 0)
                OR coalesce(l.files_rejected, 0) <> coalesce(k.file_reasons_kept, 0)
        """

    per_file = mismatches("source, file_path", load_filter(p.loads, "run_id"), "coalesce(l.file_path, k.file_path)")
    if p.loads is None:
        return [_rows(per_file + " ORDER BY source, file_path")]
    totals = mismatches("source", "TRUE", "'(all files, every load)'")
    return [_rows(f"SELECT * FROM ({per_file} UNION ALL {totals}) ORDER BY source, file_path")]


CONSERVATION_CHECKS = [
    Check(
        "ledger_rows_conserved", "audit/load_ledger", "audit.load_ledger", ERROR,
        "for every landed file, rows read = loaded + rejected + duplicates dropped",
        "rows_read = rows_loaded + rows_rejected + duplicates_dropped on every ledger row",
        lambda p: [
            _rows(
                "SELECT source, file_path, status, rows_read, rows_loaded, rows_rejected, duplicates_dropped "
                "FROM {batch} WHERE rows_read IS NULL OR rows_loaded IS NULL OR rows_rejected IS NULL "
                "OR duplicates_dropped IS NULL OR rows_read <> rows_loaded + rows_rejected + duplicates_dropped "
                "OR least(rows_read, rows_loaded, rows_rejected, duplicates_dropped) < 0 "
                "OR (status = 'rejected' AND rows_loaded <> 0) ORDER BY source, file_path"
            )
        ],
    ),
    Check(
        "raw_rows_match_ledger", "audit/load_ledger", "audit.load_ledger", ERROR,
        "the raw tables hold exactly the rows the ledger says were loaded, file by file",
        "count(raw rows of file) = rows_loaded for every file; no raw row from a file missing in the ledger; "
        "per source, raw rows = sum(rows_loaded)",
        _raw_rows_match_ledger,
        reads=("raw.checkout_events", "raw.orders"),
    ),
    Check(
        "rejected_rows_match_ledger", "audit/load_ledger", "audit.load_ledger", ERROR,
        "every rejected row and every file rejected whole is kept in audit.rejected_rows, as the ledger counts them",
        "per file: rows with a row number = rows_rejected of a loaded file, one row without a row number for a "
        "file rejected whole; per source, the same over every load",
        _rejected_rows_match_ledger,
        reads=("audit.rejected_rows",),
    ),
    Check(
        "ledger_rejected_input", "audit/load_ledger", "audit.load_ledger", WARNING,
        "input rejected by the latest load: files rejected whole and rows rejected, with reasons "
        "(bad input is rejected and counted, never an error)",
        "0 files and 0 rows rejected in the latest load",
        lambda p: [
            _rows(
                """
                SELECT l.source, l.file_path, l.status, l.reason AS file_reason, l.rows_read, l.rows_rejected,
                       (SELECT string_agg(DISTINCT r.reason, '; ' ORDER BY r.reason) FROM audit.rejected_rows r
                         WHERE r.source = l.source AND r.file_path = l.file_path) AS row_reasons
                  FROM (SELECT * FROM {batch}) l
                 WHERE l.loaded_at = (SELECT max(loaded_at) FROM audit.load_ledger)
                   AND (l.status = 'rejected' OR l.rows_rejected > 0)
                 ORDER BY l.source, l.file_path
                """
            )
        ],
        reads=("audit.rejected_rows",),
        observe_sql=lambda p: (
            "SELECT count(*) FILTER (WHERE status = 'rejected') || ' file(s) rejected whole, ' || "
            "coalesce(sum(rows_rejected), 0) || ' row(s) rejected, ' || coalesce(sum(rows_loaded), 0) || "
            "' row(s) loaded in the latest load' FROM audit.load_ledger "
            "WHERE loaded_at = (SELECT max(loaded_at) FROM audit.load_ledger)"
        ),
    ),
    Check(
        "files_changed_after_load", "audit/load_ledger", "audit.load_ledger", WARNING,
        "no landed file was changed after it was loaded (a changed version is rejected and nothing of it "
        "loads: corrections land as new files)",
        "no ledger row rejected because its file changed after it was loaded",
        lambda p: [_rows(_changed_files_query("{batch}"))],
        observe_sql=lambda p: (
            "SELECT count(*) || ' file(s) changed after they were loaded' || coalesce(': ' || "
            f"string_agg(file_path || ' (' || versions || ' version(s))', ', ' ORDER BY file_path), '') "
            f"FROM ({_changed_files_query('audit.load_ledger')})"
        ),
    ),
]


def _changed_files_query(ledger_table: str) -> str:
    """Files with a version rejected because it changed after an earlier version was loaded, whole ledger."""
    from pipelines.core.contract import CHANGED_AFTER_LOADED, REJECTED

    return (
        "SELECT source, file_path, count(*) AS versions, min(loaded_at) AS first_seen, max(loaded_at) AS last_seen, "
        f"arg_max(file_sha256, loaded_at) AS latest_sha256 FROM {ledger_table} "
        f"WHERE status = '{REJECTED}' AND starts_with(reason, '{CHANGED_AFTER_LOADED}') "
        "GROUP BY source, file_path ORDER BY source, file_path"
    )

# ---------------------------------------------------------------- marts
def _kpi_checks(grain_name: str) -> list[Check]:
    trunc, step = GRAINS[grain_name]
    table = f"marts.kpi_{grain_name}"
    asset = f"marts/kpi_{grain_name}"
    rate_conditions = " OR ".join(
        f"({r} IS NOT NULL AND NOT ({r} BETWEEN 0 AND 1)) OR (({r} IS NULL) <> ({d} = 0 OR {d} IS NULL))"
        f" OR ({d} > 0 AND abs({r} - {n}::DOUBLE / {d}) > 1e-9)"
        for r, n, d in ((k.name, k.numerator, k.denominator) for k in RATE_KPIS)
    )
    subset_conditions = " OR ".join(f"{a} > {b}" for a, b in KPI_SUBSETS)
    count_conditions = " OR ".join(f"{c} IS NULL OR {c} < 0" for c in dict.fromkeys(KPI_COUNTS))
    checks = [
        Check(
            f"kpi_{grain_name}_rates_valid", asset, table, ERROR,
            "every rate is between 0 and 1 and equals numerator / denominator; NULL exactly when the denominator is 0",
            "0 <= rate <= 1, rate IS NULL iff denominator = 0",
            # One query for all five rates (range, ratio, NULL rule): five column expectations more
            # cost ~0.3 s of GX metric queries per table and found nothing this query does not.
            lambda p, rc=rate_conditions: [_rows(f"SELECT * FROM {{batch}} WHERE {rc} ORDER BY period_start")],
        ),
        Check(
            f"kpi_{grain_name}_counts_consistent", asset, table, ERROR,
            "counts are non-null, non-negative, and each subset count is at most its superset "
            "(converted <= started, self-service first orders <= first orders, ...)",
            "; ".join(f"{a} <= {b}" for a, b in KPI_SUBSETS),
            lambda p, sc=subset_conditions, cc=count_conditions: [
                _rows(f"SELECT * FROM {{batch}} WHERE {cc} OR {sc} ORDER BY period_start")
            ],
        ),
        Check(
            f"kpi_{grain_name}_no_period_gaps", asset, table, ERROR,
            f"one row per {trunc}, no gaps, every period holding a checkout start or a placed order present",
            f"consecutive period_start values {step} apart, aligned to the {trunc}, covering all activity",
            # One query: not null, unique, consecutive, aligned, and covering all activity. With the
            # periods consecutive and aligned, "every period with activity is present" is exactly "the
            # first and last periods of activity are within [first, last] period", so the fact tables
            # are read for min() and max() only (no DISTINCT date_trunc over 2.8M + 2M rows per grain).
            lambda p, trunc=trunc, step=step: [
                _rows(
                    f"""
                    WITH p AS (
                        SELECT period_start::DATE AS period_start,
                               lag(period_start) OVER (ORDER BY period_start) AS previous,
                               count(*) OVER (PARTITION BY period_start) AS copies
                          FROM {{batch}}),
                    bounds AS (SELECT min(period_start) AS first_period, max(period_start) AS last_period FROM p),
                    activity AS (
                        SELECT 'checkouts' AS what, date_trunc('{trunc}', min(started_at))::DATE AS first_period,
                               date_trunc('{trunc}', max(started_at))::DATE AS last_period
                          FROM marts.fct_checkouts
                        UNION ALL
                        SELECT 'orders', date_trunc('{trunc}', min(created_at))::DATE,
                               date_trunc('{trunc}', max(created_at))::DATE
                          FROM marts.fct_orders WHERE is_placed)
                    SELECT DISTINCT period_start, 'period_start null or repeated' AS problem FROM p
                     WHERE period_start IS NULL OR copies > 1
                    UNION ALL
                    SELECT period_start, 'gap before this period' FROM p
                     WHERE previous IS NOT NULL AND period_start <> (previous + {step})::DATE
                    UNION ALL
                    SELECT period_start, 'not the start of a {trunc}' FROM p
                     WHERE period_start <> date_trunc('{trunc}', period_start)::DATE
                    UNION ALL
                    SELECT a.first_period, 'missing period with ' || a.what FROM activity a, bounds b
                     WHERE a.first_period < b.first_period OR (a.first_period IS NOT NULL AND b.first_period IS NULL)
                    UNION ALL
                    SELECT a.last_period, 'missing period with ' || a.what FROM activity a, bounds b
                     WHERE a.last_period > b.last_period OR (a.last_period IS NOT NULL AND b.last_period IS NULL)
                    ORDER BY period_start NULLS FIRST, problem
                    """
                ),
            ],
            reads=("marts.fct_checkouts", "marts.fct_orders"),
        ),
    ]
    if grain_name == "daily":
        checks.append(
            Check(
                "kpi_daily_totals_match_facts", asset, table, ERROR,
                "summed over all days, the KPI counts equal the fact tables' counts "
                "(every self-service first order is also counted as a first order)",
                "sum(checkouts_started) = fct_checkouts rows, sum(checkouts_converted) = converted, "
                "sum(first_orders) = first orders, sum(self_service_first_orders) = self-service first orders, "
                "sum(self_service_orders) = self-service orders, sum(manual_intervention_orders) = those with intervention",
                lambda p: [
                    _rows(
                        """
                        WITH k AS (
                            SELECT coalesce(sum(checkouts_started), 0) AS checkouts_started,
                                   coalesce(sum(checkouts_converted), 0) AS checkouts_converted,
                                   coalesce(sum(new_customer_checkouts_started), 0) AS new_customer_checkouts_started,
                                   coalesce(sum(first_orders), 0) AS first_orders,
                                   coalesce(sum(self_service_first_orders), 0) AS self_service_first_orders,
                                   coalesce(sum(self_service_orders), 0) AS self_service_orders,
                                   coalesce(sum(manual_intervention_orders), 0) AS manual_intervention_orders
                              FROM {batch}),
                        c AS (SELECT count(*) AS checkouts_started,
                                     count(*) FILTER (WHERE converted) AS checkouts_converted,
                                     count(*) FILTER (WHERE is_new_customer) AS new_customer_checkouts_started
                                FROM marts.fct_checkouts),
                        o AS (SELECT count(*) FILTER (WHERE is_first_order) AS first_orders,
                                     count(*) FILTER (WHERE is_first_order AND is_self_service)
                                         AS self_service_first_orders,
                                     count(*) FILTER (WHERE is_self_service) AS self_service_orders,
                                     count(*) FILTER (WHERE is_self_service AND manual_intervention)
                                         AS manual_intervention_orders
                                FROM marts.fct_orders)
                        SELECT measure, kpi_total, fact_total FROM (
                            SELECT 'checkouts_started' AS measure, k.checkouts_started AS kpi_total,
                                   c.checkouts_started AS fact_total FROM k, c
                            UNION ALL SELECT 'checkouts_converted', k.checkouts_converted, c.checkouts_converted FROM k, c
                            UNION ALL SELECT 'new_customer_checkouts_started', k.new_customer_checkouts_started,
                                             c.new_customer_checkouts_started FROM k, c
                            UNION ALL SELECT 'first_orders', k.first_orders, o.first_orders FROM k, o
                            UNION ALL SELECT 'self_service_first_orders', k.self_service_first_orders,
                                             o.self_service_first_orders FROM k, o
                            UNION ALL SELECT 'self_service_orders', k.self_service_orders, o.self_service_orders FROM k, o
                            UNION ALL SELECT 'manual_intervention_orders', k.manual_intervention_orders,
                                             o.manual_intervention_orders FROM k, o
                        ) t WHERE kpi_total <> fact_total
                        """
                    )
                ],
                reads=("marts.fct_checkouts", "marts.fct_orders"),
            )
        )
    return checks


MART_CHECKS = [
    *_kpi_checks("daily"),
    *_kpi_checks("weekly"),
    *_kpi_checks("monthly"),
    Check(
        "funnel_steps_monotonic", "marts/funnel_steps", "marts.funnel_steps", ERROR,
        "for every grain and period: all six steps, each step's count at most the previous step's, "
        "new-customer checkouts at most all checkouts",
        "steps 1..6 present; checkouts(step k) <= checkouts(step k-1); new_customer_checkouts <= checkouts",
        # One query (grain and step_number in range, one row per grain/period/step, monotonic): the
        # separate set/range/unique expectations cost a GX metric round each and found nothing more.
        lambda p: [
            _rows(
                """
                SELECT grain, period_start, step_number, checkouts, previous_checkouts, new_customer_checkouts,
                       previous_new_customer_checkouts, steps
                  FROM (SELECT *, lag(checkouts) OVER w AS previous_checkouts,
                               lag(new_customer_checkouts) OVER w AS previous_new_customer_checkouts,
                               count(*) OVER (PARTITION BY grain, period_start) AS steps,
                               count(*) OVER (PARTITION BY grain, period_start, step_number) AS copies
                          FROM {batch}
                        WINDOW w AS (PARTITION BY grain, period_start ORDER BY step_number)) t
                 WHERE grain IS NULL OR grain NOT IN ('day', 'week', 'month')
                    OR step_number IS NULL OR step_number NOT BETWEEN 1 AND 6 OR copies > 1
                    OR steps <> 6 OR checkouts IS NULL OR new_customer_checkouts IS NULL
                    OR checkouts > previous_checkouts
                    OR new_customer_checkouts > previous_new_customer_checkouts
                    OR new_customer_checkouts > checkouts
                    OR (step_number = 1 AND checkouts = 0)
                 ORDER BY grain, period_start, step_number
                """
            ),
        ],
    ),
    Check(
        "fct_checkouts_unique_key", "marts/fct_checkouts", "marts.fct_checkouts", ERROR,
        "one row per checkout_id",
        "checkout_id unique and not null",
        lambda p: [_unique("checkout_id", not_null=True)],
    ),
    Check(
        "fct_checkouts_consistent", "marts/fct_checkouts", "marts.fct_checkouts", ERROR,
        "reached_step in 1..6; converted exactly when reached_step = 6, with an order_id and hours_to_convert >= 0",
        "converted = (reached_step = 6) = (order_id IS NOT NULL) = (hours_to_convert IS NOT NULL)",
        lambda p: [
            _rows(
                "SELECT checkout_id, reached_step, converted, order_id, hours_to_convert FROM {batch} "
                "WHERE started_at IS NULL OR reached_step IS NULL OR reached_step NOT BETWEEN 1 AND 6 "
                "OR converted IS NULL "
                "OR converted <> (reached_step = 6) OR converted <> (order_id IS NOT NULL) "
                "OR converted <> (hours_to_convert IS NOT NULL) OR hours_to_convert < 0 ORDER BY checkout_id"
            ),
        ],
    ),
    Check(
        "fct_orders_unique_key", "marts/fct_orders", "marts.fct_orders", ERROR,
        "one row per order_id (its current state)",
        "order_id unique and not null",
        lambda p: [_unique("order_id", not_null=True)],
    ),
    Check(
        "fct_orders_flags_consistent", "marts/fct_orders", "marts.fct_orders", ERROR,
        "is_placed = status completed/refunded; is_self_service = placed and web_direct; a first order is "
        "placed; at most one first order per customer",
        "flags follow the spec's terms; <= 1 is_first_order per customer_id",
        lambda p: [
            _rows(
                """
                SELECT order_id, customer_id, status, channel, is_placed, is_self_service, is_first_order,
                       'flags' AS problem
                  FROM {batch}
                 WHERE is_placed IS NULL OR is_self_service IS NULL OR is_first_order IS NULL
                    OR is_placed <> (status IN ('completed', 'refunded'))
                    OR is_self_service <> (is_placed AND channel = 'web_direct')
                    OR (is_first_order AND NOT is_placed)
                UNION ALL
                SELECT min(order_id), customer_id, NULL, NULL, NULL, NULL, NULL, 'several first orders'
                  FROM {batch} WHERE is_first_order GROUP BY customer_id HAVING count(*) > 1
                ORDER BY order_id
                """
            )
        ],
    ),
]


def all_checks() -> list[Check]:
    """Every check, in the order they run and are reported."""
    from data_checks.movement import MOVEMENT_CHECKS

    return [*RAW_CHECKS, *CONSERVATION_CHECKS, *MART_CHECKS, *MOVEMENT_CHECKS]


def checks_for_asset(asset: str) -> list[Check]:
    return [c for c in all_checks() if c.asset == asset]
