"""Incremental builds give exactly what a full rebuild gives, and a changed rule rebuilds in full."""

from __future__ import annotations

import dataclasses

import duckdb

from pipelines.core.settings import Settings
from pipelines.run import run_pipeline
from tests.conftest import CLEAN_LANDING, copy_warehouse

MARTS = ("fct_checkouts", "kpi_daily", "kpi_weekly", "kpi_monthly", "funnel_steps", "fct_orders", "dash_checkout_steps")


def _marts(published) -> dict[str, list[tuple]]:
    """Every column but the incremental bookkeeping (`_inputs_loaded_at`: when the rows were loaded,
    which differs between two warehouses holding the same data)."""
    con = duckdb.connect(str(published), read_only=True)
    try:
        tables = {}
        for t in MARTS:
            names = [r[0] for r in con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = 'marts' AND table_name = ? "
                "ORDER BY ordinal_position", [t]).fetchall()]
            columns = ", ".join(f'"{c}"' for c in names if not c.startswith("_"))
            tables[t] = con.execute(f"SELECT {columns} FROM marts.{t} ORDER BY ALL").fetchall()
        return tables
    finally:
        con.close()


def test_a_changed_conversion_window_rebuilds_every_checkout(tmp_path, conformance_warehouse):
    converted_30 = dict(_converted(conformance_warehouse.published))  # the kit, built with 30 days
    assert converted_30["k05"] is True  # an order exactly 30 days after the start

    # The same warehouse (a copy of the session's), run again with a 7-day window.
    settings = Settings.from_env(CLEAN_LANDING, copy_warehouse(conformance_warehouse, tmp_path / "a" / "w.duckdb",
                                                                published=True))

    narrower = dataclasses.replace(settings, conversion_window_days=7)
    outcome = run_pipeline(narrower)
    assert "nothing rebuilt" not in outcome.report
    converted_7 = dict(_converted(settings.published))
    assert converted_7["k05"] is False and converted_7["k01"] is True

    fresh = dataclasses.replace(narrower, warehouse=tmp_path / "b" / "w.duckdb")
    run_pipeline(fresh)
    assert _marts(settings.published) == _marts(fresh.published)


def _converted(published) -> list[tuple]:
    con = duckdb.connect(str(published), read_only=True)
    try:
        return con.execute("SELECT checkout_id, converted FROM marts.fct_checkouts").fetchall()
    finally:
        con.close()
