"""Fast checks of the engine helpers (no engine needed): the table comparison, output formats, targets."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal

import pytest

from pipelines import cli
from pipelines.engines import UnknownTarget, resolve_target
from pipelines.engines.compare import compare_tables
from pipelines.engines.sql import format_result

COLUMNS = ["period_start", "checkouts", "rate", "amount", "at", "flag"]
ROWS = [
    (date(2026, 3, 2), 7, 3 / 7, Decimal("1740.000000"), datetime(2026, 3, 2, 10, 0, 0, 500000), True),
    (date(2026, 3, 9), 0, None, Decimal(0), None, False),
]


def test_equal_tables_in_any_row_and_column_order():
    reordered = [tuple(reversed(r)) for r in reversed(ROWS)]
    assert compare_tables((COLUMNS, ROWS), (list(reversed(COLUMNS)), reordered)) == []


def test_rates_within_1e_9_are_equal_beyond_are_not():
    close = [(*ROWS[0][:2], ROWS[0][2] + 1e-12, *ROWS[0][3:]), ROWS[1]]
    assert compare_tables((COLUMNS, ROWS), (COLUMNS, close)) == []
    far = [(*ROWS[0][:2], ROWS[0][2] + 1e-6, *ROWS[0][3:]), ROWS[1]]
    assert compare_tables((COLUMNS, ROWS), (COLUMNS, far))


@pytest.mark.parametrize(
    "index, value",
    [(1, 8), (2, 0.0), (3, Decimal("1740.000001")), (4, datetime(2026, 3, 2, 10, 0, 0)), (5, False)],
)
def test_counts_decimals_timestamps_flags_exactly_and_null_only_with_null(index, value):
    changed = [tuple(value if i == index else v for i, v in enumerate(ROWS[0])), ROWS[1]]
    assert compare_tables((COLUMNS, ROWS), (COLUMNS, changed))


def test_row_count_and_columns_must_match():
    assert compare_tables((COLUMNS, ROWS), (COLUMNS, ROWS[:1]))
    assert compare_tables((COLUMNS, ROWS), ([*COLUMNS[:-1], "other"], ROWS))


def test_formats():
    assert format_result(COLUMNS, ROWS, "csv").splitlines()[2] == "2026-03-09,0,,0,,false"
    parsed = json.loads(format_result(COLUMNS, ROWS, "json"))
    assert parsed[0]["checkouts"] == 7 and parsed[1]["rate"] is None and parsed[0]["at"] == "2026-03-02 10:00:00.500000"
    table = format_result(COLUMNS, ROWS, "table")
    assert "NULL" in table and table.rstrip().endswith("(2 rows)")


def test_targets(monkeypatch):
    monkeypatch.delenv("FUNNEL_TARGET", raising=False)
    assert resolve_target() == "duckdb"
    monkeypatch.setenv("FUNNEL_TARGET", "Spark")
    assert resolve_target() == "spark"
    assert resolve_target("postgres") == "postgres"
    with pytest.raises(UnknownTarget):
        resolve_target("oracle")


def test_unknown_target_is_a_usage_error(tmp_path, capsys):
    landing = tmp_path / "landing"
    landing.mkdir()
    assert cli.main(["run", "--landing", str(landing), "--warehouse", str(tmp_path / "w.duckdb"),
                     "--target", "oracle"]) == cli.EXIT_USAGE
    assert cli.main(["sql", "--target", "oracle", "SELECT 1"]) == cli.EXIT_USAGE
    assert "unknown target" in capsys.readouterr().err


def test_sql_on_duckdb_without_a_published_copy_fails_cleanly(tmp_path, capsys):
    assert cli.main(["sql", "--warehouse", str(tmp_path / "none.duckdb"), "SELECT 1"]) == cli.EXIT_FAILED
    assert "no published warehouse" in capsys.readouterr().err
