"""`funnel metrics` latency (docs/metrics.md; issue 17's target: p50 <= 2 s at 10M events).

Each query runs as a fresh `funnel metrics` process, as an analyst runs it: start-up, MetricFlow's
imports, the read-only connection to the published copy and the SQL. One `--list` call first parses
the dbt project (once per project change, not what an analyst waits for on every query).
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

from benchmarks.process import measure
from pipelines.core.kpis import KPIS

FUNNEL = str(Path(sys.executable).with_name("funnel"))
# An analyst's typical questions: every KPI by week (two facts joined on the week), one KPI by three
# dimensions, an order KPI by a dimension of the order's checkout (a join of the facts).
QUERIES = {
    "kpis_by_week": ["--metrics", ",".join(k.name for k in KPIS), "--group-by", "metric_time__week"],
    "conversion_by_week_plan_country": ["--metrics", "checkout_conversion_rate",
                                        "--group-by", "metric_time__week,checkout__plan,checkout__country"],
    "intervention_by_month_checkout_device": ["--metrics", "manual_intervention_rate",
                                              "--group-by", "metric_time__month,checkout__device"],
}


def measure_metrics(warehouse: Path, reps: int, log: Path) -> dict:
    """{query: {p50_s, max_s, reps}}, and the first call's seconds (with the parse when the manifest is stale)."""
    command = [FUNNEL, "metrics", "--warehouse", str(warehouse)]
    first = measure([*command, "--list"], log=log)
    queries = {}
    for name, args in QUERIES.items():
        seconds = [measure([*command, *args], log=log)["wall_seconds"] for _ in range(reps)]
        queries[name] = {"p50_s": statistics.median(seconds), "max_s": max(seconds), "reps": reps}
    return {"first_call_s": first["wall_seconds"], "queries": queries}
