"""`funnel metrics` and `funnel docs` on the conformance kit's published copy (docs/metrics.md)."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pytest

from pipelines.cli import main
from pipelines.core.kpis import KPIS
from pipelines.core.warehouse import writer_lock


def funnel(capsys, built, *args: str) -> tuple[int, str, str]:
    code = main(["metrics", "--warehouse", str(built.warehouse), *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_list_names_every_kpi_and_the_dimensions_of_the_issue(conformance_warehouse, capsys):
    code, out, _ = funnel(capsys, conformance_warehouse, "--list")
    assert code == 0
    for kpi in KPIS:
        assert f"  {kpi.name} " in out and kpi.definition in out, kpi.name
    for dimension in ("checkout__plan", "checkout__deployment", "checkout__country", "checkout__device",
                      "checkout__seats", "checkout__customer_type", "order__channel", "order__order_type",
                      "order__intervention_reason", "metric_time__week"):
        assert f"  {dimension}\n" in out, dimension


def test_a_kpi_by_a_dimension_filtered_and_as_csv(conformance_warehouse, capsys):
    code, out, err = funnel(
        capsys, conformance_warehouse, "--metrics", "checkouts_started,checkout_conversion_rate",
        "--group-by", "metric_time__week,checkout__customer_type", "--start", "2026-03-02", "--end", "2026-03-08",
        "--where", "{{ Dimension('checkout__customer_type') }} = 'new'", "--format", "csv", "--show-sql",
    )
    assert code == 0
    # The SQL MetricFlow ran, for an analyst to read: the fact, dated by t1 (the cohort).
    assert '"marts"."fct_checkouts"' in err and "DATE_TRUNC('week', started_at)" in err
    rows = list(csv.DictReader(io.StringIO(out)))
    # expected/kpi_weekly.csv, week of 2026-03-02: 10 checkouts, 9 of them new-customer, 5 of those converted.
    assert [(r["checkout__customer_type"], r["checkouts_started"]) for r in rows] == [("new", "9")]
    assert float(rows[0]["checkout_conversion_rate"]) == pytest.approx(5 / 9)


def test_json_rows_in_the_order_of_the_group_by(conformance_warehouse, capsys):
    code, out, _ = funnel(capsys, conformance_warehouse, "--metrics", "first_orders", "--group-by",
                          "metric_time__month", "--format", "json")
    assert code == 0
    months = json.loads(out)
    # February had a checkout but no order: MetricFlow leaves it out (docs/metrics.md, "Empty periods").
    assert [m["metric_time__month"][:10] for m in months] == ["2026-01-01", "2026-03-01", "2026-04-01"]
    assert sum(m["first_orders"] for m in months) == 13


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--metrics", "conversion"], "unknown metric(s) conversion"),
        (["--metrics", "first_orders", "--group-by", "order__colour"], "does not match any of the available group-by-items"),
        (["--metrics", "first_orders", "--target", "spark"], "MetricFlow does not support the spark target"),
        ([], "give --metrics"),
    ],
)
def test_bad_requests_say_what_is_wrong(conformance_warehouse, capsys, args, message):
    code, _, err = funnel(capsys, conformance_warehouse, *args)
    assert code == 2 and message in err, err


def test_a_warehouse_never_published_is_a_clear_error(tmp_path, capsys):
    code = main(["metrics", "--warehouse", str(tmp_path / "warehouse.duckdb"), "--list"])
    assert code == 2
    assert f"no published copy at {tmp_path / 'warehouse.published.duckdb'}: run `funnel run` first" in capsys.readouterr().err


def test_reads_the_published_copy_while_a_run_writes_and_without_the_network(conformance_warehouse, tmp_path):
    """With the writer lock held (a run in progress) and every socket connection refused: the query
    answers from the published copy, and MetricFlow's CLI (its PyPI update check) is never loaded."""
    script = f"""
import socket, sys
def refuse(*args, **kwargs):
    raise OSError("network access in a test: " + repr(args))
socket.socket.connect = socket.create_connection = refuse
from pipelines.cli import main
code = main(["metrics", "--warehouse", {str(conformance_warehouse.warehouse)!r}, "--metrics", "first_orders"])
assert "update_checker" not in sys.modules and "dbt_metricflow.cli.main" not in sys.modules
sys.exit(code)
"""
    with writer_lock(conformance_warehouse.warehouse):
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "first_orders" in done.stdout and "13" in done.stdout
