"""JSON Schema for editors: ``odibi-stream schema`` prints these.

Lifecycle: called by the CLI on demand. Guarantees: the schema is generated from the same
pydantic models the loader validates with, so it cannot drift from what is accepted.
"""

from __future__ import annotations

from typing import Any

from odibi_stream.config.models import PipelineConfig, ReadConfig, WriteConfig
from odibi_stream.config.options import READ_OPTIONS, WRITE_OPTIONS, KafkaConnectionOptions
from odibi_stream.config.project_models import ConnectionConfig, ProjectConfig

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def project_schema() -> dict[str, Any]:
    """JSON Schema of ``odibi.yaml``."""
    schema = ProjectConfig.model_json_schema()
    _link(schema, ConnectionConfig.__name__, "type", {"kafka": KafkaConnectionOptions})
    return _with_header(schema, "odibi.yaml")


def pipeline_schema() -> dict[str, Any]:
    """JSON Schema of a ``pipelines/*.yaml`` file."""
    schema = PipelineConfig.model_json_schema()
    _link(schema, ReadConfig.__name__, "format", READ_OPTIONS)
    _link(schema, WriteConfig.__name__, "format", WRITE_OPTIONS)
    return _with_header(schema, "odibi-stream pipeline")


def _link(schema: dict[str, Any], owner: str, key: str, models: dict[str, Any]) -> None:
    """Tell editors which ``options`` model applies: ``if <key> is X then options is X's model``.

    pydantic can only say "options is one of these models"; the choice is made by the sibling
    ``key`` (``format``, ``type``), which JSON Schema expresses with if/then.
    """
    defs = schema.get("$defs", {})
    if owner not in defs:
        return
    defs[owner]["allOf"] = [
        {
            "if": {"properties": {key: {"const": value}}, "required": [key]},
            "then": {"properties": {"options": {"$ref": f"#/$defs/{model.__name__}"}}},
        }
        for value, model in models.items()
        if model.__name__ in defs
    ]


def _with_header(schema: dict[str, Any], title: str) -> dict[str, Any]:
    return {"$schema": SCHEMA_DIALECT, **schema, "title": title}
