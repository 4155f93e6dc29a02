"""The run lifecycle around the Dagster job, without importing Dagster (so that `funnel run` with nothing
new returns before Dagster is loaded):

- `dagster_home`: the Dagster instance that records the runs of a warehouse, for `funnel run` and
  `funnel dagster` alike: DAGSTER_HOME when set, else `<stem>.dagster/` beside the warehouse, with a
  `dagster.yaml` (SQLite storage, telemetry off) written there when missing;
- `unbuilt_reason`: whether the marts and the published copy are behind the warehouse. `funnel run`
  skips the job when they are not (and no file waits); inside the job the dbt step builds nothing
  then, so a run launched from the Dagster UI with nothing new changes nothing.

What the job itself records (docs/architecture.md, "The run lifecycle"): `published_warehouse`
records a successful run (audit.pipeline_runs, the run-status file); the failure hook
`pipelines.hooks.record_failed_run` records a failed one.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import duckdb

from pipelines.core.settings import dagster_home_path, published_path

# SQLite storage, with the event log in one database (WAL mode) instead of Dagster's default of one
# database per run plus an index that repeats every asset event: a run writes ~560 events, one commit
# each, and storing them took about half the time (docs/performance.md, "The persistent Dagster instance").
DAGSTER_YAML = """\
# The Dagster instance of this warehouse, written by `funnel run` / `funnel dagster` when missing
# (pipelines/lifecycle.py). Runs, their events, materializations and check results: SQLite files below.
run_storage:
  module: dagster.core.storage.runs
  class: SqliteRunStorage
  config:
    base_dir: {storage}/history
event_log_storage:
  module: dagster.core.storage.event_log
  class: ConsolidatedSqliteEventLogStorage
  config:
    base_dir: {storage}/history
schedule_storage:
  module: dagster.core.storage.schedules
  class: SqliteScheduleStorage
  config:
    base_dir: {storage}/schedules
telemetry:
  enabled: false
nux:
  enabled: false
"""


def dagster_home(warehouse: Path | str) -> Path:
    """DAGSTER_HOME when set, else the folder beside the warehouse; created, with a dagster.yaml.
    A dagster.yaml of ours whose folder was moved or copied (its storage paths name another folder:
    Dagster's storage config takes absolute paths) is written again for this folder, so the runs are
    recorded beside the warehouse, not in the old folder; any other dagster.yaml is the user's."""
    value = os.environ.get("DAGSTER_HOME")
    home = Path(value).resolve() if value else dagster_home_path(Path(warehouse).resolve())
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    wanted = DAGSTER_YAML.format(storage=home / "storage")
    if not config.exists() or _written_for_another_folder(config.read_text(), wanted):
        temporary = home / f".dagster.yaml.{os.getpid()}.tmp"
        temporary.write_text(wanted)
        os.replace(temporary, config)
    return home


def _written_for_another_folder(text: str, wanted: str) -> bool:
    """Whether `text` is DAGSTER_YAML as written for another folder, unedited (an edited file is kept)."""
    if text == wanted:
        return False
    found = re.search(r"^    base_dir: (.*)/history$", text, re.MULTILINE)
    return bool(found) and text == DAGSTER_YAML.format(storage=found.group(1))


def unbuilt_reason(con: duckdb.DuckDBPyConnection, warehouse: Path | str, fingerprint: str) -> str | None:
    """Why the marts and the published copy are behind what the warehouse holds, or None when the last
    published build has every file of the ledger and used this dbt project and window."""
    from pipelines.ingest.ledger import ensure_tables, last_successful_build

    if not published_path(warehouse).exists():
        return "nothing published yet"
    ensure_tables(con)
    last = last_successful_build(con)  # on DuckDB: a build on another engine leaves the DuckDB marts behind
    if last is None:
        return "no published build yet"
    if last[0] != fingerprint:
        return "the dbt project or the conversion window changed since the last published build"
    # Files recorded after it: this run's, those of a run that failed before publishing or built another engine.
    (recorded,) = con.execute("SELECT count(*) FROM audit.load_ledger WHERE loaded_at > ?", [last[1]]).fetchall()[0]
    if recorded:
        return f"{recorded} file(s) recorded since the last published build"
    return None
