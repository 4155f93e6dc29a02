"""The facts' checks in a pipeline run read the rows of the latest dbt build (docs/data-quality.md, "What
each check reads"); the raw history probes read only the key range of the new rows.

The clean warehouse's facts were written by one build (one `_inputs_loaded_at`); stamping rows one hour
earlier makes them an older build's rows, which the run that built them checked."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from test_scoped_checks import add_load
from warehouse_fixture import NOW

from data_checks.catalog import all_checks
from data_checks.check import LATEST_BUILD, CheckParams
from data_checks.runner import _key_range_reader, run_all_checks, run_checks, run_unverified

CHECKS = {c.name: c for c in all_checks()}
BUILD_CHECKS = ["fct_checkouts_consistent", "fct_orders_flags_consistent"]


def make_old(con, table: str, key: str, ids: tuple[str, ...]) -> None:
    con.execute(
        f"UPDATE marts.{table} SET _inputs_loaded_at = _inputs_loaded_at - INTERVAL 1 HOUR "
        f"WHERE {key} IN ({', '.join(repr(i) for i in ids)})"
    )


def run_step(con, names):
    """What the mart check step runs (pipelines.checks: `run_unverified`)."""
    _, results = run_unverified(con, "test-run", [CHECKS[n] for n in names])
    return {r.check_name: r for r in results}


def audit(con):
    return {r.check_name: r for r in run_all_checks(con, "audit", now=NOW, build_docs=False)}


def test_the_facts_consistency_checks_are_build_scoped():
    assert [c.name for c in all_checks() if c.scope == LATEST_BUILD] == BUILD_CHECKS


@pytest.mark.parametrize(
    ("name", "table", "key", "statement"),
    [
        ("fct_checkouts_consistent", "fct_checkouts", "checkout_id",
         "UPDATE marts.fct_checkouts SET converted = TRUE WHERE checkout_id = 'k2'"),
        ("fct_orders_flags_consistent", "fct_orders", "order_id",
         "UPDATE marts.fct_orders SET is_self_service = TRUE WHERE order_id = 'o2'"),
    ],
)
def test_a_broken_row_of_the_latest_build_fails_and_an_old_one_is_left_to_the_audit(
    warehouse_con, name, table, key, statement
):
    con = warehouse_con
    con.execute(statement)
    broken = con.execute(f"SELECT {key} FROM marts.{table} ORDER BY {key}").fetchall()
    others = tuple(k for (k,) in broken if k not in ("k2", "o2"))
    make_old(con, table, key, others)  # the broken row is the latest build's
    result = run_step(con, [name])[name]
    assert not result.passed and result.blocking and result.observed_value == "1 unexpected"
    [row] = json.loads(result.details)["expectations"][0]["unexpected_rows"]
    assert row[key] in ("k2", "o2")

    make_old(con, table, key, ("k2", "o2"))
    make_old(con, table, key, others)  # now the newest build wrote only clean rows
    con.execute(f"UPDATE marts.{table} SET _inputs_loaded_at = _inputs_loaded_at + INTERVAL 2 HOUR "
                f"WHERE {key} = '{others[0]}'")
    assert run_step(con, [name])[name].passed  # the broken row is an older build's: not read again
    assert not audit(con)[name].passed  # `funnel check` reads every row


def test_a_first_order_of_the_latest_build_is_probed_against_older_rows(warehouse_con):
    con = warehouse_con
    # c1 gets a second order flagged as its first, written by the latest build; o1 (c1's first) is old.
    con.execute(
        "INSERT INTO marts.fct_orders BY NAME SELECT * REPLACE ('o7' AS order_id) FROM marts.fct_orders "
        "WHERE order_id = 'o1'"
    )
    make_old(con, "fct_orders", "order_id", ("o1", "o2", "o3"))
    result = run_step(con, ["fct_orders_flags_consistent"])["fct_orders_flags_consistent"]
    assert not result.passed and result.observed_value == "1 unexpected"
    [row] = json.loads(result.details)["expectations"][0]["unexpected_rows"]
    assert (row["customer_id"], row["order_id"], row["problem"]) == ("c1", "o1", "several first orders")

    # Both first orders old: they were checked when built; only the full audit reads them again.
    make_old(con, "fct_orders", "order_id", ("o7",))
    con.execute("UPDATE marts.fct_orders SET _inputs_loaded_at = _inputs_loaded_at + INTERVAL 2 HOUR "
                "WHERE order_id = 'o3'")
    assert run_step(con, ["fct_orders_flags_consistent"])["fct_orders_flags_consistent"].passed
    assert not audit(con)["fct_orders_flags_consistent"].passed


def test_history_probes_read_only_the_new_keys_ranges(warehouse_con):
    """The probe's range is literal, so DuckDB's zone maps skip row groups outside it; a key of the
    range loaded earlier is still found (test_scoped_checks.py: duplicates of earlier keys)."""
    add_load(warehouse_con, "r2")  # events e10..e12 on checkouts k4, k2
    params = CheckParams(now=NOW, loads=("r2",), key_range=_key_range_reader(warehouse_con, ("r2",)))
    unique = CHECKS["raw_events_event_id_unique"].expectations(params)[0].unexpected_rows_query
    without_start = CHECKS["raw_events_checkouts_without_start"].expectations(params)[0].unexpected_rows_query
    assert "h.event_id BETWEEN 'e10' AND 'e12'" in unique
    assert "h.checkout_id BETWEEN 'k2' AND 'k4'" in without_start
    versions = CHECKS["raw_orders_version_unique"].expectations(params)[0].unexpected_rows_query
    assert ("h.order_id BETWEEN 'o1' AND 'o4' AND h.updated_at BETWEEN TIMESTAMP '2026-03-20 08:00:00.000000' "
            "AND TIMESTAMP '2026-03-20 09:00:00.000000'") in versions
    # The full audit reads every row: no range.
    audit_query = CHECKS["raw_events_event_id_unique"].expectations(CheckParams(now=NOW))[0].unexpected_rows_query
    assert "BETWEEN" not in audit_query


def test_a_probe_whose_key_range_cannot_be_read_still_runs_and_fails(warehouse_con):
    """The range is an optimization: when it cannot be read the probe runs unbounded and fails itself,
    instead of the whole step failing on the range's error."""
    add_load(warehouse_con, "r2")
    warehouse_con.execute("ALTER TABLE raw.checkout_events RENAME COLUMN checkout_id TO checkout_ref")
    checks = [CHECKS["raw_events_checkouts_without_start"], CHECKS["raw_events_seats_in_range"]]
    results = {r.check_name: r for r in run_checks(warehouse_con, "test-run", checks, now=NOW, loads=["r2"])}
    assert not results["raw_events_checkouts_without_start"].passed
    assert results["raw_events_seats_in_range"].passed
