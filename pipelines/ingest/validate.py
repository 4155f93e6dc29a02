"""Row validation as generated DuckDB SQL: one set-based query per source, built from the contract.

The staging table holds every contract column as text, plus `parse_error` (the row could not be
parsed at all) and `type_errors` (format-specific type problems, e.g. a JSON string where the contract
wants a number). The query returns the typed values and `reason`: NULL for a good row, otherwise
every broken rule, joined by '; '.
"""

from __future__ import annotations

from pipelines.core.contract import MAX_FUTURE_SKEW, Column, Source
from pipelines.ingest.readers import native_column

TIMESTAMP_PATTERN = r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?\s*(Z|z|[+-]\d{2}(:?\d{2})?)?"
INTEGER_PATTERN = r"[+-]?\d+(\.0*)?"
DECIMAL_PATTERN = r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?"
BOOLEAN_TRUE = ("true", "1")
BOOLEAN_FALSE = ("false", "0")

# Personal data is masked in anything the audit tables keep: any e-mail address, and the value of a
# customer_email key in a JSON record whatever it holds.
MASK_SQL = (
    "regexp_replace(regexp_replace({expr}, "
    r"""'("customer_email"\s*:\s*)("(?:[^"\\]|\\.)*"|[^,}}\s]+)', '\1"***"', 'g'), """
    r"""'[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)+', '***@***', 'g')"""
)


def mask_personal_data(expr: str) -> str:
    return MASK_SQL.format(expr=expr)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _from_text(column: Column) -> str:
    """SQL WHEN/THEN branches turning the column's text into its contract type."""
    text = f"trim({_ident(column.name)})"
    match column.kind:
        case "string":
            return f"WHEN {text} <> '' THEN {_ident(column.name)}"
        case "timestamp":
            return (
                f"WHEN regexp_full_match({text}, {_quote(TIMESTAMP_PATTERN)}) "
                f"THEN CAST(TRY_CAST({text} AS TIMESTAMPTZ) AS TIMESTAMP)"
            )
        case "integer":
            return (
                f"WHEN regexp_full_match({text}, {_quote(INTEGER_PATTERN)}) "
                f"THEN TRY_CAST(regexp_extract({text}, '^[+-]?[0-9]+') AS INTEGER)"
            )
        case "decimal":
            return (
                f"WHEN regexp_full_match({text}, {_quote(DECIMAL_PATTERN)}) "
                f"THEN TRY_CAST({text} AS DECIMAL(38, 6))"
            )
        case "boolean":
            return f"WHEN lower({text}) IN {BOOLEAN_TRUE} THEN true WHEN lower({text}) IN {BOOLEAN_FALSE} THEN false"
        case "currency":
            return f"WHEN regexp_full_match({text}, '[A-Za-z]{{3}}') THEN upper({text})"
    raise ValueError(f"unknown column kind {column.kind!r}")


def typed_expression(column: Column) -> str:
    """SQL giving the column's value in its contract type; NULL when absent or malformed. A value its
    file already typed (Parquet) is taken as it is: the text rules (regular expressions) only run on
    text, which is most of the validation's cost."""
    native = native_column(column)
    typed_by_file = f"WHEN {_ident(native)} IS NOT NULL THEN {_ident(native)} " if native else ""
    return f"CASE {typed_by_file}{_from_text(column)} END"


def _as_text(column: Column) -> str:
    """The column's value as text, whether it came as text or typed by its file."""
    native = native_column(column)
    raw = _ident(column.name)
    return f"coalesce({raw}, CAST({_ident(native)} AS VARCHAR))" if native else raw


KIND_WORDS = {
    "timestamp": "an ISO 8601 timestamp",
    "integer": "an integer",
    "decimal": "a decimal number",
    "boolean": "a boolean (true/false/1/0)",
    "currency": "a three-letter currency code",
}


def _shown(column: Column) -> str:
    """The offending value, shortened, for a reason text."""
    return f"left(trim({_as_text(column)}), 40)"


def column_errors(column: Column) -> list[str]:
    """SQL expressions, each NULL or one broken rule for this column."""
    name = column.name
    raw = _ident(name)
    typed = f"t_{name}"
    present = f"({raw} IS NOT NULL AND trim({raw}) <> '')"
    if native_column(column):
        present = f"({_ident(native_column(column))} IS NOT NULL OR {present})"
    errors = []
    if column.required:
        errors.append(f"CASE WHEN NOT {present} THEN '{name} is missing or empty' END")
    if column.kind != "string":
        errors.append(
            f"CASE WHEN {present} AND {typed} IS NULL "
            f"THEN '{name} is not {KIND_WORDS[column.kind]}: ' || {_shown(column)} END"
        )
    if column.required and column.allowed:
        allowed = ", ".join(column.allowed)
        errors.append(
            f"CASE WHEN {present} AND {typed} NOT IN {column.allowed!r} "
            f"THEN '{name} ' || {_shown(column)} || ' is not one of {allowed}' END"
        )
    if column.minimum is not None:
        errors.append(
            f"CASE WHEN {typed} < {column.minimum} "
            f"THEN '{name} must be at least {column.minimum}, got ' || {_shown(column)} END"
        )
    if column.kind == "timestamp":
        errors.append(
            f"CASE WHEN {typed} > load_time + INTERVAL '{MAX_FUTURE_SKEW}' "
            f"THEN '{name} ' || {_shown(column)} || ' is more than {MAX_FUTURE_SKEW} after the load time' END"
        )
    return errors


def row_rule_errors(source: Source) -> list[str]:
    """Rules across columns."""
    if source.name == "orders":
        return ["CASE WHEN t_updated_at < t_created_at THEN 'updated_at is before created_at' END"]
    return []


def validation_sql(source: Source, stage_table: str, load_time: str) -> str:
    """SELECT over the staging table: file_idx, row_number, raw_record, reason, then typed columns.

    `load_time` is a SQL TIMESTAMP literal/expression for the moment of loading (UTC).
    """
    typed = ",\n  ".join(f"{typed_expression(c)} AS t_{c.name}" for c in source.columns)
    errors = [e for c in source.columns for e in column_errors(c)] + row_rule_errors(source)
    reason = "concat_ws('; ', type_errors, " + ",\n    ".join(errors) + ")"
    outputs = []
    for c in source.columns:
        if c.name == "updated_at":
            # The contract: updated_at defaults to created_at.
            outputs.append("coalesce(t_updated_at, t_created_at) AS updated_at")
        else:
            outputs.append(f"t_{c.name} AS {c.name}")
    record_struct = ", ".join(f"{_ident(c.name)} := {_as_text(c)}" for c in source.columns)
    return f"""
WITH typed AS (
  SELECT *, {load_time} AS load_time,
  {typed}
  FROM {stage_table}
),
checked AS (
  SELECT *,
    CASE WHEN parse_error IS NOT NULL THEN parse_error ELSE NULLIF({reason}, '') END AS reason
  FROM typed
)
SELECT
  file_idx,
  row_number,
  -- Only rejected rows keep their record; CSV and Parquet rows are shown as a JSON object.
  CASE WHEN reason IS NOT NULL
       THEN coalesce(raw_record, CAST(to_json(struct_pack({record_struct})) AS VARCHAR)) END AS raw_record,
  reason,
  {", ".join(outputs)}
FROM checked
"""
