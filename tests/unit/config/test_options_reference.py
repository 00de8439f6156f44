"""Every option is in ``odibi-stream schema`` and in the checked-in docs/options.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from odibi_stream.config.models import FileWatchTrigger, ScheduleTrigger
from odibi_stream.config.options import (
    READ_OPTIONS,
    WRITE_OPTIONS,
    ContinuousTrigger,
    KafkaConnectionOptions,
    ManualTrigger,
    PollTrigger,
    SparkConfig,
)
from odibi_stream.config.reference import render
from odibi_stream.config.schema import pipeline_schema, project_schema

DOC = Path(__file__).resolve().parents[3] / "docs" / "options.md"
PIPELINE_MODELS = [
    *READ_OPTIONS.values(),
    *WRITE_OPTIONS.values(),
    PollTrigger,
    ContinuousTrigger,
    ManualTrigger,
    FileWatchTrigger,
    ScheduleTrigger,
]
PROJECT_MODELS = [KafkaConnectionOptions, SparkConfig]


def _keys(model: type[BaseModel]) -> set[str]:
    return {f.alias or name for name, f in model.model_fields.items()}


@pytest.mark.parametrize(
    ("model", "make"),
    [(m, pipeline_schema) for m in dict.fromkeys(PIPELINE_MODELS)]
    + [(m, project_schema) for m in PROJECT_MODELS],
    ids=lambda v: getattr(v, "__name__", ""),
)
def test_every_option_is_in_the_schema_with_a_description(model: type[BaseModel], make: Any) -> None:
    definition = make()["$defs"][model.__name__]
    assert definition["additionalProperties"] is False
    props = definition.get("properties", {})
    assert set(props) == _keys(model)
    assert all(spec.get("description") for spec in props.values())


def test_schema_links_each_format_to_its_options_model() -> None:
    defs = pipeline_schema()["$defs"]
    for owner, table in (("ReadConfig", READ_OPTIONS), ("WriteConfig", WRITE_OPTIONS)):
        links = {
            rule["if"]["properties"]["format"]["const"]: rule["then"]["properties"]["options"]["$ref"]
            for rule in defs[owner]["allOf"]
        }
        assert links == {fmt: f"#/$defs/{model.__name__}" for fmt, model in table.items()}
    connection = project_schema()["$defs"]["ConnectionConfig"]["allOf"]
    assert connection[0]["if"]["properties"]["type"]["const"] == "kafka"


def test_the_option_reference_is_current() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), (
        "docs/options.md is stale: run python scripts/gen_options_doc.py"
    )


def test_the_option_reference_names_every_option() -> None:
    page = render()
    for model in [*PIPELINE_MODELS, *PROJECT_MODELS]:
        assert f"Model: `{model.__name__}`" in page
        for key in _keys(model):
            assert f"| `{key}` |" in page, (model.__name__, key)


def test_an_editor_validating_with_the_schema_rejects_a_typo_for_that_format() -> None:
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(pipeline_schema())

    def problems(read: dict[str, Any]) -> list[str]:
        doc = {"pipeline": "p", "nodes": [{"name": "n", "read": {"connection": "c", **read}}]}
        return [e.message for e in validator.iter_errors(doc)]

    assert problems({"format": "csv", "path": "x", "options": {"delimiter": ";"}}) == []
    assert problems({"format": "kafka", "topic": "t", "options": {"starting": "latest"}}) == []
    assert problems({"format": "csv", "path": "x", "options": {"delimter": ";"}})
    assert problems({"format": "kafka", "topic": "t", "options": {"header": True}})
