"""The raw and audit tables that dbt reads as sources, column by column, for the other engines.

Derived from the contract's tables (pipelines/core/contract.py), so the Parquet export (Spark) and the
PostgreSQL tables carry the same columns and types as the DuckDB warehouse. The Spark DDL of the same
tables lives in dbt_project/macros/portability.sql (`raw_source_tables`), which cannot import Python:
tests/test_contract_copies.py checks it agrees.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.core.contract import AUDIT_TABLES, CHECKOUT_EVENTS, ORDERS, TableColumn

# kind of the contract -> (PostgreSQL type, Spark type)
KINDS = {
    "string": ("text", "string"),
    "currency": ("text", "string"),
    "timestamp": ("timestamp without time zone", "timestamp"),
    "integer": ("integer", "int"),
    "bigint": ("bigint", "bigint"),
    "decimal": ("numeric(38, 6)", "decimal(38,6)"),
    "boolean": ("boolean", "boolean"),
    "date": ("date", "date"),
}


@dataclass(frozen=True)
class SourceTable:
    schema: str
    name: str
    columns: tuple[tuple[str, str], ...]  # (name, kind of the contract)
    # Parquet: partition folders `<partition>=YYYY-MM-DD` from this timestamp column's date.
    partition: tuple[str, str] | None = None

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"


def _columns(columns: tuple[TableColumn, ...]) -> tuple[tuple[str, str], ...]:
    return tuple((c.name, c.kind) for c in columns)


# The tables dbt reads as sources, derived from the contract (pipelines/core/contract.py).
SOURCE_TABLES = (
    SourceTable("raw", CHECKOUT_EVENTS.name, _columns(CHECKOUT_EVENTS.raw_columns), partition=("event_date", "event_time")),
    SourceTable("raw", ORDERS.name, _columns(ORDERS.raw_columns), partition=("created_date", "created_at")),
    SourceTable("audit", "load_ledger", _columns(AUDIT_TABLES["load_ledger"])),
    SourceTable("audit", "rejected_rows", _columns(AUDIT_TABLES["rejected_rows"])),
)


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
