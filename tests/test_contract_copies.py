"""The data contract (pipelines/core/contract.py) is the one definition of the raw and audit tables.
What cannot import it, dbt's YAML and the Spark DDL macro, is compared with it here, and the DuckDB
DDL generated from it is checked against the contract itself."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest
import yaml

from pipelines.core.contract import AUDIT_TABLES, SOURCES
from pipelines.engines.schema import KINDS, SOURCE_TABLES
from pipelines.ingest.ledger import SQL_TYPES, ensure_tables

DBT = Path(__file__).resolve().parents[1] / "dbt_project"


def _contract_columns(schema: str, table: str):
    return SOURCES[table].raw_columns if schema == "raw" else AUDIT_TABLES[table]


def test_the_spark_source_ddl_is_the_contract_in_spark_types():
    text = (DBT / "macros" / "portability.sql").read_text()
    for table in SOURCE_TABLES:
        block = re.search(rf"'{table.qualified}': \(\[(.*?)\]", text, re.DOTALL).group(1)
        declared = re.findall(r"'(\w+) ([\w(),]+)'", block)
        expected = [(c.name, KINDS[c.kind][1]) for c in _contract_columns(table.schema, table.name)]
        if table.partition:
            expected.append((table.partition[0], "date"))
        assert declared == expected, table.qualified


def test_the_engines_tables_are_the_contract_s():
    for table in SOURCE_TABLES:
        assert table.columns == tuple((c.name, c.kind) for c in _contract_columns(table.schema, table.name))
    assert {t.qualified for t in SOURCE_TABLES} == {f"raw.{s}" for s in SOURCES} | {
        "audit.load_ledger", "audit.rejected_rows"}


def test_dbt_sources_document_exactly_the_contract_s_columns():
    doc = yaml.safe_load((DBT / "models" / "staging" / "_sources.yml").read_text())
    documented = {
        (source["name"], table["name"]): [c["name"] for c in table["columns"]]
        for source in doc["sources"] for table in source["tables"]
    }
    assert set(documented) == {("raw", s) for s in SOURCES} | {("audit", "load_ledger"), ("audit", "rejected_rows")}
    for (schema, table), columns in documented.items():
        assert columns == [c.name for c in _contract_columns(schema, table)], (schema, table)


@pytest.fixture
def warehouse(tmp_path):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    ensure_tables(con)
    yield con
    con.close()


def test_the_warehouse_tables_have_the_contract_s_columns_types_and_not_nulls(warehouse):
    tables = {("raw", s): SOURCES[s].raw_columns for s in SOURCES} | {("audit", t): c for t, c in AUDIT_TABLES.items()}
    for (schema, table), columns in tables.items():
        found = warehouse.execute(
            "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
            "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position", [schema, table]
        ).fetchall()
        expected = [(c.name, SQL_TYPES[c.kind].replace(", ", ","), "NO" if c.not_null else "YES") for c in columns]
        assert found == expected, (schema, table)
