"""The semantic layer's YAML (dbt_project/models/semantic/) against the one home of each fact it
copies: the KPI registry (names, labels, definitions) and the kpi_* marts' columns (the numerators
and denominators); and against the build fingerprint (a metrics-only change rebuilds nothing)."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from pipelines import dbt_build
from pipelines.core.kpis import KPIS

DBT = Path(__file__).resolve().parents[2] / "dbt_project"
SEMANTIC = DBT / "models" / "semantic"


def _metrics() -> dict[str, dict]:
    return {m["name"]: m for m in yaml.safe_load((SEMANTIC / "metrics.yml").read_text())["metrics"]}


def test_every_kpi_is_a_metric_named_labelled_and_described_as_the_registry_says():
    metrics = _metrics()
    for kpi in KPIS:
        assert kpi.name in metrics, kpi.name
        assert (metrics[kpi.name]["label"], metrics[kpi.name]["description"]) == (kpi.label, kpi.definition)
        if kpi.is_rate:
            assert metrics[kpi.name]["type"] == "ratio"
            assert metrics[kpi.name]["type_params"] == {"numerator": kpi.numerator, "denominator": kpi.denominator}


def test_every_other_metric_is_a_kpi_part_described_as_the_marts_column():
    [weekly] = yaml.safe_load((DBT / "models" / "marts" / "kpi_weekly.yml").read_text())["models"]
    columns = {c["name"]: c["description"] for c in weekly["columns"]}
    parts = {p for k in KPIS for p in (k.numerator, k.denominator) if p} - {k.name for k in KPIS}
    others = {name: m for name, m in _metrics().items() if name not in {k.name for k in KPIS}}
    assert set(others) == parts
    for name, metric in others.items():
        assert metric["description"] == columns[name], name
        # A count is 0 in a period without activity, as in the marts.
        assert metric["type_params"]["measure"] == {"name": name, "fill_nulls_with": 0}, name


def _project_copy(tmp_path: Path, monkeypatch) -> Path:
    copy = tmp_path / "dbt_project"
    shutil.copytree(DBT, copy, ignore=shutil.ignore_patterns("target", "logs"))
    monkeypatch.setattr(dbt_build, "DBT_PROJECT_DIR", copy)
    return copy


def test_a_metrics_only_change_keeps_the_build_fingerprint(tmp_path, monkeypatch):
    project = _project_copy(tmp_path, monkeypatch)
    before = dbt_build.build_fingerprint(30)
    metrics = project / "models" / "semantic" / "metrics.yml"
    metrics.write_text(metrics.read_text().replace("Checkouts started", "Checkouts begun"))
    models = project / "models" / "semantic" / "semantic_models.yml"
    models.write_text(models.read_text() + "\n# a new dimension would go here\n")
    assert dbt_build.build_fingerprint(30) == before


def test_a_change_to_a_table_still_changes_the_build_fingerprint(tmp_path, monkeypatch):
    project = _project_copy(tmp_path, monkeypatch)
    before = dbt_build.build_fingerprint(30)
    spine = project / "models" / "semantic" / "metricflow_time_spine.sql"
    spine.write_text(spine.read_text().replace("2099-12-31", "2199-12-31"))
    after_spine = dbt_build.build_fingerprint(30)
    assert after_spine != before
    fct = project / "models" / "marts" / "fct_checkouts.yml"
    fct.write_text(fct.read_text() + "\n")
    assert dbt_build.build_fingerprint(30) not in (before, after_spine)
    assert dbt_build.build_fingerprint(7) != dbt_build.build_fingerprint(30)
