"""Set-based loading of a landing directory into the warehouse.

Every file of the landing directory is accounted for (the spec's "Every file accounted for"): a file is
known by its path and its version by its bytes (`file_sha256`), and each new version gets one ledger
row in the run that first sees it: `loaded` or `rejected` when read, `empty` (0 bytes), `ignored` (not a
contract file), or `rejected` because the file changed after a version of it was loaded. Names
starting with `.` or `_` (temporaries, `_SUCCESS`, `_temporary/`) are not data and are skipped.

Files to read are read in path order into a staging table (a chunk of Parquet files only: a view over
the files, read once by the validation), validated by one generated SQL statement, de-duplicated
against everything loaded before, and written with their ledger rows and rejected rows. Files are
committed in chunks of whole files, so a file is loaded all or nothing: a crash leaves no part of a file
behind, and the next run loads it. Files not read (empty, ignored, changed) get their ledger rows in one
transaction of their own.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa

from pipelines.core import contract
from pipelines.core.contract import SOURCES, Source
from pipelines.ingest import ledger
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
    file_size: int | None = None
    file_modified_at: datetime | None = None
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
        return self.count(contract.REJECTED)

    def count(self, status: str) -> int:
        return sum(f.status == status for f in self.files)

    def by_source(self, source: str) -> list[FileResult]:
        return [f for f in self.files if f.source == source]


def _skipped(name: str) -> bool:
    """Not data, as in Hadoop and Spark: editor and upload temporaries, `_SUCCESS`, `_temporary/`."""
    return name.startswith((".", "_"))


def _relative(path: Path, landing_dir: Path) -> str:
    return path.relative_to(landing_dir).as_posix()


def discover_files(landing_dir: Path) -> dict[str, list[Path]]:
    """Every landed file, per source folder (`contract.NO_SOURCE`: outside the source folders), in the
    order of their relative paths (byte order). Files and folders whose names start with `.` or `_`
    are skipped, and so is what such folders hold. Whether a file is a contract file is
    `is_contract_file`'s question."""
    landing_dir = Path(landing_dir)
    found: dict[str, list[Path]] = {name: [] for name in (*SOURCES, contract.NO_SOURCE)}
    for folder, dirs, files in os.walk(landing_dir):
        dirs[:] = [d for d in dirs if not _skipped(d)]
        for name in files:
            path = Path(folder, name)
            if _skipped(name) or not path.is_file():
                continue
            folder_name, _, rest = _relative(path, landing_dir).partition("/")
            found[folder_name if rest and folder_name in SOURCES else contract.NO_SOURCE].append(path)
    return {
        name: sorted(paths, key=lambda p: _relative(p, landing_dir).encode()) for name, paths in found.items()
    }


def is_contract_file(source: str, path: Path) -> bool:
    return source in SOURCES and path.name.lower().endswith(SOURCES[source].suffixes)


EPOCH = datetime(1970, 1, 1)


@dataclass
class LandedFile:
    """A version of a landed file that has no ledger row yet, and what this run does with it."""

    path: Path
    file_path: str  # relative to the landing directory
    source: str  # contract.NO_SOURCE outside the source folders
    action: str  # "read", or a ledger status it gets without being read: empty, ignored, rejected
    size: int
    modified_at: datetime  # naive UTC
    sha256: str | None = None  # computed when the path was known already; else when recorded
    reason: str | None = None

    def result(self) -> FileResult:
        """Its ledger row before it is read (for files not read, the final one)."""
        return FileResult(
            self.source, self.file_path, self.sha256 or _sha256(self.path),
            status=contract.LOADED if self.action == "read" else self.action, reason=self.reason,
            file_size=self.size, file_modified_at=self.modified_at,
        )


def pending_files(con: duckdb.DuckDBPyConnection, landing_dir: Path) -> list[LandedFile]:
    """Every file version of the landing directory that needs a ledger row now, in load order."""
    ledger.ensure_tables(con)
    recognised: list[LandedFile] = []
    pending = pending_versions(ledger.ledger_history(con), landing_dir, recognised)
    if recognised:
        ledger.record_file_stats(con, [(f.file_path, f.sha256, f.size, f.modified_at) for f in recognised])
    return pending


def pending_versions(
    history: dict[str, ledger.PathHistory], landing_dir: Path, recognised: list[LandedFile] | None = None
) -> list[LandedFile]:
    """The file versions of the landing directory that `history` (the ledger's) does not hold, in load order.

    A file whose size and modification time match a recorded version of its path is that version (as
    rsync's quick check) and is not read; a path the ledger does not hold is new without hashing it
    here (it is hashed when recorded, once); a known path with another size or time is hashed: bytes
    seen before under that path are no new version (a `touch`, or restored bytes) and need no row; they
    are appended to `recognised`."""
    landing_dir = Path(landing_dir)
    pending: list[LandedFile] = []
    for source, paths in discover_files(landing_dir).items():
        for path in paths:
            relative = _relative(path, landing_dir)
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue  # renamed or removed since it was listed: not landed
            modified_us = stat.st_mtime_ns // 1000
            known = history.get(relative)
            sha256 = None
            if known is not None:
                if (stat.st_size, modified_us) in known.stats:
                    continue
                sha256 = _sha256(path)
            landed = LandedFile(path, relative, source, "read", stat.st_size, EPOCH + timedelta(microseconds=modified_us),
                                sha256)
            if known is not None and sha256 in known.sha256s:
                if recognised is not None:
                    recognised.append(landed)
                continue
            if not is_contract_file(source, path):
                landed.action, landed.reason = contract.IGNORED, contract.ignored_reason(source)
            elif known is not None and known.loaded_sha256 is not None:
                landed.action = contract.REJECTED
                landed.reason = contract.changed_reason(known.loaded_sha256, sha256)
            elif stat.st_size == 0:
                landed.action, landed.reason = contract.EMPTY, contract.EMPTY_REASON
            pending.append(landed)
    return pending


def new_files(con: duckdb.DuckDBPyConnection, landing_dir: Path) -> dict[str, list[Path]]:
    """Files that need a ledger row now (new files, new versions, files to ignore), per source
    (`contract.NO_SOURCE`: outside the source folders), in load order. Empty when the ledger accounts
    for every file, so a run with nothing new is up to date."""
    found: dict[str, list[Path]] = {name: [] for name in (*SOURCES, contract.NO_SOURCE)}
    for landed in pending_files(con, landing_dir):
        found[landed.source].append(landed.path)
    return found


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
    pending = pending_files(con, landing_dir)
    for name, source in SOURCES.items():
        to_read = [f for f in pending if f.source == name and f.action == "read"]
        if to_read:
            _SourceLoader(con, source, landing_dir, summary, chunk_rows).load(to_read)
    # Files not read (empty, ignored, changed after loaded): their ledger rows, in one transaction.
    unread = [f.result() for f in pending if f.action != "read"]
    if unread:
        con.execute("BEGIN TRANSACTION")
        try:
            write_ledger(con, unread, summary)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        summary.files.extend(unread)
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

    def load(self, files: list[LandedFile]) -> None:
        inventory = parquet_inventory(self.con, [f.path for f in files if file_format(f.path) == "parquet"])
        results: list[FileResult] = []
        chunk = StagedChunk()
        for file_idx, landed in enumerate(files):
            results.append(self._read_file(landed, file_idx, chunk, inventory))
            if chunk.rows >= self.chunk_rows or chunk.text_rows >= self.chunk_rows // 2:
                self._commit_chunk(results, chunk)
                results, chunk = [], StagedChunk()
        if results:
            self._commit_chunk(results, chunk)
        self.con.execute(f"DROP TABLE IF EXISTS {STAGE}")
        self.con.execute(f"DROP VIEW IF EXISTS {PARQUET_VIEW}")

    def _read_file(self, landed: LandedFile, file_idx: int, chunk: StagedChunk, inventory: dict) -> FileResult:
        path, relative = landed.path, landed.file_path
        result = landed.result()
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
        write_ledger(self.con, chunk, self.summary)


def write_ledger(con: duckdb.DuckDBPyConnection, results: list[FileResult], summary: IngestSummary) -> None:
    """The files' ledger rows, and for each file rejected whole its reason in audit.rejected_rows (no
    row number). Inside the caller's transaction."""
    load_time = _timestamp_literal(summary.loaded_at)
    rows = pa.Table.from_pylist([asdict(r) for r in results])
    con.register("ledger_rows", rows)
    try:
        con.execute(
            f"""
            INSERT INTO audit.load_ledger BY NAME
            SELECT source, file_path, file_sha256, status, reason, rows_read, rows_loaded, rows_rejected,
                   duplicates_dropped, {load_time} AS loaded_at, '{summary.run_id}' AS run_id,
                   file_size, file_modified_at
            FROM ledger_rows
            """
        )
        con.execute(
            f"""
            INSERT INTO audit.rejected_rows
            SELECT source, file_path, NULL, reason, NULL, {load_time}, '{summary.run_id}'
            FROM ledger_rows WHERE status = '{contract.REJECTED}'
            """
        )
    finally:
        con.unregister("ledger_rows")
