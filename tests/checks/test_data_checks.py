"""Each data check fails on data made to break it and passes on clean data; severities and records.

The clean data is warehouse_fixture.py's raw rows loaded by the real pipeline (tests/checks/conftest.py);
each test gets its own copy of that warehouse."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from warehouse_fixture import AS_OF, FCT_CHECKOUTS, FCT_ORDERS, NOW

from data_checks.catalog import all_checks
from data_checks.check import ERROR, WARNING
from data_checks.runner import (
    any_blocking_failure,
    blocking_failures,
    format_results,
    read_results,
    run_all_checks,
    run_checks,
)
from pipelines.core import warehouse
from pipelines.ingest.load import ingest_landing
from tests.conftest import DIRTY_LANDING

CHECKS = {c.name: c for c in all_checks()}


@pytest.fixture
def con(warehouse_con):
    return warehouse_con


def run_one(con, name, **kwargs):
    [result] = run_checks(con, "test-run", [CHECKS[name]], now=NOW, **kwargs)
    return result


def test_the_pipeline_builds_the_expected_marts(con):
    """The marts the checks guard are the pipeline's: for the hand-made raw rows, these facts."""
    checkouts = con.execute(
        "SELECT checkout_id, customer_id, strftime(started_at, '%Y-%m-%d %H:%M:%S'), is_new_customer, plan, "
        "deployment, country, device, seats, reached_step, converted, order_id, hours_to_convert "
        "FROM marts.fct_checkouts ORDER BY checkout_id"
    ).fetchall()
    assert checkouts == FCT_CHECKOUTS
    orders = con.execute(
        "SELECT order_id, customer_id, checkout_id, strftime(created_at, '%Y-%m-%d %H:%M:%S'), channel, order_type, "
        "status, plan, deployment, seats, amount::DOUBLE, currency, is_placed, is_self_service, is_first_order, "
        "manual_intervention, intervention_reason FROM marts.fct_orders ORDER BY order_id"
    ).fetchall()
    assert orders == FCT_ORDERS
    assert con.execute("SELECT as_of, conversion_window_days FROM marts.warehouse_as_of").fetchall() == [(AS_OF, 30)]


def test_clean_warehouse_passes_every_check(con, tmp_path):
    results = run_all_checks(con, "clean-run", now=NOW, docs_dir=tmp_path / "gx_docs")
    assert {r.check_name for r in results} == set(CHECKS)
    assert [r.summary() for r in results if not r.passed] == []
    assert not any_blocking_failure(results)
    assert (tmp_path / "gx_docs" / "index.html").exists()
    recorded = read_results(con, "clean-run")
    assert len(recorded) == len(CHECKS) and all(r.passed for r in recorded)


# One fixture per broken rule: (check that must fail, statements that break exactly that rule).
BREAKS = {
    "raw_events_required_columns": ["ALTER TABLE raw.checkout_events DROP COLUMN customer_id"],
    # The raw tables declare NOT NULL on required columns: the rows the checks guard against come from
    # writers that do not (a table re-created by hand, another loader), so the constraint goes first.
    "raw_events_required_not_null": [
        "ALTER TABLE raw.checkout_events ALTER COLUMN checkout_id DROP NOT NULL",
        "UPDATE raw.checkout_events SET checkout_id = NULL WHERE event_id = 'e08'",
    ],
    "raw_events_allowed_values": ["UPDATE raw.checkout_events SET event_name = 'cart_viewed' WHERE event_id = 'e08'"],
    "raw_events_seats_in_range": ["UPDATE raw.checkout_events SET seats = 0 WHERE event_id = 'e07'"],
    "raw_events_event_id_unique": ["UPDATE raw.checkout_events SET event_id = 'e01' WHERE event_id = 'e02'"],
    "raw_events_no_future_timestamps": [
        "UPDATE raw.checkout_events SET event_time = TIMESTAMP '2026-03-23 10:00:00' WHERE event_id = 'e09'"
    ],
    "raw_events_optional_value_drift": ["UPDATE raw.checkout_events SET plan = 'enterprise' WHERE checkout_id = 'k2'"],
    "raw_events_checkouts_without_start": ["UPDATE raw.checkout_events SET checkout_id = 'k9' WHERE event_id = 'e08'"],
    "raw_orders_required_columns": ["ALTER TABLE raw.orders DROP COLUMN manual_intervention"],
    "raw_orders_required_not_null": [
        "ALTER TABLE raw.orders ALTER COLUMN amount DROP NOT NULL",
        "UPDATE raw.orders SET amount = NULL WHERE order_id = 'o2'",
    ],
    "raw_orders_allowed_values": ["UPDATE raw.orders SET channel = 'partner' WHERE order_id = 'o2'"],
    "raw_orders_seats_amount_in_range": ["UPDATE raw.orders SET amount = -1 WHERE order_id = 'o2'"],
    "raw_orders_version_unique": [
        "UPDATE raw.orders SET updated_at = created_at WHERE order_id = 'o3' AND status = 'cancelled'"
    ],
    "raw_orders_updated_not_before_created": [
        "UPDATE raw.orders SET updated_at = created_at - INTERVAL 1 HOUR WHERE order_id = 'o2'"
    ],
    "raw_orders_no_future_timestamps": [
        "UPDATE raw.orders SET updated_at = TIMESTAMP '2026-04-01 00:00:00' WHERE order_id = 'o2'"
    ],
    "raw_orders_optional_value_drift": ["UPDATE raw.orders SET intervention_reason = 'other' WHERE order_id = 'o1'"],
    "ledger_rows_conserved": ["UPDATE audit.load_ledger SET rows_read = 12 WHERE source = 'checkout_events'"],
    "raw_rows_match_ledger": ["DELETE FROM raw.checkout_events WHERE event_id = 'e04'"],
    "rejected_rows_match_ledger": ["DELETE FROM audit.rejected_rows WHERE row_number IS NOT NULL"],
    "ledger_rejected_input": [
        "UPDATE audit.load_ledger SET rows_rejected = 1, duplicates_dropped = 1 WHERE source = 'checkout_events'"
    ],
    "files_changed_after_load": [
        (
            "INSERT INTO audit.load_ledger (source, file_path, file_sha256, status, reason, rows_read, rows_loaded, "
            "rows_rejected, duplicates_dropped, loaded_at, run_id) VALUES ('orders', 'orders/orders-0-bad.csv', "
            "'ee', 'rejected', 'file changed after it was loaded (loaded version sha256 dd..., this version ee...): "
            "land corrections as a new file', 0, 0, 0, 0, TIMESTAMP '2026-03-11 11:00:00', 'r2')"
        )
    ],
    "kpi_daily_rates_valid": ["UPDATE marts.kpi_daily SET checkout_conversion_rate = NULL WHERE checkouts_started > 0"],
    "kpi_daily_counts_consistent": [
        "UPDATE marts.kpi_daily SET checkouts_converted = checkouts_started + 1 WHERE period_start = DATE '2026-03-03'"
    ],
    "kpi_daily_no_period_gaps": ["DELETE FROM marts.kpi_daily WHERE period_start = DATE '2026-03-10'"],
    "kpi_daily_totals_match_facts": [
        "UPDATE marts.kpi_daily SET first_orders = first_orders + 1 WHERE period_start = DATE '2026-03-04'"
    ],
    "kpi_weekly_rates_valid": ["UPDATE marts.kpi_weekly SET manual_intervention_rate = 1.5 WHERE self_service_orders > 0"],
    "kpi_weekly_counts_consistent": [
        "UPDATE marts.kpi_weekly SET self_service_first_orders = first_orders + 1 WHERE first_orders > 0"
    ],
    "kpi_weekly_no_period_gaps": [
        "UPDATE marts.kpi_weekly SET period_start = period_start + INTERVAL 1 DAY WHERE period_start = DATE '2026-03-09'"
    ],
    "kpi_monthly_rates_valid": [
        "UPDATE marts.kpi_monthly SET first_order_conversion_rate = 0.25 WHERE period_start = DATE '2026-03-01'"
    ],
    "kpi_monthly_counts_consistent": ["UPDATE marts.kpi_monthly SET manual_intervention_orders = -1"],
    "kpi_monthly_no_period_gaps": ["DELETE FROM marts.kpi_monthly"],
    "funnel_steps_monotonic": [
        (
            "UPDATE marts.funnel_steps SET checkouts = 2 WHERE grain = 'week' AND step_number = 4 "
            "AND period_start = DATE '2026-03-02'"
        )
    ],
    "fct_checkouts_consistent": ["UPDATE marts.fct_checkouts SET converted = TRUE WHERE checkout_id = 'k2'"],
    "fct_orders_flags_consistent": ["UPDATE marts.fct_orders SET is_first_order = TRUE WHERE order_id = 'o3'"],
}


# The model constraints these checks no longer repeat (keys, NULLs, sets, ranges) are dbt tests; the
# statements that break them, and the proof that dbt names the model and column, are in
# tests/dbt/test_model_constraints.py.


def test_every_check_has_a_breaking_fixture():
    covered = set(BREAKS) | {"raw_events_freshness", "kpi_weekly_movement"}
    assert covered == set(CHECKS)


@pytest.mark.parametrize("name", sorted(BREAKS))
def test_check_fails_on_data_made_to_break_it(con, name):
    for statement in BREAKS[name]:
        con.execute(statement)
    result = run_one(con, name)
    assert not result.passed, result.summary()
    assert result.blocking == (CHECKS[name].severity == ERROR)
    assert any_blocking_failure([result]) == result.blocking


def test_failure_evidence_names_the_bad_rows(con):
    con.execute("UPDATE raw.orders SET amount = -1 WHERE order_id = 'o2'")
    result = run_one(con, "raw_orders_seats_amount_in_range")
    assert result.observed_value == "1 unexpected"
    details = json.loads(result.details)
    amount = next(e for e in details["expectations"] if e["kwargs"].get("column") == "amount")
    assert amount["unexpected_count"] == 1 and not amount["success"]

    con.execute("DELETE FROM raw.checkout_events WHERE event_id = 'e04'")
    result = run_one(con, "raw_rows_match_ledger")
    [row] = json.loads(result.details)["expectations"][0]["unexpected_rows"]
    assert row == {"source": "checkout_events", "file_path": "checkout_events/events-1.jsonl",
                   "rows_loaded": 9, "raw_rows": 8}


def test_rejected_rows_of_a_real_load_match_its_ledger(tmp_path):
    """The loader keeps every rejected row; one deleted afterwards is named with its file's counts and
    its source's totals."""
    with warehouse.connect(tmp_path / "warehouse.duckdb") as real:
        ingest_landing(real, DIRTY_LANDING, run_id="load-1", load_time=datetime(2026, 3, 20, 11))
        [(files, rows_rejected)] = real.execute(
            "SELECT count(*), sum(rows_rejected) FROM audit.load_ledger WHERE status = 'loaded' AND rows_rejected > 0"
        ).fetchall()
        assert files > 1 and rows_rejected > files  # the bad-rows directory rejects rows in several files
        assert run_one(real, "rejected_rows_match_ledger", loads=["load-1"]).passed

        [(source, path, in_file, in_source)] = real.execute(
            """SELECT source, file_path, rows_rejected,
                      sum(rows_rejected) FILTER (WHERE status = 'loaded') OVER (PARTITION BY source)
                 FROM audit.load_ledger WHERE status = 'loaded' AND rows_rejected > 0
                ORDER BY file_path LIMIT 1"""
        ).fetchall()
        real.execute(
            "DELETE FROM audit.rejected_rows WHERE file_path = ? AND row_number = "
            "(SELECT min(row_number) FROM audit.rejected_rows WHERE file_path = ?)",
            [path, path],
        )
        result = run_one(real, "rejected_rows_match_ledger", loads=["load-1"])
    assert not result.passed and result.blocking
    rows = json.loads(result.details)["expectations"][0]["unexpected_rows"]
    assert {(r["source"], r["file_path"], r["rows_rejected"], r["rows_kept"]) for r in rows} == {
        (source, path, in_file, in_file - 1),
        (source, "(all files, every load)", in_source, in_source - 1),
    }


def test_drift_reports_unknown_values_with_counts(con):
    con.execute("UPDATE raw.checkout_events SET plan = 'enterprise' WHERE checkout_id = 'k2'")
    con.execute("UPDATE raw.checkout_events SET device = 'smart_tv' WHERE event_id = 'e09'")
    con.execute("UPDATE raw.checkout_events SET error_code = 'card_declined' WHERE event_id = 'e05'")
    result = run_one(con, "raw_events_optional_value_drift")
    assert result.severity == WARNING and not result.passed and not result.blocking
    rows = json.loads(result.details)["expectations"][0]["unexpected_rows"]
    assert {(r["column_name"], r["value"], r["rows"]) for r in rows} == {
        ("plan", "enterprise", 2),
        ("device", "smart_tv", 1),
        ("error_code", "payment_method_completed: card_declined", 1),
    }


def test_checkouts_without_start_are_counted(con):
    con.execute("UPDATE raw.checkout_events SET checkout_id = 'k9' WHERE event_id = 'e08'")
    con.execute("UPDATE raw.checkout_events SET checkout_id = 'k8' WHERE event_id = 'e06'")
    result = run_one(con, "raw_events_checkouts_without_start")
    assert (result.passed, result.severity, result.observed_value) == (False, WARNING, "2 unexpected")


def test_freshness_age_is_configurable(con):
    fresh = run_one(con, "raw_events_freshness")  # newest event 2 h before NOW, default 36 h
    assert fresh.passed and fresh.observed_value == "2026-03-20T10:00:00Z (2.0 h old)"
    stale = run_one(con, "raw_events_freshness", freshness_hours=1)
    assert not stale.passed and stale.severity == WARNING and not stale.blocking
    [late] = run_checks(con, "r", [CHECKS["raw_events_freshness"]], now=NOW + timedelta(days=2))
    assert not late.passed and "50.0 h old" in late.observed_value


def _weekly_movement_table(con, latest, previous):
    """A kpi_weekly whose last two complete weeks have the given (converted, started)."""
    con.execute("DELETE FROM marts.kpi_weekly")
    weeks = [("2026-01-26", (50, 100)), ("2026-02-02", previous), ("2026-02-09", latest), ("2026-02-16", (0, 10))]
    for i, (week, (x, n)) in enumerate(weeks):
        complete = i < 3
        con.execute(
            "INSERT INTO marts.kpi_weekly (period_start, checkouts_started, checkouts_converted, "
            "checkout_conversion_rate, new_customer_checkouts_started, new_customer_checkouts_converted, "
            "first_orders, self_service_first_orders, self_service_orders, manual_intervention_orders, "
            "self_service_first_orders_with_intervention, period_closed, cohort_complete) "
            "VALUES (?, ?, ?, ?, 0, 0, 0, 0, 0, 0, 0, ?, ?)",
            [week, n, x, x / n if n else None, complete, complete],
        )


def test_movement_warns_naming_kpi_values_and_test_figures(con):
    _weekly_movement_table(con, latest=(60, 200), previous=(100, 200))
    result = run_one(con, "kpi_weekly_movement")
    assert (result.passed, result.severity, result.blocking) == (False, WARNING, False)
    assert result.observed_value.startswith(
        "checkout_conversion_rate 0.5000 (week 2026-02-02, 100/200) -> 0.3000 (week 2026-02-09, 60/200), z = -4.08"
    )
    [finding] = [f for f in json.loads(result.details)["findings"] if f["kpi"] == "checkout_conversion_rate"]
    assert finding["significant"] and finding["level"] == 0.99 and finding["p_value"] < 0.01
    # The incomplete week (2026-02-16, 0/10) is never compared.
    assert finding["latest_week"] == "2026-02-09"


def test_movement_below_99_percent_or_too_small_is_not_a_warning(con):
    _weekly_movement_table(con, latest=(85, 200), previous=(100, 200))  # p ~ 0.13
    assert run_one(con, "kpi_weekly_movement").passed
    _weekly_movement_table(con, latest=(4, 40), previous=(30, 40))  # numerator < 5: no verdict
    result = run_one(con, "kpi_weekly_movement")
    assert result.passed
    [finding] = [f for f in json.loads(result.details)["findings"] if f["kpi"] == "checkout_conversion_rate"]
    assert not finding["has_verdict"]


def test_severity_decides_blocking_and_results_are_recorded(con):
    con.execute("UPDATE raw.checkout_events SET plan = 'enterprise' WHERE checkout_id = 'k2'")  # warning
    warnings_only = run_all_checks(con, "run-warn", now=NOW, build_docs=False)
    assert not any_blocking_failure(warnings_only)
    assert [r.check_name for r in warnings_only if not r.passed] == ["raw_events_optional_value_drift"]

    con.execute("UPDATE marts.fct_checkouts SET hours_to_convert = -1 WHERE checkout_id = 'k1'")  # error
    results = run_all_checks(con, "run-err", now=NOW, build_docs=False)
    assert any_blocking_failure(results)
    assert [r.check_name for r in blocking_failures(results)] == ["fct_checkouts_consistent"]
    assert "BLOCKED by fct_checkouts_consistent" in format_results(results)

    rows = con.execute(
        "SELECT check_name, asset, severity, passed, observed_value, expected, details, run_id, checked_at "
        "FROM audit.check_results WHERE run_id = 'run-err' AND NOT passed ORDER BY check_name"
    ).fetchall()
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("fct_checkouts_consistent", "marts/fct_checkouts", "error"),
        ("raw_events_optional_value_drift", "raw/checkout_events", "warning"),
    ]
    assert all(r[4] and r[5] and json.loads(r[6]) and r[8] for r in rows)
    counts = con.execute(
        "SELECT run_id, count(*) FROM audit.check_results WHERE run_id LIKE 'run-%' GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert counts == [("run-err", len(CHECKS)), ("run-warn", len(CHECKS))]


def test_missing_table_fails_its_checks_with_the_reason(con):
    con.execute("DROP TABLE marts.funnel_steps")
    result = run_one(con, "funnel_steps_monotonic")
    assert not result.passed and result.observed_value == "missing table: marts.funnel_steps"


def test_checks_run_on_a_warehouse_file(warehouse_copy):
    with duckdb.connect(str(warehouse_copy)) as con:
        results = run_all_checks(con, "file-run", now=NOW)
        assert not any_blocking_failure(results)
    assert (warehouse_copy.parent / "gx_docs" / "index.html").exists()  # default: gx_docs/ beside the warehouse


def _problems(result) -> set[tuple[str, str]]:
    rows = json.loads(result.details)["expectations"][0]["unexpected_rows"]
    return {(str(r["period_start"])[:10] if r["period_start"] else None, r["problem"]) for r in rows}


def test_period_gaps_need_the_first_and_last_periods_with_activity(con):
    """The gap check reads only min()/max() of the facts: periods missing at either end are still found."""
    con.execute("DELETE FROM marts.kpi_daily WHERE period_start IN (DATE '2026-03-02', DATE '2026-03-20')")
    result = run_one(con, "kpi_daily_no_period_gaps")
    assert not result.passed and result.blocking
    assert _problems(result) == {
        ("2026-03-02", "missing period with checkouts"),
        ("2026-03-02", "missing period with orders"),  # o1, placed 2026-03-02
        ("2026-03-20", "missing period with checkouts"),
    }


def test_mart_checks_leave_model_constraints_to_dbt(con):
    """A NULL, a repeated key or a value outside its set is a dbt test's failure (tests/dbt/test_model_constraints.py),
    not a second report here; the data expectations of the same tables still hold on the rest."""
    con.execute("UPDATE marts.kpi_monthly SET first_orders = NULL")
    con.execute("INSERT INTO marts.fct_checkouts SELECT * FROM marts.fct_checkouts WHERE checkout_id = 'k3'")
    con.execute("UPDATE marts.fct_orders SET is_placed = NULL WHERE order_id = 'o2'")
    con.execute("UPDATE marts.funnel_steps SET grain = 'year' WHERE grain = 'month'")
    con.execute("UPDATE marts.kpi_weekly SET checkout_conversion_rate = NULL, checkouts_started = NULL")
    names = ["kpi_monthly_counts_consistent", "fct_checkouts_consistent", "fct_orders_flags_consistent",
             "funnel_steps_monotonic", "kpi_weekly_rates_valid"]
    results = run_checks(con, "test-run", [CHECKS[n] for n in names], now=NOW)
    assert [r.summary() for r in results if not r.passed] == []


def test_a_repeated_period_is_also_a_gap(con):
    """period_start unique is dbt's test; a repeated week still breaks the sequence the gap check reads."""
    con.execute("INSERT INTO marts.kpi_weekly SELECT * FROM marts.kpi_weekly WHERE period_start = DATE '2026-03-09'")
    assert ("2026-03-09", "gap before this period") in _problems(run_one(con, "kpi_weekly_no_period_gaps"))


def test_a_query_returning_more_than_200_rows_is_counted_in_full(con):
    """GX fetches at most 200 evidence rows; the query runs once, and the count comes from GX's count
    metric only when the rows were cut."""
    con.execute(
        "INSERT INTO marts.fct_checkouts (checkout_id, customer_id, started_at, is_new_customer, reached_step, "
        "converted) SELECT 'x' || i, 'c', TIMESTAMP '2026-03-02 10:00:00', TRUE, 6, FALSE FROM range(250) t(i)"
    )
    result = run_one(con, "fct_checkouts_consistent")
    assert not result.passed and result.observed_value == "250 unexpected"
    assert len(json.loads(result.details)["expectations"][0]["unexpected_rows"]) == 20
