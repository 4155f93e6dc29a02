"""KPI movement: the start of alerting (kpi-definitions.md, "Uncertainty and movement").

A KPI "moved" from one week to the next when the pooled two-sided two-proportion z-test rejects
equality at the 99% level, comparing complete cohorts for cohort-dated KPIs and closed weeks for
created_at-dated KPIs; no verdict when either side has fewer than 30 in its denominator or fewer than
5 in its numerator (`pipelines.stats.two_proportion_test`). The check compares the latest eligible
week with the week before it, for the two conversion rates and the two manual-intervention rates,
and warns naming the KPI, both values and the test's figures. A warning, never blocking.
"""

from __future__ import annotations

from datetime import timedelta

import duckdb

from data_checks.suites import WARNING, Check, CheckParams
from pipelines.stats import MOVEMENT_LEVEL, two_proportion_test

# KPI -> (numerator, denominator, dated by)
MOVEMENT_KPIS = {
    "checkout_conversion_rate": ("checkouts_converted", "checkouts_started", "cohort"),
    "first_order_conversion_rate": ("new_customer_checkouts_converted", "new_customer_checkouts_started", "cohort"),
    "manual_intervention_rate": ("manual_intervention_orders", "self_service_orders", "created_at"),
    "first_order_manual_intervention_rate": (
        "self_service_first_orders_with_intervention",
        "self_service_first_orders",
        "created_at",
    ),
}


def _table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    from data_checks.runner import relation_exists

    return relation_exists(con, f"{schema}.{table}")


def warehouse_as_of(con: duckdb.DuckDBPyConnection):
    """The spec's as_of: marts.warehouse_as_of when built, else the newest raw timestamp."""
    cur = con.cursor()
    if _table_exists(con, "marts", "warehouse_as_of"):
        row = cur.execute("SELECT max(as_of) FROM marts.warehouse_as_of").fetchall()
        if row and row[0][0] is not None:
            return row[0][0]
    return cur.execute(
        "SELECT greatest((SELECT max(event_time) FROM raw.checkout_events), (SELECT max(updated_at) FROM raw.orders))"
    ).fetchall()[0][0]


def kpi_movement(con: duckdb.DuckDBPyConnection, params: CheckParams) -> tuple[bool, str, dict]:
    cur = con.cursor()
    as_of = warehouse_as_of(con)
    columns = sorted({c for n, d, _ in MOVEMENT_KPIS.values() for c in (n, d)})
    rows = cur.execute(
        f"SELECT period_start::DATE, cohort_complete, {', '.join(columns)} FROM marts.kpi_weekly ORDER BY 1"
    ).fetchall()
    table = [dict(zip(["period_start", "cohort_complete", *columns], r)) for r in rows]
    closed = [r for r in table if as_of is not None and _as_dt(r["period_start"]) + timedelta(days=7) <= as_of]
    complete = [r for r in table if r["cohort_complete"]]

    findings, moved = [], []
    for kpi, (num, den, dated_by) in MOVEMENT_KPIS.items():
        eligible = complete if dated_by == "cohort" else closed
        if len(eligible) < 2:
            findings.append({"kpi": kpi, "verdict": "not enough eligible weeks", "eligible_weeks": len(eligible)})
            continue
        previous, latest = eligible[-2], eligible[-1]
        xa, na, xb, nb = latest[num], latest[den], previous[num], previous[den]
        test = two_proportion_test(xa, na, xb, nb, level=MOVEMENT_LEVEL)
        finding = {
            "kpi": kpi,
            "dated_by": dated_by,
            "previous_week": str(previous["period_start"]),
            "latest_week": str(latest["period_start"]),
            "previous_value": (xb / nb) if nb else None,
            "latest_value": (xa / na) if na else None,
            "previous": f"{xb}/{nb}",
            "latest": f"{xa}/{na}",
            "z": _num(test.z),
            "p_value": _num(test.p_value),
            "level": MOVEMENT_LEVEL,
            "has_verdict": bool(test.has_verdict),
            "significant": bool(test.significant),
        }
        if not finding["has_verdict"]:
            finding["verdict"] = "no verdict (fewer than 30 in a denominator or 5 in a numerator)"
        else:
            finding["verdict"] = "moved" if finding["significant"] else "no significant change"
        findings.append(finding)
        if finding["significant"]:
            moved.append(
                f"{kpi} {finding['previous_value']:.4f} (week {finding['previous_week']}, {finding['previous']}) -> "
                f"{finding['latest_value']:.4f} (week {finding['latest_week']}, {finding['latest']}), "
                f"z = {finding['z']:.2f}, p = {finding['p_value']:.2g} < {1 - MOVEMENT_LEVEL:.2f}"
            )
    observed = "; ".join(moved) if moved else "no KPI moved significantly"
    return not moved, observed, {"as_of": str(as_of), "findings": findings}


def _as_dt(d):
    from datetime import datetime

    return datetime(d.year, d.month, d.day)


def _num(value) -> float:
    return float(value)


MOVEMENT_CHECKS = [
    Check(
        "kpi_weekly_movement", "marts/kpi_weekly", "marts.kpi_weekly", WARNING,
        "week-over-week movement of the conversion and manual-intervention rates "
        "(pooled two-proportion z-test at the 99% level, complete cohorts / closed weeks)",
        "no significant change between the latest two eligible weeks",
        custom=kpi_movement,
        reads=("marts.kpi_weekly",),
    ),
]
