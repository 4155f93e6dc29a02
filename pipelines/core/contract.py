"""The data contract as data: the sources' columns, types and allowed values (docs/input-contract.md),
the raw tables they load into (the contract's columns + lineage), the audit tables and the ledger's
statuses and reasons.

Everything that needs a table's columns derives them from here: the ingestion's validation SQL and
DDL (pipelines/ingest), the other engines' tables (pipelines/engines/schema.py), the dashboard's
attention list. Copies that cannot import Python (dbt's `_sources.yml`, the Spark DDL in
`macros/portability.sql`) are compared with this module by tests/test_contract_copies.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# "currency" is a string upper-cased on load; "bigint" appears in lineage and audit columns only.
Kind = Literal["string", "timestamp", "integer", "bigint", "decimal", "boolean", "currency"]


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
class TableColumn:
    """A column of a table the pipeline writes (raw and audit tables)."""

    name: str
    kind: Kind
    not_null: bool = False


# Where each raw row came from: its file, its row number there (the contract's counting), its load.
LINEAGE = (
    TableColumn("_file_path", "string", True),
    TableColumn("_row_number", "bigint", True),
    TableColumn("_loaded_at", "timestamp", True),
    TableColumn("_run_id", "string"),
)


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

    @property
    def raw_columns(self) -> tuple[TableColumn, ...]:
        """The columns of raw.<source>: the contract's (required ones NOT NULL; updated_at too, as it
        defaults to created_at on load), then the lineage of every row."""
        own = tuple(TableColumn(c.name, c.kind, c.required or c.name == "updated_at") for c in self.columns)
        return own + LINEAGE


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


# ---- the audit tables (kpi-definitions.md "Audit tables"; more columns are allowed) -------------

AUDIT_TABLES: dict[str, tuple[TableColumn, ...]] = {
    "load_ledger": (
        TableColumn("source", "string", True),  # '' outside the source folders
        TableColumn("file_path", "string", True),
        TableColumn("file_sha256", "string"),
        TableColumn("status", "string", True),
        TableColumn("reason", "string"),
        TableColumn("rows_read", "bigint", True),
        TableColumn("rows_loaded", "bigint", True),
        TableColumn("rows_rejected", "bigint", True),
        TableColumn("duplicates_dropped", "bigint", True),
        TableColumn("loaded_at", "timestamp", True),
        TableColumn("run_id", "string"),
        # The version's size and modification time: a file that still has them is not hashed again.
        TableColumn("file_size", "bigint"),
        TableColumn("file_modified_at", "timestamp"),
    ),
    "rejected_rows": (
        TableColumn("source", "string", True),
        TableColumn("file_path", "string", True),
        TableColumn("row_number", "bigint"),  # NULL for a file rejected whole
        TableColumn("reason", "string", True),
        TableColumn("raw_record", "string"),  # personal data masked
        TableColumn("rejected_at", "timestamp", True),
        TableColumn("run_id", "string"),
    ),
    "pipeline_runs": (
        TableColumn("run_id", "string", True),
        TableColumn("started_at", "timestamp", True),
        TableColumn("finished_at", "timestamp"),
        TableColumn("status", "string", True),
        TableColumn("message", "string"),
        TableColumn("files_loaded", "bigint"),
        TableColumn("files_rejected", "bigint"),
        TableColumn("rows_loaded", "bigint"),
        TableColumn("rows_rejected", "bigint"),
        TableColumn("build_fingerprint", "string"),
    ),
    # One row per attempt to deliver the weekly brief or an alert (pipelines/brief/delivery.py): a
    # (kind, key, channel, recipient) with a `sent` row is never sent again; a `failed` one is retried.
    "deliveries": (
        TableColumn("kind", "string", True),  # brief, kpi_moved, check_blocked, stale_data
        TableColumn("key", "string", True),  # what is sent once: the week, the KPI and period, ...
        TableColumn("channel", "string", True),  # email or webhook
        TableColumn("recipient", "string", True),  # an address, or the webhook's host
        TableColumn("status", "string", True),  # sent or failed
        TableColumn("error", "string"),
        TableColumn("attempted_at", "timestamp", True),
        TableColumn("run_id", "string"),
    ),
}

# What the audit tables dbt does not read mean, for readers: pipelines/publish.py writes them to
# meta.column_descriptions (the SQL page's schema browser) beside the dbt YAML's descriptions, which
# describe load_ledger and rejected_rows (dbt sources). check_results is data_checks/runner.py's table.
# table -> (what a row is, column -> what it holds)
AUDIT_DESCRIPTIONS: dict[str, tuple[str, dict[str, str]]] = {
    "pipeline_runs": ("One row per pipeline run: how it ended and what it loaded.", {
        "run_id": "The Dagster run id.",
        "started_at": "When the run started (UTC).",
        "finished_at": "When it ended (UTC); NULL while it runs.",
        "status": "success or failure.",
        "message": "What the run ended with (\"published\") or why it failed.",
        "files_loaded": "Landed files the run loaded.",
        "files_rejected": "Landed files the run rejected whole.",
        "rows_loaded": "Rows the run loaded into raw.",
        "rows_rejected": "Rows the run rejected into audit.rejected_rows.",
        "build_fingerprint": "The dbt project and conversion window the marts were built with.",
    }),
    "deliveries": ("One row per attempt to deliver the weekly brief or an alert.", {
        "kind": "brief, kpi_moved, check_blocked or stale_data.",
        "key": "What is sent once: the week, the KPI and period, ...",
        "channel": "email or webhook.",
        "recipient": "An address, or the webhook's host.",
        "status": "sent or failed (a failed delivery is retried).",
        "error": "Why it failed; NULL when sent.",
        "attempted_at": "When it was attempted (UTC).",
        "run_id": "The pipeline run that attempted it.",
    }),
    "check_results": ("One row per data check run (GX expectations and SQL checks).", {
        "check_name": "The check (data_checks/catalog.py).",
        "asset": "The table it checks, as a Dagster asset key (e.g. marts/kpi_daily).",
        "severity": "error (a failure holds the publish back) or warning.",
        "passed": "Whether the check passed.",
        "observed_value": "What the check found (e.g. the number of offending rows).",
        "expected": "What it expects.",
        "details": "JSON: the check's description and its expectations' results (up to 20 offending rows).",
        "run_id": "The run that ran the check.",
        "checked_at": "When it ran (UTC).",
    }),
}

# ---- the ledger's statuses and reasons (the contract's "Every file accounted for") --------------

LOADED = "loaded"  # read: its rows are loaded, rejected row by row, or dropped as duplicates
REJECTED = "rejected"  # rejected whole: unreadable, a required column missing, or changed after it was loaded
EMPTY = "empty"  # 0 bytes: nothing to read; a later version with bytes is read like a new file
IGNORED = "ignored"  # not a contract file (another extension, or outside the source folders)
LEDGER_STATUSES = (LOADED, REJECTED, EMPTY, IGNORED)

# Reasons the dashboard and the data checks match on: keep these texts stable.
CHANGED_AFTER_LOADED = "file changed after it was loaded"
EMPTY_REASON = "file is empty (0 bytes)"
NOT_A_CONTRACT_FILE = "not a contract file:"
# `source` of a file outside the two source folders (the ledger column is NOT NULL, so '' and not NULL).
NO_SOURCE = ""


def changed_reason(loaded_sha256: str, this_sha256: str) -> str:
    return (
        f"{CHANGED_AFTER_LOADED} (loaded version sha256 {loaded_sha256[:12]}..., this version "
        f"{this_sha256[:12]}...): land corrections as a new file"
    )


def ignored_reason(source: str) -> str:
    """Why a file is ignored: the suffixes its source folder accepts, or that it is outside them."""
    if source in SOURCES:
        return f"{NOT_A_CONTRACT_FILE} {source} accepts {', '.join(SOURCES[source].suffixes)}"
    return f"{NOT_A_CONTRACT_FILE} outside the source folders {' and '.join(f'{s}/' for s in SOURCES)}"
