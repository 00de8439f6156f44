"""JSON Schema generation."""

from __future__ import annotations

from typing import Any

import pytest

from odibi_stream.config.schema import pipeline_schema, project_schema


def _all_properties(schema: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for model_name, model in [("<root>", schema), *schema.get("$defs", {}).items()]:
        for prop, spec in model.get("properties", {}).items():
            found.append((f"{model_name}.{prop}", spec))
    return found


@pytest.mark.parametrize("make", [project_schema, pipeline_schema])
def test_every_property_is_described_and_unknown_keys_rejected(make: Any) -> None:
    schema = make()
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert schema["additionalProperties"] is False
    props = _all_properties(schema)
    assert len(props) > 10
    undocumented = [name for name, spec in props if not spec.get("description")]
    assert undocumented == []


def test_pipeline_schema_shape() -> None:
    schema = pipeline_schema()
    assert schema["required"] == ["pipeline", "nodes"]
    assert "NodeConfig" in schema["$defs"]
    assert set(project_schema()["properties"]) >= {"project", "connections", "environments"}
