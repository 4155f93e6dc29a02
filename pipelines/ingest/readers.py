"""Reading landed files, whatever their format, into one staging table per chunk of files.

Readers turn files into rows of text columns (one per contract column) with the row number the
contract defines; a Parquet column that already has its contract type fills a typed `native_<column>`
instead, which skips the text rules. Files are read one by one (a file that cannot be read raises FileRejected with
the reason, and the caller records it and goes on), but staged together: a chunk's JSON lines, CSV
rows and Parquet files each enter the staging table in one set-based statement, so the cost per
file stays small when thousands of small files land.
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

from pipelines.core.contract import Column, Source

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

    file_idx: int
    row_number: int
    reason: str
    text: str


@dataclass
class ParquetFile:
    file_idx: int
    path: Path
    columns: frozenset[str]


@dataclass
class StagedChunk:
    """What a chunk of files contributes to the staging table, by format."""

    json_lines: list[pa.Table] = field(default_factory=list)  # file_idx, row_number, line
    csv_rows: list[pa.Table] = field(default_factory=list)  # file_idx, row_number, contract columns
    parquet_files: list[ParquetFile] = field(default_factory=list)
    invalid_records: list[InvalidRecord] = field(default_factory=list)
    rows: int = 0
    text_rows: int = 0  # of `rows`, those held in memory as parsed text (JSON lines, CSV)


def file_format(path: Path) -> str:
    name = path.name.lower()
    for suffix in (".jsonl.gz", ".jsonl", ".parquet", ".csv"):
        if name.endswith(suffix):
            return suffix.lstrip(".")
    raise ValueError(f"not a landing file: {path}")


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def reject_missing_columns(source: Source, present: set[str] | frozenset[str], rows: int) -> None:
    missing = [c for c in source.required if c not in present]
    if missing:
        raise FileRejected(f"required column {', '.join(missing)} missing", rows)


# --- reading one file -------------------------------------------------------------------------


def read_json_lines(path: Path, file_idx: int) -> pa.Table:
    """The file's non-blank lines, numbered from 1 (blank lines are neither staged nor counted)."""
    data = path.read_bytes()
    if path.name.lower().endswith(".gz"):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise FileRejected(f"file cannot be read: corrupt or truncated gzip ({exc})") from None
    try:
        text = pa.array([data], pa.large_binary()).cast(pa.large_string())
    except pa.ArrowInvalid:
        raise FileRejected("file cannot be read: not valid UTF-8") from None
    lines = pc.list_flatten(pc.split_pattern(text, "\n"))
    lines = pc.utf8_rtrim(lines, characters="\r")
    blank = pc.or_(pc.equal(pc.utf8_length(lines), 0), pc.utf8_is_space(lines))
    lines = pc.filter(lines, pc.invert(blank)).cast(pa.string())
    count = len(lines)
    return pa.table(
        {
            "file_idx": pa.array(np.full(count, file_idx, dtype=np.int32)),
            "row_number": pa.array(np.arange(1, count + 1, dtype=np.int64)),
            "line": lines,
        }
    )


def read_csv_rows(source: Source, path: Path, file_idx: int) -> tuple[pa.Table, list[InvalidRecord]]:
    """The file's data records as text columns, and the records that are not valid CSV."""
    invalid: list[InvalidRecord] = []

    def keep_invalid(row) -> str:
        # Called by Arrow for malformed records only; `number` counts the header as record 1.
        invalid.append(
            InvalidRecord(
                file_idx=file_idx,
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
        message = _first_line(exc)
        if "UTF8" in message or "UTF-8" in message:
            message = "not valid UTF-8"
        raise FileRejected(f"file cannot be read: {message}") from None
    rows = table.num_rows + len(invalid)
    reject_missing_columns(source, set(header), rows)

    # Record numbers of the good rows skip the numbers taken by malformed records.
    good = np.arange(1, table.num_rows + 1, dtype=np.int64)
    if invalid:
        bad = np.sort(np.array([r.row_number for r in invalid], dtype=np.int64))
        good_before_bad = bad - np.arange(len(bad))
        good = good + np.searchsorted(good_before_bad, good, side="right")
    columns = {
        c: table.column(c) if c in wanted else pa.nulls(table.num_rows, pa.string()) for c in source.column_names
    }
    staged = pa.table(
        {"file_idx": pa.array(np.full(table.num_rows, file_idx, dtype=np.int32)), "row_number": good, **columns}
    )
    return staged, invalid


def parquet_inventory(con: duckdb.DuckDBPyConnection, paths: list[Path]) -> dict[Path, tuple[int, frozenset[str]] | FileRejected]:
    """Row count and column names of each Parquet file from its footer, in one query when all are
    readable; file by file otherwise, to tell which cannot be read."""
    if not paths:
        return {}
    listing = "[" + ", ".join(_sql_string(str(p)) for p in paths) + "]"
    try:
        rows = dict(con.execute(f"SELECT file_name, num_rows FROM parquet_file_metadata({listing})").fetchall())
        names: dict[str, set[str]] = {}
        for file_name, name in con.execute(f"SELECT file_name, name FROM parquet_schema({listing})").fetchall():
            names.setdefault(file_name, set()).add(name)
        return {p: (int(rows.get(str(p), 0)), frozenset(names.get(str(p), ()))) for p in paths}
    except duckdb.Error:
        if len(paths) == 1:
            try:
                con.execute(f"SELECT count(*) FROM read_parquet({listing})").fetchall()
            except duckdb.Error as exc:
                return {paths[0]: FileRejected(f"file cannot be read: {_first_line(exc)}")}
            return {paths[0]: FileRejected("file cannot be read: unreadable Parquet footer")}
        found: dict = {}
        for path in paths:
            found.update(parquet_inventory(con, [path]))
        return found


# --- staging a chunk --------------------------------------------------------------------------


# A Parquet column of one of these types holds the contract type already: it is staged as that type
# (`native_<column>`) and skips the text rules. Other types (a timestamp as a string, a float where
# an integer belongs) are staged as text and validated like JSON and CSV values.
NATIVE_TYPES = {
    "timestamp": ("TIMESTAMP", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS"),
    "integer": ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
                "UBIGINT", "UHUGEINT"),
    "decimal": ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
                "UBIGINT", "UHUGEINT", "DECIMAL"),
    "boolean": ("BOOLEAN",),
}
NATIVE_SQL_TYPES = {"timestamp": "TIMESTAMP", "integer": "INTEGER", "decimal": "DECIMAL(38, 6)", "boolean": "BOOLEAN"}


def native_column(column: Column) -> str | None:
    """The staging column holding a value already typed by its file (Parquet), if the kind has one."""
    return f"native_{column.name}" if column.kind in NATIVE_SQL_TYPES else None


def stage_table_sql(source: Source, name: str) -> str:
    columns = [f'"{c}" VARCHAR' for c in source.column_names]
    columns += [f'"{native_column(c)}" {NATIVE_SQL_TYPES[c.kind]}' for c in source.columns if native_column(c)]
    return (
        f"CREATE OR REPLACE TEMP TABLE {name} (file_idx INTEGER, row_number BIGINT, raw_record VARCHAR, "
        f"parse_error VARCHAR, type_errors VARCHAR, {', '.join(columns)})"
    )


def _text_columns(source: Source) -> str:
    """The staging columns a text row fills (its native columns stay NULL)."""
    return "file_idx, row_number, raw_record, parse_error, type_errors, " + ", ".join(
        f'"{c}"' for c in source.column_names
    )


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


def _stage_json(con, source: Source, lines: pa.Table, stage: str) -> None:
    paths = "[" + ", ".join(f"'$.\"{c}\"'" for c in source.column_names) + "]"
    values = ", ".join(f"vals[{i}]" for i in range(1, len(source.column_names) + 1))
    con.register("landing_lines", lines)
    try:
        con.execute(
            f"""
            INSERT INTO {stage} ({_text_columns(source)})
            WITH parsed AS (
              SELECT file_idx, row_number, line, json_valid(line) AS valid FROM landing_lines
            ), extracted AS (
              SELECT file_idx, row_number, line, valid,
                CASE WHEN valid THEN json_type(line) END AS root_type,
                CASE WHEN valid THEN json_extract_string(line, {paths}) END AS vals,
                CASE WHEN valid THEN json_type(line, {paths}) END AS types
              FROM parsed
            )
            SELECT file_idx, row_number, line,
              CASE WHEN NOT valid THEN 'invalid JSON'
                   WHEN root_type <> 'OBJECT' THEN 'not a JSON object (' || lower(root_type) || ')' END,
              CASE WHEN root_type = 'OBJECT' THEN {_json_type_errors(source.columns, "types")} END,
              {values}
            FROM extracted
            """
        )
    finally:
        con.unregister("landing_lines")


def _stage_csv(con, source: Source, rows: pa.Table, stage: str) -> None:
    con.register("landing_csv", rows)
    try:
        cols = ", ".join(f'"{c}"' for c in source.column_names)
        con.execute(
            f"INSERT INTO {stage} ({_text_columns(source)}) "
            f"SELECT file_idx, row_number, NULL, NULL, NULL, {cols} FROM landing_csv"
        )
    finally:
        con.unregister("landing_csv")


def _parquet_columns(source: Source, types: dict[str, str]) -> str:
    """Every staging column (text and native) as SQL over Parquet columns of the given DuckDB types."""
    values = []
    for column in source.columns:
        quoted = f'"{column.name}"'
        native = native_column(column)
        base_type = types.get(column.name, "").split("(")[0]
        if column.name not in types:
            text, typed = "NULL", "NULL"  # absent from every file of the chunk
        elif native and base_type in NATIVE_TYPES[column.kind]:
            # A value the contract type cannot hold (an integer beyond INTEGER) goes the text way,
            # where the text rules reject it with its reason.
            typed = f"TRY_CAST({quoted} AS {NATIVE_SQL_TYPES[column.kind]})"
            text = f"CASE WHEN {typed} IS NULL THEN CAST({quoted} AS VARCHAR) END"
        else:
            text, typed = f"CAST({quoted} AS VARCHAR)", "NULL"
        values.append(f"CAST({text} AS VARCHAR) AS {quoted}")
        if native:
            values.append(f'CAST({typed} AS {NATIVE_SQL_TYPES[column.kind]}) AS "{native}"')
    return ", ".join(values)


def _parquet_select(con, source: Source, files: list[ParquetFile]) -> str:
    """A SELECT giving the files' rows in the staging table's columns."""
    listing = "[" + ", ".join(_sql_string(str(f.path)) for f in files) + "]"
    reader = f"read_parquet({listing}, filename = true, file_row_number = true, union_by_name = true)"
    types = dict(con.execute(f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM {reader})").fetchall())
    index = ", ".join(f"({_sql_string(str(f.path))}, {f.file_idx})" for f in files)
    return f"""
        SELECT i.file_idx, p.file_row_number + 1 AS row_number, NULL::VARCHAR AS raw_record,
               NULL::VARCHAR AS parse_error, NULL::VARCHAR AS type_errors, {_parquet_columns(source, types)}
        FROM {reader} p
        JOIN (VALUES {index}) AS i(file_name, file_idx) ON i.file_name = p.filename
    """


def _stage_parquet(con, source: Source, files: list[ParquetFile], stage: str) -> None:
    con.execute(f"INSERT INTO {stage} BY NAME {_parquet_select(con, source, files)}")


def stage_parquet_view(con, source: Source, files: list[ParquetFile], name: str) -> None:
    """A view over a chunk of Parquet files in the staging table's columns: validation reads the files
    directly, without writing them to a staging table first. A data page that cannot be read fails the
    query that reads the view; the caller then stages the chunk with `stage_chunk`, which finds the file."""
    con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS {_parquet_select(con, source, files)}")


def _stage_invalid_records(con, records: list[InvalidRecord], stage: str) -> None:
    table = pa.table(
        {
            "file_idx": [r.file_idx for r in records],
            "row_number": [r.row_number for r in records],
            "reason": [r.reason for r in records],
            "text": [r.text for r in records],
        }
    )
    con.register("invalid_records", table)
    try:
        con.execute(
            f"INSERT INTO {stage} (file_idx, row_number, raw_record, parse_error) "
            "SELECT file_idx, row_number, text, reason FROM invalid_records"
        )
    finally:
        con.unregister("invalid_records")


def stage_chunk(con, source: Source, chunk: StagedChunk, stage: str) -> dict[int, str]:
    """Fill the staging table with a chunk; returns the Parquet files (file_idx -> reason) whose data
    could not be read after all, which the caller rejects whole."""
    con.execute(stage_table_sql(source, stage))
    if chunk.json_lines:
        _stage_json(con, source, pa.concat_tables(chunk.json_lines), stage)
    if chunk.csv_rows:
        _stage_csv(con, source, pa.concat_tables(chunk.csv_rows), stage)
    if chunk.invalid_records:
        _stage_invalid_records(con, chunk.invalid_records, stage)
    unreadable: dict[int, str] = {}
    if chunk.parquet_files:
        try:
            _stage_parquet(con, source, chunk.parquet_files, stage)
        except duckdb.Error:
            # A footer can be sound while a data page is not: find the file, one at a time.
            con.execute(f"DELETE FROM {stage} WHERE file_idx IN ({', '.join(str(f.file_idx) for f in chunk.parquet_files)})")
            for parquet_file in chunk.parquet_files:
                try:
                    _stage_parquet(con, source, [parquet_file], stage)
                except duckdb.Error as exc:
                    unreadable[parquet_file.file_idx] = f"file cannot be read: {_first_line(exc)}"
    return unreadable
