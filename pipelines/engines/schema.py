"""The raw and audit tables that dbt reads as sources, column by column, for the other engines.

One list, so the Parquet export (Spark) and the PostgreSQL tables carry the same columns and types
as the DuckDB warehouse (docs/architecture.md). The Spark DDL of the same tables lives in
dbt_project/macros/portability.sql (`raw_source_tables`); tests/engines checks they agree.
"""

from __future__ import annotations

from dataclasses import dataclass

# kind -> (PostgreSQL type, Spark type)
KINDS = {
    "string": ("text", "string"),
    "timestamp": ("timestamp without time zone", "timestamp"),
    "int": ("integer", "int"),
    "bigint": ("bigint", "bigint"),
    "decimal": ("numeric(38, 6)", "decimal(38,6)"),
    "boolean": ("boolean", "boolean"),
    "date": ("date", "date"),
}

_LINEAGE = [("_file_path", "string"), ("_row_number", "bigint"), ("_loaded_at", "timestamp"), ("_run_id", "string")]


@dataclass(frozen=True)
class SourceTable:
    schema: str
    name: str
    columns: tuple[tuple[str, str], ...]
    # Parquet: partition folders `<partition>=YYYY-MM-DD` from this timestamp column's date.
    partition: tuple[str, str] | None = None

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"


SOURCE_TABLES = (
    SourceTable(
        "raw", "checkout_events",
        (
            ("event_id", "string"), ("event_name", "string"), ("event_time", "timestamp"), ("checkout_id", "string"),
            ("customer_id", "string"), ("plan", "string"), ("deployment", "string"), ("seats", "int"),
            ("country", "string"), ("device", "string"), ("error_code", "string"), *_LINEAGE,
        ),
        partition=("event_date", "event_time"),
    ),
    SourceTable(
        "raw", "orders",
        (
            ("order_id", "string"), ("customer_id", "string"), ("checkout_id", "string"), ("created_at", "timestamp"),
            ("updated_at", "timestamp"), ("channel", "string"), ("order_type", "string"), ("status", "string"),
            ("plan", "string"), ("deployment", "string"), ("seats", "int"), ("amount", "decimal"),
            ("currency", "string"), ("manual_intervention", "boolean"), ("intervention_reason", "string"), *_LINEAGE,
        ),
        partition=("created_date", "created_at"),
    ),
    SourceTable(
        "audit", "load_ledger",
        (
            ("source", "string"), ("file_path", "string"), ("file_sha256", "string"), ("status", "string"),
            ("reason", "string"), ("rows_read", "bigint"), ("rows_loaded", "bigint"), ("rows_rejected", "bigint"),
            ("duplicates_dropped", "bigint"), ("loaded_at", "timestamp"), ("run_id", "string"),
        ),
    ),
    SourceTable(
        "audit", "rejected_rows",
        (
            ("source", "string"), ("file_path", "string"), ("row_number", "bigint"), ("reason", "string"),
            ("raw_record", "string"), ("run_id", "string"),
        ),
    ),
)


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
