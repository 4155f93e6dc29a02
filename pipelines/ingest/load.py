"""Set-based loading of a landing directory into the warehouse.

New files (those not yet in audit.load_ledger) are read in path order into a staging table (a chunk of
Parquet files only: a view over the files, read once by the validation), validated by one generated
SQL statement, de-duplicated against everything loaded before, and written with their
ledger rows and rejected rows. Files are committed in chunks of whole files, so a file is loaded all
or nothing: a crash leaves no part of a file behind, and the next run loads it.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from pipelines.ingest import ledger
from pipelines.ingest.contract import SOURCES, Source
from pipelines.ingest.readers import (
    FileRejected,
    ParquetFile,
    StagedChunk,
    file_format,
    parquet_inventory,
    read_csv_rows,
    read_json_lines,
    reject_missing_columns,
    stage_chunk,
    stage_parquet_view,
)
from pipelines.ingest.validate import mask_personal_data, validation_sql

STAGE = "stage_rows"
PARQUET_VIEW = "stage_parquet"
# Rows staged before a chunk of files is validated and committed (bounds memory at 10M events). Rows
# parsed from text (JSON lines, CSV) wait in this process's memory as Arrow strings, so a chunk of
# them is committed at half as many: a 10M-event JSON-lines load peaked at 1.46 GiB instead of 2.11,
# in about the same time (docs/performance.md); Parquet is read by DuckDB from the files, where smaller
# chunks cost time (+1.2 s at 10M) and no memory to speak of.
DEFAULT_CHUNK_ROWS = 2_000_000


@dataclass
class FileResult:
    source: str
    file_path: str
    file_sha256: str | None
    status: str = "loaded"
    reason: str | None = None
    rows_read: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    duplicates_dropped: int = 0
    file_idx: int = field(default=-1, repr=False)


@dataclass
class IngestSummary:
    run_id: str
    loaded_at: datetime
    files: list[FileResult] = field(default_factory=list)

    def total(self, attribute: str) -> int:
        return sum(getattr(f, attribute) for f in self.files)

    @property
    def files_rejected(self) -> int:
        return sum(f.status == "rejected" for f in self.files)

    def by_source(self, source: str) -> list[FileResult]:
        return [f for f in self.files if f.source == source]


def discover_files(landing_dir: Path) -> dict[str, list[Path]]:
    """Landed files per source, in the order of their relative paths (byte order)."""
    landing_dir = Path(landing_dir)
    found: dict[str, list[Path]] = {}
    for name, source in SOURCES.items():
        folder = landing_dir / name
        files = [p for p in folder.rglob("*") if p.is_file() and p.name.lower().endswith(source.suffixes)]
        found[name] = sorted(files, key=lambda p: p.relative_to(landing_dir).as_posix().encode())
    return found


def new_files(con: duckdb.DuckDBPyConnection, landing_dir: Path) -> dict[str, list[Path]]:
    """Landed files not yet in the ledger, per source, in load order."""
    ledger.ensure_tables(con)
    known = ledger.ledgered_paths(con)
    return {
        name: [p for p in paths if p.relative_to(landing_dir).as_posix() not in known]
        for name, paths in discover_files(landing_dir).items()
    }


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _timestamp_literal(moment: datetime) -> str:
    return f"TIMESTAMP '{moment.strftime('%Y-%m-%d %H:%M:%S.%f')}'"


def ingest_landing(
    con: duckdb.DuckDBPyConnection,
    landing_dir: Path,
    *,
    run_id: str | None = None,
    load_time: datetime | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> IngestSummary:
    """Load every new file of the landing directory. Returns what each file gave."""
    landing_dir = Path(landing_dir).resolve()
    if not landing_dir.is_dir():
        raise FileNotFoundError(f"landing directory {landing_dir} does not exist")
    summary = IngestSummary(
        run_id=run_id or uuid.uuid4().hex,
        loaded_at=(load_time or datetime.now(UTC)).replace(tzinfo=None),
    )
    for name, paths in new_files(con, landing_dir).items():
        if paths:
            _SourceLoader(con, SOURCES[name], landing_dir, summary, chunk_rows).load(paths)
    return summary


def _key_match(source: Source, left: str, right: str) -> str:
    return " AND ".join(f"{left}.{k} = {right}.{k}" for k in source.key)


class _SourceLoader:
    """Loads the new files of one source, a chunk of whole files per transaction."""

    def __init__(self, con, source: Source, landing_dir: Path, summary: IngestSummary, chunk_rows: int):
        self.con = con
        self.source = source
        self.landing_dir = landing_dir
        self.summary = summary
        self.chunk_rows = chunk_rows
        self.load_time = _timestamp_literal(summary.loaded_at)

    def load(self, paths: list[Path]) -> None:
        inventory = parquet_inventory(self.con, [p for p in paths if file_format(p) == "parquet"])
        results: list[FileResult] = []
        chunk = StagedChunk()
        for file_idx, path in enumerate(paths):
            results.append(self._read_file(path, file_idx, chunk, inventory))
            if chunk.rows >= self.chunk_rows or chunk.text_rows >= self.chunk_rows // 2:
                self._commit_chunk(results, chunk)
                results, chunk = [], StagedChunk()
        if results:
            self._commit_chunk(results, chunk)
        self.con.execute(f"DROP TABLE IF EXISTS {STAGE}")
        self.con.execute(f"DROP VIEW IF EXISTS {PARQUET_VIEW}")

    def _read_file(self, path: Path, file_idx: int, chunk: StagedChunk, inventory: dict) -> FileResult:
        relative = path.relative_to(self.landing_dir).as_posix()
        result = FileResult(self.source.name, relative, _sha256(path))
        result.file_idx = file_idx
        try:
            match file_format(path):
                case "jsonl" | "jsonl.gz":
                    lines = read_json_lines(path, file_idx)
                    chunk.json_lines.append(lines)
                    result.rows_read = lines.num_rows
                    chunk.text_rows += lines.num_rows
                case "csv":
                    rows, invalid = read_csv_rows(self.source, path, file_idx)
                    chunk.csv_rows.append(rows)
                    chunk.invalid_records += invalid
                    result.rows_read = rows.num_rows + len(invalid)
                    chunk.text_rows += result.rows_read
                case "parquet":
                    found = inventory[path]
                    if isinstance(found, FileRejected):
                        raise found
                    rows_read, columns = found
                    reject_missing_columns(self.source, columns, rows_read)
                    chunk.parquet_files.append(ParquetFile(file_idx, path, columns))
                    result.rows_read = rows_read
        except FileRejected as rejection:
            # Reasons name the file by its landing path, never by this machine's absolute path.
            result.status, result.reason = "rejected", rejection.reason.replace(str(path), relative)
            result.rows_read = result.rows_rejected = rejection.rows_read
        chunk.rows += result.rows_read
        return result

    def _commit_chunk(self, chunk: list[FileResult], staged: StagedChunk) -> None:
        con, source = self.con, self.source
        unreadable = self._validate(staged)
        for result in chunk:
            if result.file_idx in unreadable:
                result.status, result.reason = "rejected", unreadable[result.file_idx]
                result.rows_read = result.rows_rejected = 0
        files = pa.table(
            {
                "file_idx": pa.array([r.file_idx for r in chunk if r.status == "loaded"], pa.int32()),
                "file_path": pa.array([r.file_path for r in chunk if r.status == "loaded"], pa.string()),
            }
        )
        con.register("chunk_files", files)
        con.execute("CREATE OR REPLACE TEMP TABLE stage_files AS SELECT * FROM chunk_files")
        con.unregister("chunk_files")
        key_match = _key_match(source, "r", "f")
        partition = ", ".join(source.key)
        columns = ", ".join(source.column_names)
        run_id = self.summary.run_id
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(
                f"""
                INSERT INTO audit.rejected_rows
                SELECT '{source.name}', s.file_path, v.row_number, {mask_personal_data('v.reason')},
                       {mask_personal_data('v.raw_record')}, {self.load_time}, '{run_id}'
                FROM validated v JOIN stage_files s USING (file_idx)
                WHERE v.reason IS NOT NULL
                ORDER BY v.file_idx, v.row_number
                """
            )
            # The first copy wins: earlier file, then earlier row; anything already loaded wins over both.
            # Repeated keys are rare, so only they are ranked: `later_copies` holds the rows that lose.
            con.execute(
                f"""
                CREATE OR REPLACE TEMP TABLE later_copies AS
                SELECT file_idx, row_number FROM (
                  SELECT v.file_idx, v.row_number,
                         row_number() OVER (PARTITION BY {", ".join(f"v.{k}" for k in source.key)}
                                            ORDER BY v.file_idx, v.row_number) AS copy
                  FROM validated v
                  SEMI JOIN (
                    SELECT {partition} FROM validated WHERE reason IS NULL
                    GROUP BY ALL HAVING count(*) > 1
                  ) d ON {_key_match(source, "d", "v")}
                  WHERE v.reason IS NULL
                ) WHERE copy > 1
                """
            )
            # Keys already loaded, found by probing the raw table with the (smaller) chunk: the hash
            # table is built on the chunk, never on the whole history.
            con.execute(
                f"""
                CREATE OR REPLACE TEMP TABLE already_loaded AS
                SELECT {", ".join(f"r.{k}" for k in source.key)}
                FROM raw.{source.name} r SEMI JOIN validated f ON {key_match} AND f.reason IS NULL
                """
            )
            con.execute(
                f"""
                INSERT INTO raw.{source.name}
                SELECT {columns}, s.file_path, f.row_number, {self.load_time}, '{run_id}'
                FROM validated f
                ANTI JOIN later_copies c ON c.file_idx = f.file_idx AND c.row_number = f.row_number
                ANTI JOIN already_loaded r ON {key_match}
                JOIN stage_files s USING (file_idx)
                WHERE f.reason IS NULL
                """
            )
            counts = con.execute(
                f"""
                WITH loaded AS (
                  SELECT _file_path AS file_path, count(*) AS loaded FROM raw.{source.name}
                  WHERE _run_id = '{run_id}' AND _file_path IN (SELECT file_path FROM stage_files)
                  GROUP BY ALL
                )
                SELECT v.file_idx, s.file_path,
                       count(*) FILTER (WHERE v.reason IS NOT NULL) AS rejected,
                       count(*) FILTER (WHERE v.reason IS NULL) AS accepted,
                       coalesce(max(l.loaded), 0) AS loaded
                FROM validated v JOIN stage_files s USING (file_idx)
                LEFT JOIN loaded l USING (file_path)
                GROUP BY v.file_idx, s.file_path
                """
            ).fetchall()
            by_path = {path: (rejected, accepted, loaded) for _, path, rejected, accepted, loaded in counts}
            # A loaded file with no rows has no row in `counts`: its counts stay 0.
            for result in chunk:
                if result.status == "loaded" and result.file_path in by_path:
                    rejected, accepted, loaded = by_path[result.file_path]
                    result.rows_rejected, result.rows_loaded = rejected, loaded
                    result.duplicates_dropped = accepted - loaded
            self._write_ledger(chunk)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        self.summary.files.extend(chunk)

    def _validate(self, staged: StagedChunk) -> dict[int, str]:
        """Fill the temp table `validated` with the chunk's rows, typed, each with its reason if
        rejected. Returns the Parquet files (file_idx -> reason) that could not be read."""
        con, source = self.con, self.source
        if staged.parquet_files and not (staged.json_lines or staged.csv_rows or staged.invalid_records):
            # Parquet only (the usual batch): validate straight from the files.
            stage_parquet_view(con, source, staged.parquet_files, PARQUET_VIEW)
            try:
                con.execute(
                    f"CREATE OR REPLACE TEMP TABLE validated AS {validation_sql(source, PARQUET_VIEW, self.load_time)}"
                )
                return {}
            except duckdb.Error:
                pass  # a data page that cannot be read: stage file by file below, which finds it
        unreadable = stage_chunk(con, source, staged, STAGE)
        con.execute(f"CREATE OR REPLACE TEMP TABLE validated AS {validation_sql(source, STAGE, self.load_time)}")
        return unreadable

    def _write_ledger(self, chunk: list[FileResult]) -> None:
        rows = pa.Table.from_pylist([asdict(r) for r in chunk])
        self.con.register("ledger_rows", rows)
        try:
            self.con.execute(
                f"""
                INSERT INTO audit.load_ledger
                SELECT source, file_path, file_sha256, status, reason, rows_read, rows_loaded, rows_rejected,
                       duplicates_dropped, {self.load_time}, '{self.summary.run_id}'
                FROM ledger_rows
                """
            )
            self.con.execute(
                f"""
                INSERT INTO audit.rejected_rows
                SELECT source, file_path, NULL, reason, NULL, {self.load_time}, '{self.summary.run_id}'
                FROM ledger_rows WHERE status = 'rejected'
                """
            )
        finally:
            self.con.unregister("ledger_rows")
