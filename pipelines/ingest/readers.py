"""Reading one landed file into the staging table, whatever its format.

Each reader turns the file into rows of text columns (one per contract column) with the row
number the contract defines, inserted into a staging table in one set-based statement. A file that
cannot be read at all raises FileRejected with the reason; the caller records it and goes on.
"""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from pipelines.ingest.contract import Column, Source

STAGE_FIXED_COLUMNS = ("file_idx", "row_number", "raw_record", "parse_error", "type_errors")
JSON_NUMBER_TYPES = ("BIGINT", "UBIGINT", "HUGEINT", "DOUBLE")


class FileRejected(Exception):
    """The whole file is rejected. `rows_read` counts rows where the file could still be read."""

    def __init__(self, reason: str, rows_read: int = 0):
        super().__init__(reason)
        self.reason = reason
        self.rows_read = rows_read


@dataclass
class InvalidRecord:
    """A record the format itself rejects (e.g. a CSV line with the wrong number of fields)."""

    row_number: int
    reason: str
    text: str


@dataclass
class ReadOutcome:
    rows_read: int
    invalid_records: list[InvalidRecord] = field(default_factory=list)


def stage_table_sql(source: Source, name: str) -> str:
    columns = ", ".join(f'"{c}" VARCHAR' for c in source.column_names)
    return (
        f"CREATE OR REPLACE TEMP TABLE {name} (file_idx INTEGER, row_number BIGINT, raw_record VARCHAR, "
        f"parse_error VARCHAR, type_errors VARCHAR, {columns})"
    )


def file_format(path: Path) -> str:
    name = path.name.lower()
    for suffix in (".jsonl.gz", ".jsonl", ".parquet", ".csv"):
        if name.endswith(suffix):
            return suffix.lstrip(".")
    raise ValueError(f"not a landing file: {path}")


def read_into_stage(
    con: duckdb.DuckDBPyConnection, source: Source, path: Path, file_idx: int, stage: str
) -> ReadOutcome:
    fmt = file_format(path)
    if fmt in ("jsonl", "jsonl.gz"):
        return _read_json_lines(con, source, path, file_idx, stage)
    if fmt == "parquet":
        return _read_parquet(con, source, path, file_idx, stage)
    return _read_csv(con, source, path, file_idx, stage)


# --- JSON lines -------------------------------------------------------------------------------


def _file_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    if path.name.lower().endswith(".gz"):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise FileRejected(f"file cannot be read: corrupt or truncated gzip ({exc})") from None
    return data


def _non_blank_lines(data: bytes) -> pa.Array:
    """The file's non-blank lines in order, as one Arrow string array (vectorised split)."""
    try:
        text = pa.array([data], pa.large_binary()).cast(pa.large_string())
    except pa.ArrowInvalid:
        raise FileRejected("file cannot be read: not valid UTF-8") from None
    lines = pc.list_flatten(pc.split_pattern(text, "\n"))
    lines = pc.utf8_rtrim(lines, characters="\r")
    blank = pc.or_(pc.equal(pc.utf8_length(lines), 0), pc.utf8_is_space(lines))
    return pc.filter(lines, pc.invert(blank))


def _json_type_errors(columns: tuple[Column, ...], types_list: str) -> str:
    """SQL: type problems only JSON can have (a string where a number or boolean belongs)."""
    checks = []
    for i, column in enumerate(columns, start=1):
        item = f"{types_list}[{i}]"
        if column.kind in ("integer", "decimal"):
            checks.append(
                f"CASE WHEN {item} NOT IN {JSON_NUMBER_TYPES + ('NULL',)} "
                f"THEN '{column.name} is not a JSON number' END"
            )
        elif column.kind == "boolean":
            checks.append(f"CASE WHEN {item} NOT IN ('BOOLEAN', 'NULL') THEN '{column.name} is not a JSON boolean' END")
        else:
            checks.append(f"CASE WHEN {item} IN ('OBJECT', 'ARRAY') THEN '{column.name} is not a single value' END")
    return "NULLIF(concat_ws('; ', " + ", ".join(checks) + "), '')"


def _read_json_lines(con, source: Source, path: Path, file_idx: int, stage: str) -> ReadOutcome:
    lines = _non_blank_lines(_file_bytes(path))
    table = pa.table({"row_number": pa.array(np.arange(1, len(lines) + 1, dtype=np.int64)), "line": lines})
    paths = "[" + ", ".join(f"'$.\"{c}\"'" for c in source.column_names) + "]"
    values = ", ".join(f"vals[{i}]" for i in range(1, len(source.column_names) + 1))
    con.register("landing_lines", table)
    try:
        con.execute(
            f"""
            INSERT INTO {stage}
            WITH parsed AS (
              SELECT row_number, line, json_valid(line) AS valid FROM landing_lines
            ), extracted AS (
              SELECT row_number, line, valid,
                CASE WHEN valid THEN json_type(line) END AS root_type,
                CASE WHEN valid THEN json_extract_string(line, {paths}) END AS vals,
                CASE WHEN valid THEN json_type(line, {paths}) END AS types
              FROM parsed
            )
            SELECT {file_idx}, row_number, line,
              CASE WHEN NOT valid THEN 'invalid JSON'
                   WHEN root_type <> 'OBJECT' THEN 'not a JSON object (' || lower(root_type) || ')' END,
              CASE WHEN root_type = 'OBJECT' THEN {_json_type_errors(source.columns, "types")} END,
              {values}
            FROM extracted
            """
        )
    finally:
        con.unregister("landing_lines")
    return ReadOutcome(rows_read=len(lines))


# --- Parquet ----------------------------------------------------------------------------------


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _read_parquet(con, source: Source, path: Path, file_idx: int, stage: str) -> ReadOutcome:
    scan = f"read_parquet({_sql_string(str(path))}, file_row_number = true)"
    try:
        present = {row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {scan}").fetchall()}
        rows = con.execute(f"SELECT count(*) FROM {scan}").fetchall()[0][0]
    except duckdb.Error as exc:
        raise FileRejected(f"file cannot be read: {str(exc).splitlines()[0]}") from None
    _reject_missing_columns(source, present, rows)
    values = ", ".join(
        f'CAST("{c}" AS VARCHAR)' if c in present else "NULL" for c in source.column_names
    )
    try:
        con.execute(
            f"INSERT INTO {stage} SELECT {file_idx}, file_row_number + 1, NULL, NULL, NULL, {values} FROM {scan}"
        )
    except duckdb.Error as exc:
        raise FileRejected(f"file cannot be read: {str(exc).splitlines()[0]}", rows) from None
    return ReadOutcome(rows_read=rows)


def _reject_missing_columns(source: Source, present: set[str], rows: int) -> None:
    missing = [c for c in source.required if c not in present]
    if missing:
        raise FileRejected(f"required column {', '.join(missing)} missing", rows)


# --- CSV --------------------------------------------------------------------------------------


def _read_csv(con, source: Source, path: Path, file_idx: int, stage: str) -> ReadOutcome:
    invalid: list[InvalidRecord] = []

    def keep_invalid(row) -> str:
        # Called by Arrow for malformed records only; `number` counts the header as record 1.
        invalid.append(
            InvalidRecord(
                row_number=row.number - 1,
                reason=f"not valid CSV: expected {row.expected_columns} fields, found {row.actual_columns}",
                text=row.text,
            )
        )
        return "skip"

    try:
        header = pa_csv.open_csv(
            path,
            parse_options=pa_csv.ParseOptions(newlines_in_values=True, invalid_row_handler=lambda row: "skip"),
        ).schema.names
        wanted = [c for c in source.column_names if c in header]
        table = pa_csv.read_csv(
            path,
            read_options=pa_csv.ReadOptions(use_threads=False),
            parse_options=pa_csv.ParseOptions(newlines_in_values=True, invalid_row_handler=keep_invalid),
            convert_options=pa_csv.ConvertOptions(
                include_columns=wanted,
                column_types={c: pa.string() for c in wanted},
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
                null_values=[""],
            ),
        )
    except (pa.ArrowInvalid, OSError) as exc:
        message = str(exc).splitlines()[0]
        if "UTF8" in message or "UTF-8" in message:
            message = "not valid UTF-8"
        raise FileRejected(f"file cannot be read: {message}") from None
    rows = table.num_rows + len(invalid)
    _reject_missing_columns(source, set(header), rows)

    # Record numbers of the good rows, skipping the numbers taken by malformed records.
    good = np.arange(1, table.num_rows + 1, dtype=np.int64)
    if invalid:
        bad = np.sort(np.array([r.row_number for r in invalid], dtype=np.int64))
        good_before_bad = bad - np.arange(len(bad))
        good = good + np.searchsorted(good_before_bad, good, side="right")
    staged = pa.table(
        {"row_number": good, **{c: table.column(c) if c in wanted else pa.nulls(table.num_rows, pa.string())
                                for c in source.column_names}}
    )
    con.register("landing_csv", staged)
    try:
        cols = ", ".join(f'"{c}"' for c in source.column_names)
        con.execute(f"INSERT INTO {stage} SELECT {file_idx}, row_number, NULL, NULL, NULL, {cols} FROM landing_csv")
    finally:
        con.unregister("landing_csv")
    return ReadOutcome(rows_read=rows, invalid_records=invalid)
