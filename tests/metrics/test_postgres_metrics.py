"""`funnel metrics --target postgres`: the same metrics on the tables `funnel run --target postgres`
built on a real PostgreSQL (tests/engines/servers.py, 127.0.0.1), equal to the kit's expected weeks.
Marked `engines` (slow) like tests/engines."""

from __future__ import annotations

import os

import pytest

from pipelines import cli
from pipelines.core.settings import Settings
from pipelines.metrics import SemanticLayer
from pipelines.run import run_pipeline
from tests.conftest import CLEAN_LANDING
from tests.engines.servers import postgres_available, postgres_server
from tests.metrics.test_metrics_equal_marts import assert_equal_by_period, expected_rows, metric_rows

pytestmark = pytest.mark.engines


def test_every_metric_by_week_on_postgres_equals_the_kit_s_expected_weeks(tmp_path, monkeypatch):
    missing = postgres_available()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"the engine tests cannot run here: {missing}")
        pytest.skip(missing)
    with postgres_server() as pg:
        for name, value in pg.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("FUNNEL_TARGET", raising=False)
        settings = Settings.from_env(CLEAN_LANDING, tmp_path / "warehouse.duckdb")
        run_pipeline(settings)
        assert cli.main(["run", "--landing", str(CLEAN_LANDING), "--warehouse", str(settings.warehouse),
                         "--target", "postgres"]) == 0
        layer = SemanticLayer(settings, "postgres")
        try:
            weeks = metric_rows(layer, "week")
        finally:
            layer.close()
    assert_equal_by_period(weeks, expected_rows("kpi_weekly"))
    assert sum(w["checkouts_started"] for w in weeks.values()) == 22
