"""KPI movement: the start of alerting (kpi-definitions.md, "Uncertainty and movement").

A KPI "moved" from one week to the next when the pooled two-sided two-proportion z-test rejects
equality at the 99% level, comparing complete cohorts for cohort-dated KPIs and closed weeks for
created_at-dated KPIs; no verdict when either side has fewer than 30 in its denominator or fewer than
5 in its numerator (`pipelines.core.stats.two_proportion_test`). The check compares the latest eligible
week with the eligible week before it, for every rate of the KPI registry (which weeks are eligible
is the marts' `cohort_complete` / `period_closed`), and warns naming the KPI, both values and the
test's figures. A warning, never blocking.
"""

from __future__ import annotations

import duckdb

from data_checks.check import WARNING, Check, CheckParams
from pipelines.core.kpis import RATE_KPIS
from pipelines.core.stats import MOVEMENT_LEVEL, two_proportion_test


def verdict_text(test) -> str:
    """The movement test's verdict in words (the movement check and the weekly brief say the same)."""
    if not test.has_verdict:
        return "no verdict (fewer than 30 in a denominator or 5 in a numerator)"
    return "moved" if test.significant else "no significant change"


def kpi_movement(con: duckdb.DuckDBPyConnection, params: CheckParams) -> tuple[bool, str, dict]:
    """Every rate of the KPI registry: its latest final week against the final week before it."""
    columns = sorted({c for k in RATE_KPIS for c in (k.numerator, k.denominator)})
    rows = con.cursor().execute(
        f"SELECT period_start::DATE, cohort_complete, period_closed, {', '.join(columns)} "
        "FROM marts.kpi_weekly ORDER BY 1"
    ).fetchall()
    table = [dict(zip(["period_start", "cohort_complete", "period_closed", *columns], r, strict=True)) for r in rows]

    findings, moved = [], []
    for kpi in RATE_KPIS:
        eligible = [r for r in table if r[kpi.final_column]]
        if len(eligible) < 2:
            findings.append({"kpi": kpi.name, "verdict": "not enough eligible weeks", "eligible_weeks": len(eligible)})
            continue
        previous, latest = eligible[-2], eligible[-1]
        xa, na, xb, nb = latest[kpi.numerator], latest[kpi.denominator], previous[kpi.numerator], previous[kpi.denominator]
        test = two_proportion_test(xa, na, xb, nb, level=MOVEMENT_LEVEL)
        finding = {
            "kpi": kpi.name,
            "dated_by": kpi.dated_by,
            "previous_week": str(previous["period_start"]),
            "latest_week": str(latest["period_start"]),
            "previous_value": (xb / nb) if nb else None,
            "latest_value": (xa / na) if na else None,
            "previous": f"{xb}/{nb}",
            "latest": f"{xa}/{na}",
            "z": float(test.z),
            "p_value": float(test.p_value),
            "level": MOVEMENT_LEVEL,
            "has_verdict": bool(test.has_verdict),
            "significant": bool(test.significant),
            "verdict": verdict_text(test),
        }
        findings.append(finding)
        if finding["significant"]:
            moved.append(
                f"{kpi.name} {finding['previous_value']:.4f} (week {finding['previous_week']}, {finding['previous']}) -> "
                f"{finding['latest_value']:.4f} (week {finding['latest_week']}, {finding['latest']}), "
                f"z = {finding['z']:.2f}, p = {finding['p_value']:.2g} < {1 - MOVEMENT_LEVEL:.2f}"
            )
    observed = "; ".join(moved) if moved else "no KPI moved significantly"
    return not moved, observed, {"findings": findings}


MOVEMENT_CHECKS = [
    Check(
        "kpi_weekly_movement", "marts/kpi_weekly", "marts.kpi_weekly", WARNING,
        "week-over-week movement of every rate of the KPI registry "
        "(pooled two-proportion z-test at the 99% level, complete cohorts / closed weeks)",
        "no significant change between the latest two eligible weeks",
        custom=kpi_movement,
        reads=("marts.kpi_weekly",),
    ),
]
