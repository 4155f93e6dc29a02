"""One Settings object (pipelines/core/settings.py) holds every FUNNEL_* setting: its default, its
meaning, how it is read, and how dbt is handed it. Copies elsewhere are compared with it here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.core.settings import Settings, dbt_vars, setting_docs

ROOT = Path(__file__).resolve().parents[1]
# Variables that are plumbing between the project's own processes, not settings a user sets.
INTERNAL = {"FUNNEL_DBT_SOCKET", "FUNNEL_RAW_PARQUET_DIR", "FUNNEL_DBT_PROJECT_DIR"}


def test_from_env_reads_every_kind_and_the_cli_paths_win(tmp_path):
    env = {"FUNNEL_CONVERSION_WINDOW_DAYS": "7", "FUNNEL_FRESHNESS_HOURS": "1.5", "FUNNEL_SPEEDUPS": "off",
           "FUNNEL_GX_DOCS_DIR": str(tmp_path / "docs"), "FUNNEL_WAREHOUSE": str(tmp_path / "env.duckdb"),
           "FUNNEL_DUCKDB_THREADS": "", "FUNNEL_TARGET": "postgres"}
    s = Settings.from_env(None, tmp_path / "cli.duckdb", environ=env)
    assert (s.conversion_window_days, s.freshness_hours, s.speedups, s.target) == (7, 1.5, False, "postgres")
    assert s.gx_docs == tmp_path / "docs" and s.warehouse == tmp_path / "cli.duckdb"
    assert s.duckdb_threads == Settings.duckdb_threads  # empty means unset
    assert s.published == tmp_path / "cli.published.duckdb"
    assert Settings.from_env(environ={}).warehouse == Path("data/warehouse.duckdb").resolve()


def test_a_value_that_does_not_parse_names_its_variable(monkeypatch, capsys):
    with pytest.raises(ValueError, match="FUNNEL_CONVERSION_WINDOW_DAYS='thirty' is not a valid int"):
        Settings.from_env(environ={"FUNNEL_CONVERSION_WINDOW_DAYS": "thirty"})
    monkeypatch.setenv("FUNNEL_SPEEDUPS", "maybe")
    with pytest.raises(ValueError, match="FUNNEL_SPEEDUPS='maybe' is not a valid bool"):
        main(["settings"])


def test_dbt_is_handed_the_warehouse_memory_and_threads_of_the_settings(tmp_path):
    s = Settings(warehouse=tmp_path / "w.duckdb", duckdb_memory_limit="900MB", duckdb_threads=3)
    env = s.dbt_env()
    assert (env["FUNNEL_WAREHOUSE"], env["FUNNEL_DUCKDB_MEMORY_LIMIT"], env["FUNNEL_DUCKDB_THREADS"]) == (
        str(tmp_path / "w.duckdb"), "900MB", "3")
    assert dbt_vars(s.conversion_window_days) == ["--vars", '{"conversion_window_days": 30}']


def test_every_funnel_variable_the_code_reads_is_a_setting():
    read = set()
    for folder in ("pipelines", "dashboards", "data_checks", "tools", "dbt_project"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix in (".py", ".yml", ".sql") and "target" not in path.parts:
                read |= set(re.findall(r"FUNNEL_[A-Z_]*[A-Z]", path.read_text()))
    documented = {variable for variable, _, _ in setting_docs()}
    assert read - INTERNAL - {"FUNNEL_SPARK"} == documented


def test_the_readme_lists_every_setting():
    readme = (ROOT / "README.md").read_text()
    assert [v for v, _, _ in setting_docs() if f"`{v}`" not in readme] == []


def test_dbt_reads_the_settings_and_no_default_of_its_own(tmp_path):
    """profiles.yml and dbt_project.yml take every FUNNEL_* value from the environment Settings.dbt_env()
    gives dbt, with no fallback: a second copy of a default could drift from the settings'."""
    texts = [(ROOT / "dbt_project" / name).read_text() for name in ("profiles.yml", "dbt_project.yml")]
    read = {variable for text in texts for variable in re.findall(r"env_var\('(FUNNEL_[A-Z_]+)'", text)}
    with_fallback = [v for text in texts for v in re.findall(r"env_var\('((?:FUNNEL|PG)[A-Z_]+)'\s*,", text)]
    assert with_fallback == ["PGPASSWORD"]  # empty is no password (libpq reads the password file), not a default
    assert read == set(Settings(warehouse=tmp_path / "w.duckdb").dbt_env())


def test_funnel_dbt_runs_dbt_with_the_settings_in_force(tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("FUNNEL_CONVERSION_WINDOW_DAYS", "9")
    monkeypatch.setenv("FUNNEL_DUCKDB_THREADS", "1")
    query = "select {{ var('conversion_window_days') }} * 1000 + current_setting('threads') as window_threads"
    code = main(["dbt", "--warehouse", str(tmp_path / "w.duckdb"), "show", "--inline", query,
                 "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs")])
    out = capfd.readouterr().out
    assert code == 0, out
    assert "9001" in out  # the window (9) and DuckDB's threads (1) of the settings
    assert main(["dbt"]) == 2


def test_funnel_settings_prints_every_setting(capsys):
    assert main(["settings"]) == 0
    out = capsys.readouterr().out
    assert [v for v, _, _ in setting_docs() if f"{v}=" not in out] == []


def test_dbt_and_the_loader_reach_the_same_postgresql_server_when_libpq_variables_are_unset(monkeypatch, tmp_path):
    """One home for the libpq variables' defaults: dbt's profile gets them from target_env, the loader's
    and `funnel sql`'s connections from the same LIBPQ_DEFAULTS; both sessions get the same settings
    (UTC, no JIT), before the user's own PGOPTIONS, which win."""
    import psycopg2

    from pipelines.engines import postgres
    from pipelines.engines.build import target_env

    for name in (*postgres.LIBPQ_DEFAULTS, "PGTZ"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PGUSER", "analyst")
    monkeypatch.setenv("PGOPTIONS", "-c work_mem=64MB")
    env = target_env("postgres", Settings(warehouse=tmp_path / "w.duckdb"))
    options = "-c timezone=UTC -c jit=off -c work_mem=64MB"
    assert {k: env[k] for k in ("PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "PGOPTIONS")} == {
        "PGHOST": "127.0.0.1", "PGPORT": "5432", "PGUSER": "analyst", "PGDATABASE": "funnel", "PGOPTIONS": options}
    monkeypatch.setenv("PGOPTIONS", options)  # as the semantic layer leaves it: not repeated
    assert postgres.libpq_environment()["PGOPTIONS"] == options
    seen = {}

    def no_server(**params):
        seen.update(params)
        raise OSError("no server in this test")

    monkeypatch.setattr(psycopg2, "connect", no_server)
    with pytest.raises(OSError), postgres.connect():
        pass
    assert (seen["host"], seen["port"], seen["user"], seen["dbname"], seen["options"]) == (
        "127.0.0.1", "5432", "analyst", "funnel", options)
