"""Run the data checks on the warehouse connection and record them in `audit.check_results`.

Public entry points:

- `run_all_checks(con, run_id, *, freshness_hours=36)`: every check over whole tables (what
  `funnel check` runs: the full audit).
- `run_checks(con, run_id, checks, ..., loads=None, latest_build=False)`: a subset (what each Dagster
  asset check runs); `loads` limits the load-scoped raw checks to the rows of those ingestion runs
  (None: every row), `latest_build` the build-scoped mart checks to the rows of the latest dbt build.
- `unverified_loads(con, checks)`: the ingestion runs whose rows those checks have not yet verified
  (what a Dagster run passes as `loads`); `run_unverified(con, run_id, checks)` runs the checks on
  them and on the latest build's rows (what a Dagster check step does).
- `any_blocking_failure(results)` / `blocking_failures(results)`: whether a publish must be held back.
- `format_results(results)`: the lines `funnel check` prints.

GX checks are grouped by batch (a table, or the rows of the loads being checked) into one suite per
batch and result format, validated through GX's SQL datasource on a cursor of `con` (see
`data_checks.gx_duckdb`): the work runs in DuckDB.
"""

from __future__ import annotations

import functools
import json
import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from data_checks.catalog import all_checks
from data_checks.check import (
    ERROR,
    LATEST_BUILD,
    LOAD_SCOPES,
    WARNING,
    Check,
    CheckParams,
    latest_build_filter,
    load_filter,
)
from pipelines.core.settings import Settings, prepare_process

log = logging.getLogger(__name__)

RESULTS_TABLE = "audit.check_results"
EVIDENCE_ROWS = 20  # offending rows kept in `details` per expectation


@dataclass(frozen=True)
class CheckResult:
    check_name: str
    asset: str
    severity: str  # 'error' | 'warning'
    passed: bool
    observed_value: str | None
    expected: str
    details: str  # JSON text
    run_id: str
    checked_at: datetime  # naive UTC

    @property
    def blocking(self) -> bool:
        return self.severity == ERROR

    def summary(self) -> str:
        verdict = "ok" if self.passed else ("FAILED" if self.blocking else "WARNING")
        text = f"[{verdict}] {self.check_name} ({self.severity}, {self.asset}): observed {self.observed_value}"
        if not self.passed:
            text += f"; expected {self.expected}"
        return text


def any_blocking_failure(results: list[CheckResult]) -> bool:
    """True when an error-level check failed: downstream work and publishing must stop."""
    return any(r.blocking and not r.passed for r in results)


def blocking_failures(results: list[CheckResult]) -> list[CheckResult]:
    return [r for r in results if r.blocking and not r.passed]


def format_results(results: list[CheckResult]) -> str:
    """One line per check, failures first, then a one-line verdict."""
    ordered = sorted(results, key=lambda r: (r.passed, not r.blocking))
    lines = [r.summary() for r in ordered]
    failed = blocking_failures(results)
    warned = [r for r in results if not r.passed and not r.blocking]
    lines.append(
        f"{len(results)} checks: {len(failed)} error(s), {len(warned)} warning(s)"
        + (": BLOCKED by " + ", ".join(r.check_name for r in failed) if failed else "")
    )
    return "\n".join(lines)


# ---------------------------------------------------------------- audit.check_results
def ensure_results_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS audit")
    con.execute(
        f"""CREATE TABLE IF NOT EXISTS {RESULTS_TABLE} (
            check_name VARCHAR NOT NULL, asset VARCHAR NOT NULL, severity VARCHAR NOT NULL,
            passed BOOLEAN NOT NULL, observed_value VARCHAR, expected VARCHAR, details VARCHAR,
            run_id VARCHAR NOT NULL, checked_at TIMESTAMP NOT NULL)"""
    )


def write_results(con: duckdb.DuckDBPyConnection, results: list[CheckResult]) -> None:
    ensure_results_table(con)
    if results:
        con.executemany(
            f"INSERT INTO {RESULTS_TABLE} (check_name, asset, severity, passed, observed_value, expected, details, "
            "run_id, checked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                [r.check_name, r.asset, r.severity, r.passed, r.observed_value, r.expected, r.details, r.run_id,
                 r.checked_at]
                for r in results
            ],
        )


def read_results(con: duckdb.DuckDBPyConnection, run_id: str) -> list[CheckResult]:
    """The recorded results of one run (e.g. for `funnel run` to name a failed check)."""
    rows = con.cursor().execute(
        f"SELECT check_name, asset, severity, passed, observed_value, expected, details, run_id, checked_at "
        f"FROM {RESULTS_TABLE} WHERE run_id = ? ORDER BY checked_at, check_name",
        [run_id],
    ).fetchall()
    return [CheckResult(*r) for r in rows]


# ---------------------------------------------------------------- helpers
def relation_exists(con: duckdb.DuckDBPyConnection, qualified: str) -> bool:
    schema, name = qualified.split(".", 1)
    rows = con.cursor().execute(
        "SELECT count(*) FROM (SELECT schema_name, table_name AS name FROM duckdb_tables() "
        "UNION ALL SELECT schema_name, view_name FROM duckdb_views()) WHERE schema_name = ? AND name = ?",
        [schema, name],
    ).fetchall()
    return rows[0][0] > 0


def warehouse_file(con: duckdb.DuckDBPyConnection) -> Path | None:
    rows = con.cursor().execute(
        "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchall()
    return Path(rows[0][0]) if rows and rows[0][0] else None


def default_docs_dir(con: duckdb.DuckDBPyConnection) -> Path | None:
    """Where GX Data Docs go: the settings' FUNNEL_GX_DOCS_DIR, else `gx_docs/` beside the warehouse file."""
    path = warehouse_file(con)
    settings = Settings.from_env(warehouse=path)
    return settings.gx_docs if path or settings.gx_docs_dir else None


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    if hasattr(value, "to_dict") and callable(value.to_dict) and hasattr(value, "columns"):  # DataFrame
        return _jsonable(value.head(EVIDENCE_ROWS).to_dict(orient="records"))
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _result_summary(er) -> dict:
    cfg = er.expectation_config
    kwargs = {k: v for k, v in cfg.kwargs.items() if k not in ("batch_id", "unexpected_rows_query")}
    result = dict(er.result or {})
    summary = {"expectation": cfg.type, "kwargs": _jsonable(kwargs), "success": bool(er.success)}
    for key in ("observed_value", "element_count", "unexpected_count", "missing_count", "partial_unexpected_counts"):
        if key in result:
            summary[key] = _jsonable(result[key])
    details = result.get("details") or {}
    if "unexpected_rows" in details:
        summary["unexpected_rows"] = _jsonable(details["unexpected_rows"])[:EVIDENCE_ROWS]
    elif details:
        summary["details"] = _jsonable(details)
    if er.exception_info and er.exception_info.get("raised_exception"):
        summary["exception"] = str(er.exception_info.get("exception_message"))
    return summary


def _observed(check: Check, summaries: list[dict]) -> str:
    if any("exception" in s for s in summaries):
        return "check could not run: " + "; ".join(s["exception"] for s in summaries if "exception" in s)[:500]
    if check.name.endswith("required_columns"):
        missing = [
            c
            for s in summaries
            for c in (s["kwargs"].get("column_set") or [])
            if c not in (s.get("observed_value") or [])
        ]
        return "missing: " + ", ".join(missing) if missing else "all present"
    total = 0
    for s in summaries:
        if isinstance(s.get("unexpected_count"), int):
            total += s["unexpected_count"]
        elif isinstance(s.get("observed_value"), int):
            total += s["observed_value"]
        elif not s["success"]:
            total += 1
    return f"{total} unexpected"


# ---------------------------------------------------------------- running
def _batch_rows(check: Check, params: CheckParams) -> tuple[str, str] | None:
    """(label, SQL condition) limiting `check`'s GX batch to the rows it reads; None: the whole table."""
    if params.loads is not None and check.scope in LOAD_SCOPES:
        return "loads", load_filter(params.loads)
    if params.latest_build and check.scope == LATEST_BUILD:
        return "latest build", latest_build_filter(check.table)
    return None


def _key_range_reader(con: duckdb.DuckDBPyConnection, loads: tuple[str, ...]):
    """`CheckParams.key_range`: (min, max) of a key column over the rows of `loads` (their row groups
    only), read once per column and run."""

    @functools.cache
    def key_range(table: str, column: str) -> tuple | None:
        query = f"SELECT min({column}), max({column}) FROM {table} WHERE {load_filter(loads)}"
        try:
            return con.cursor().execute(query).fetchone()
        except duckdb.Error:  # e.g. a missing column: the probe runs unbounded and fails with the reason
            return None

    return key_range


def _run_gx(con, checks: list[Check], params: CheckParams, docs_dir: Path | None) -> dict[str, list]:
    """Validate the GX checks; returns check name -> its ExpectationValidationResults."""
    prepare_process()  # GX analytics off before great_expectations is imported
    import great_expectations as gx
    import great_expectations.expectations as gxe
    from great_expectations.checkpoint import UpdateDataDocsAction

    from data_checks.gx_duckdb import add_warehouse_datasource, ephemeral_context

    context = ephemeral_context(docs_dir)
    datasource = add_warehouse_datasource(context, con)
    by_format: dict[str, list] = defaultdict(list)
    # One GX batch per table, and one more per table for the rows of the loads being checked (raw) or of
    # the latest build (facts).
    by_batch: dict[tuple[str, tuple[str, str] | None], list[Check]] = defaultdict(list)
    for check in checks:
        by_batch[(check.table, _batch_rows(check, params))].append(check)
    for (table, rows), batch_checks in by_batch.items():
        schema, name = table.split(".", 1)
        label = f"{table}:{rows[0]}" if rows else table
        if rows:
            asset = datasource.add_query_asset(name=label, query=f"SELECT * FROM {table} WHERE {rows[1]}")
        else:
            asset = datasource.add_table_asset(name=label, table_name=name, schema_name=schema)
        batch = asset.add_batch_definition_whole_table(name=f"{label}:all")
        suites: dict[str, list] = defaultdict(list)
        for check in batch_checks:
            for expectation in check.expectations(params):
                expectation.meta = {**(expectation.meta or {}), "check": check.name}
                fmt = "COMPLETE" if isinstance(expectation, gxe.UnexpectedRowsExpectation) else "SUMMARY"
                suites[fmt].append(expectation)
        for fmt, expectations in suites.items():
            suite = context.suites.add(gx.ExpectationSuite(name=f"{label}.{fmt.lower()}", expectations=expectations))
            by_format[fmt].append(
                context.validation_definitions.add(
                    gx.ValidationDefinition(name=f"{label}.{fmt.lower()}", data=batch, suite=suite)
                )
            )
    results: dict[str, list] = defaultdict(list)
    try:
        for fmt, definitions in by_format.items():
            checkpoint = context.checkpoints.add(
                gx.Checkpoint(
                    name=f"funnel_checks_{fmt.lower()}",
                    validation_definitions=definitions,
                    actions=[UpdateDataDocsAction(name="data_docs")] if docs_dir else [],
                    result_format={"result_format": fmt, "partial_unexpected_count": EVIDENCE_ROWS},
                )
            )
            outcome = checkpoint.run()
            for suite_result in outcome.run_results.values():
                for er in suite_result.results:
                    results[er.expectation_config.meta["check"]].append(er)
    finally:
        try:
            datasource.get_execution_engine().close()
        except Exception:  # pragma: no cover - best effort
            log.debug("closing the GX engine failed", exc_info=True)
    return results


def run_checks(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    checks: list[Check] | None = None,
    *,
    freshness_hours: float = Settings.freshness_hours,
    now: datetime | None = None,
    docs_dir: Path | str | None = None,
    write: bool = True,
    loads: list[str] | tuple[str, ...] | None = None,
    latest_build: bool = False,
) -> list[CheckResult]:
    """Run `checks` (default: all), write them to audit.check_results, return them in order.

    `loads`: the ingestion run ids whose raw rows the load-scoped checks (scope NEW_ROWS / NEW_KEYS)
    read; None reads every row. `latest_build`: the build-scoped checks (LATEST_BUILD) read the rows of
    the latest dbt build only. Whole-table checks ignore both (docs/data-quality.md)."""
    checks = list(checks if checks is not None else all_checks())
    loads = tuple(sorted(set(loads))) if loads is not None else None
    params = CheckParams(
        now=now or _now(),
        freshness_hours=float(freshness_hours),
        loads=loads,
        key_range=_key_range_reader(con, loads) if loads is not None else None,
        latest_build=latest_build,
    )
    checked_at = _now()
    missing = {
        c.name: [t for t in dict.fromkeys((c.table, *c.reads)) if not relation_exists(con, t)] for c in checks
    }
    gx_checks = [c for c in checks if c.expectations is not None and not missing[c.name]]
    gx_results = _run_gx(con, gx_checks, params, Path(docs_dir) if docs_dir else None) if gx_checks else {}

    results = []
    for check in checks:
        if missing[check.name]:
            passed, observed = False, "missing table: " + ", ".join(missing[check.name])
            details = {"missing_tables": missing[check.name]}
        elif check.custom is not None:
            try:
                passed, observed, details = check.custom(con, params)
            except Exception as exc:  # noqa: BLE001  (a check that cannot run fails, with the reason)
                passed, observed, details = False, f"check could not run: {exc}", {"exception": repr(exc)}
        else:
            summaries = [_result_summary(er) for er in gx_results.get(check.name, [])]
            if not summaries:
                passed, observed = False, "check could not run: no GX result"
            else:
                passed = all(s["success"] for s in summaries)
                observed = _observed(check, summaries)
            if check.observe_sql is not None and not any("exception" in s for s in summaries):
                try:
                    observed = str(con.cursor().execute(check.observe_sql(params)).fetchall()[0][0])
                except duckdb.Error as exc:
                    observed = f"{observed} (observation failed: {exc})"
            details = {"expectations": summaries}
        details = {"description": check.description, **details}
        results.append(
            CheckResult(
                check_name=check.name,
                asset=check.asset,
                severity=check.severity,
                passed=bool(passed),
                observed_value=observed,
                expected=check.expected,
                details=json.dumps(_jsonable(details), default=str),
                run_id=run_id,
                checked_at=checked_at,
            )
        )
    if write:
        write_results(con, results)
    return results


def run_all_checks(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    *,
    freshness_hours: float = Settings.freshness_hours,
    now: datetime | None = None,
    docs_dir: Path | str | None = None,
    build_docs: bool = True,
    loads: list[str] | tuple[str, ...] | None = None,
) -> list[CheckResult]:
    """Every check on the warehouse connection; results also written to audit.check_results.

    By default (`loads=None`) every check reads whole tables: the full audit of `funnel check`, which
    also sees bad rows loaded long ago (e.g. written into raw by hand, which the ingestion never does).

    GX Data Docs are built to `docs_dir` (default: $FUNNEL_GX_DOCS_DIR, else `gx_docs/` beside the
    warehouse file; none for an in-memory database) unless `build_docs` is False.
    """
    if build_docs and docs_dir is None:
        docs_dir = default_docs_dir(con)
    return run_checks(
        con,
        run_id,
        all_checks(),
        freshness_hours=freshness_hours,
        now=now,
        docs_dir=docs_dir if build_docs else None,
        loads=loads,
    )


def unverified_loads(con: duckdb.DuckDBPyConnection, checks: list[Check]) -> list[str] | None:
    """The ingestion runs whose raw rows the load-scoped `checks` still have to read, or None for every
    row (whole tables).

    A load is verified for a check when, in the load's own run (the ingestion writes its run id to the
    ledger and `_run_id`; the Dagster check op records results under the same run id), the check
    passed, or, for a warning, ran at all (it was reported; it never blocks). Because each run checks
    every load not yet verified, a check's newest verified load also vouches for every older one. So
    the loads to check are those loaded at or after the check's newest verified load that are not
    verified themselves: normally just this run's; after a blocked run, also the loads of the runs
    that failed, until their rows pass (as whole-table checks used to re-find them on every run).

    None (whole tables) when there is no ledger or no results yet, or when no load is verified.
    """
    names = [c.name for c in checks if c.scope in LOAD_SCOPES]
    if not names:
        return None
    if not relation_exists(con, "audit.load_ledger") or not relation_exists(con, RESULTS_TABLE):
        return None
    severities = [WARNING if c.severity == WARNING else ERROR for c in checks if c.scope in LOAD_SCOPES]
    cur = con.cursor()
    rows = cur.execute(
        f"""
        WITH loads AS (SELECT run_id, max(loaded_at) AS loaded_at FROM audit.load_ledger
                   WHERE run_id IS NOT NULL GROUP BY run_id),
        checks AS (SELECT unnest(?::VARCHAR[]) AS check_name, unnest(?::VARCHAR[]) AS severity),
        verified AS (  -- (check, load): done in the load's own run
            SELECT DISTINCT c.check_name, l.run_id, l.loaded_at
              FROM checks c JOIN {RESULTS_TABLE} r ON r.check_name = c.check_name
              JOIN loads l ON l.run_id = r.run_id
             WHERE r.passed OR c.severity = '{WARNING}'),
        mark AS (SELECT c.check_name, max(v.loaded_at) AS verified_to
                   FROM checks c LEFT JOIN verified v USING (check_name) GROUP BY c.check_name)
        SELECT DISTINCT l.run_id
          FROM mark m CROSS JOIN loads l
         WHERE (m.verified_to IS NULL OR l.loaded_at >= m.verified_to)
           AND NOT EXISTS (SELECT 1 FROM verified v WHERE v.check_name = m.check_name AND v.run_id = l.run_id)
         ORDER BY 1
        """,
        [names, severities],
    ).fetchall()
    [(all_loads,)] = cur.execute("SELECT count(DISTINCT run_id) FROM audit.load_ledger").fetchall()
    pending = [r[0] for r in rows]
    return None if len(pending) == all_loads else pending


def run_unverified(
    con: duckdb.DuckDBPyConnection, run_id: str, checks: list[Check], *, freshness_hours: float = 36
) -> tuple[list[str] | None, list[CheckResult]]:
    """What a Dagster check step runs: `checks`, the load-scoped ones on the loads they have not
    verified yet, the build-scoped ones on the rows of the latest build (the build after a run that
    failed rebuilds every row: docs/data-quality.md). Returns those loads (None: every row) and the
    results, written to audit.check_results."""
    loads = unverified_loads(con, checks)
    return loads, run_checks(
        con, run_id, checks, freshness_hours=freshness_hours, loads=loads, latest_build=True
    )



