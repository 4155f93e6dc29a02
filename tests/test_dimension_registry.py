"""The segment dimensions' one home (pipelines/core/dimensions.py) against the semantic layer's YAML,
which cannot import it: the same categorical dimensions on each fact, read the same way."""

from __future__ import annotations

from pathlib import Path

import yaml

from pipelines.core import dimensions

SEMANTIC_MODELS = Path(__file__).resolve().parents[1] / "dbt_project" / "models" / "semantic" / "semantic_models.yml"


def _semantic_dimensions() -> dict[str, dict[str, str]]:
    """Per semantic model: its categorical dimensions, name -> expression (the column of that name
    when the YAML gives no `expr`). Time dimensions date the facts: they are no segment."""
    models = yaml.safe_load(SEMANTIC_MODELS.read_text())["semantic_models"]
    return {m["name"]: {d["name"]: d.get("expr", d["name"]) for d in m["dimensions"] if d["type"] == "categorical"}
            for m in models}


def test_the_semantic_layer_has_every_dimension_of_the_registry_and_no_other():
    registry = {fact: {d.name: d.on(fact) for d in dimensions.of(fact)} for fact in ("checkouts", "orders")}
    assert _semantic_dimensions() == registry


def test_every_segment_reads_on_checkouts_and_each_name_and_label_once():
    # the funnel's filters and breakdowns split checkouts by every segment
    assert [d.name for d in dimensions.SEGMENTS] == ["plan", "deployment", "country", "device", "customer_type"]
    assert all(d.checkouts for d in dimensions.SEGMENTS)
    assert len({d.name for d in dimensions.DIMENSIONS}) == len({d.label for d in dimensions.DIMENSIONS}) == 11
