"""The `funnel` command end to end, as a user runs it: generate, run, run again, add a day, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from pipelines.core.settings import Settings
from pipelines.run import run_pipeline
from tests.conftest import another_writer

FUNNEL = [sys.executable, "-m", "pipelines.cli"]
MART_TABLES = ("kpi_daily", "kpi_weekly", "kpi_monthly", "funnel_steps", "fct_checkouts", "fct_orders")


def funnel(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*FUNNEL, *args], check=False, capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=600
    )


def marts(published: Path) -> dict[str, list[tuple]]:
    con = duckdb.connect(str(published), read_only=True)
    try:
        return {t: con.execute(f"SELECT * FROM marts.{t} ORDER BY ALL").fetchall() for t in MART_TABLES}
    finally:
        con.close()


@pytest.fixture(scope="module")
def two_batches(tmp_path_factory):
    """A landing directory filled in two steps: 20 days, then one more day with status changes."""
    root = tmp_path_factory.mktemp("cli")
    landing = root / "landing"
    first = funnel("generate", "--out", str(landing), "--days", "20", "--checkouts-per-day", "40",
                   "--seed", "3", "--end-date", "2026-10-20")
    assert first.returncode == 0, first.stderr
    before = sorted(p.relative_to(landing).as_posix() for p in landing.rglob("*") if p.is_file())
    return root, landing, before


def test_run_run_again_add_a_day_equals_one_run(two_batches):
    root, landing, _ = two_batches
    warehouse = root / "w.duckdb"
    run = funnel("run", "--landing", str(landing), "--warehouse", str(warehouse))
    assert run.returncode == 0, run.stderr
    assert "new files (0 rejected whole)" in run.stdout and "Headline KPIs" in run.stdout
    published = warehouse.with_name("w.published.duckdb")
    after_first = marts(published)
    assert after_first["fct_checkouts"], "the generated data gives checkouts"

    again = funnel("run", "--landing", str(landing), "--warehouse", str(warehouse))
    assert again.returncode == 0, again.stderr
    assert "No new files" in again.stdout
    assert marts(published) == after_first
    # That short cut never imports Dagster (nor records a run).
    probe = (
        "import sys; from pipelines.run import run_pipeline; from pipelines.core.settings import Settings\n"
        f"outcome = run_pipeline(Settings.from_env({str(landing)!r}, {str(warehouse)!r}))\n"
        "print('dagster' in sys.modules, outcome.run_id == '')"
    )
    checked = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert checked.stdout.split() == ["False", "True"]

    more = funnel("generate", "--out", str(landing), "--days", "1", "--checkouts-per-day", "40", "--seed", "4",
                  "--end-date", "2026-10-21", "--id-prefix", "b")
    assert more.returncode == 0, more.stderr
    incremental = funnel("run", "--landing", str(landing), "--warehouse", str(warehouse))
    assert incremental.returncode == 0, incremental.stderr
    after_second = marts(published)
    assert after_second != after_first

    # One run over all the files gives exactly the same public tables.
    settings = Settings.from_env(landing, root / "once.duckdb")
    run_pipeline(settings)
    assert marts(settings.published) == after_second


def test_missing_landing_directory_says_what_to_do(tmp_path):
    result = funnel("run", "--landing", str(tmp_path / "nowhere"), "--warehouse", str(tmp_path / "w.duckdb"))
    assert result.returncode == 2
    assert "does not exist" in result.stderr and "funnel generate" in result.stderr


def test_a_second_writer_is_refused_with_a_clear_message(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    (tmp_path / "landing").mkdir()
    with another_writer(warehouse):
        result = funnel("run", "--landing", str(tmp_path / "landing"), "--warehouse", str(warehouse), "--wait", "1")
    assert result.returncode == 75
    assert "another pipeline run is writing" in result.stderr


def test_generate_refuses_to_reuse_an_id_prefix(two_batches):
    _, landing, _ = two_batches
    result = funnel("generate", "--out", str(landing), "--days", "1")
    assert result.returncode == 2
    assert "funnel:" in result.stderr and "Traceback" not in result.stderr


def test_generate_plants_rates_given_on_the_command_line(tmp_path):
    out = tmp_path / "landing"
    result = funnel("generate", "--out", str(out), "--days", "3", "--checkouts-per-day", "20", "--end-date",
                    "2026-10-20", "--rate", "manual_intervention_rate=0.3", "--rate", "step_continue=0.5,0.6,0.7,0.8")
    assert result.returncode == 0, result.stderr
    planted = json.loads((out / "_generation.json").read_text())["rates"]
    assert planted["manual_intervention_rate"] == 0.3
    assert planted["step_continue"] == [0.5, 0.6, 0.7, 0.8]
    unknown = funnel("generate", "--out", str(tmp_path / "other"), "--rate", "no_such_rate=0.1")
    assert unknown.returncode == 2 and "no_such_rate" in unknown.stderr
