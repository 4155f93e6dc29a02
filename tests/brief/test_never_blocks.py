"""The brief never fails a run, and the delivery secrets never show."""

from __future__ import annotations

import dagster as dg

from pipelines.assets.brief import KPI_BRIEF, kpi_brief
from pipelines.cli import main
from pipelines.resources import WarehouseResource


def test_the_brief_asset_succeeds_and_says_why_when_no_brief_can_be_made(tmp_path):
    """No published copy (or no closed week): the step succeeds and its metadata says what went wrong."""
    result = dg.materialize([kpi_brief], resources={"warehouse": WarehouseResource(path=str(tmp_path / "w.duckdb"))})
    assert result.success
    [materialization] = result.asset_materializations_for_node("kpi_brief")
    assert materialization.asset_key == KPI_BRIEF
    assert "no published copy" in materialization.metadata["error"].value


def test_funnel_settings_masks_the_smtp_password_and_the_webhook_url(monkeypatch, capsys):
    monkeypatch.setenv("FUNNEL_SMTP_PASSWORD", "hunter2")
    monkeypatch.setenv("FUNNEL_ALERT_WEBHOOK_URL", "https://hooks.example.com/services/T0/B0/s3cret")
    monkeypatch.setenv("FUNNEL_SMTP_USER", "kpi-bot")
    assert main(["settings"]) == 0
    out = capsys.readouterr().out
    assert "FUNNEL_SMTP_PASSWORD=****" in out and "FUNNEL_ALERT_WEBHOOK_URL=****" in out
    assert "hunter2" not in out and "s3cret" not in out
    assert "FUNNEL_SMTP_USER=kpi-bot" in out
