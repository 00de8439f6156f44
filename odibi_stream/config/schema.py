"""JSON Schema for editors: ``odibi-stream schema`` prints these.

Lifecycle: called by the CLI on demand. Guarantees: the schema is generated from the same
pydantic models the loader validates with, so it cannot drift from what is accepted.
"""

from __future__ import annotations

from typing import Any

from odibi_stream.config.models import PipelineConfig
from odibi_stream.config.project_models import ProjectConfig

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def project_schema() -> dict[str, Any]:
    """JSON Schema of ``odibi.yaml``."""
    return _with_header(ProjectConfig.model_json_schema(), "odibi.yaml")


def pipeline_schema() -> dict[str, Any]:
    """JSON Schema of a ``pipelines/*.yaml`` file."""
    return _with_header(PipelineConfig.model_json_schema(), "odibi-stream pipeline")


def _with_header(schema: dict[str, Any], title: str) -> dict[str, Any]:
    return {"$schema": SCHEMA_DIALECT, **schema, "title": title}
