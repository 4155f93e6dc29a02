"""The pipeline recovers the rates the generator planted: the marts measure what the data holds."""

from __future__ import annotations

import math

import duckdb

from pipelines.core.settings import Settings
from pipelines.run import run_pipeline
from tools.generate import generate_landing

Z = 4.5  # standard errors; the seed is fixed, so the result is deterministic
STEP_CONTINUE = (0.70, 0.80, 0.75, 0.90)
MANUAL_INTERVENTION_RATE = 0.15


def _assert_close(what: str, successes: int, trials: int, planted: float) -> None:
    observed = successes / trials
    tolerance = Z * math.sqrt(planted * (1 - planted) / trials)
    assert abs(observed - planted) <= tolerance, f"{what}: {observed:.4f} of {trials}, planted {planted}"


def test_marts_recover_the_planted_rates(tmp_path):
    landing = tmp_path / "landing"
    # No late pauses: every step then falls inside the 30-day window, so the windowed funnel of the
    # marts measures exactly the planted sequence rates.
    generate_landing(
        landing, days=30, checkouts_per_day=150, seed=11, end_date="2026-10-31",
        step_continue=STEP_CONTINUE, manual_intervention_rate=MANUAL_INTERVENTION_RATE, late_share=0.0,
    )
    settings = Settings.from_env(landing, tmp_path / "w.duckdb")
    run_pipeline(settings)
    con = duckdb.connect(str(settings.published), read_only=True)
    try:
        reached = con.execute(
            "SELECT " + ", ".join(f"count(*) FILTER (WHERE reached_step >= {k})" for k in range(1, 6))
            + " FROM marts.fct_checkouts"
        ).fetchall()[0]
        intervened, self_service = con.execute(
            "SELECT count(*) FILTER (WHERE manual_intervention), count(*) FROM marts.fct_orders WHERE is_self_service"
        ).fetchall()[0]
    finally:
        con.close()
    assert reached[0] > 4000
    for k, planted in enumerate(STEP_CONTINUE):
        _assert_close(f"step {k + 1} -> {k + 2}", reached[k + 1], reached[k], planted)
    _assert_close("manual intervention of self-service orders", intervened, self_service, MANUAL_INTERVENTION_RATE)
