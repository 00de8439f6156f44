"""Plain-data descriptions of pipelines for the control plane (JSON-safe, no secrets)."""

from __future__ import annotations

from typing import Any

from odibi_stream.config.models import PipelineConfig


def static_description(config: PipelineConfig, default_engine: str) -> dict[str, Any]:
    """The parts of a pipeline description that come from its config."""
    return {
        "name": config.pipeline,
        "trigger": config.trigger.kind,
        "engine": config.engine or default_engine,
        "nodes": [n.name for n in config.nodes],
        "edges": [[dep, n.name] for n in config.nodes for dep in n.depends_on],
    }


def waiting_description() -> dict[str, Any]:
    """The dynamic part for a pipeline this process does not own (yet)."""
    return {
        "state": "waiting_lease",
        "degraded": False,
        "last_error": None,
        "error": None,
        "busy": False,
        "last_batch": None,
        "batches": 0,
        "lag": {},
        "watermarks": {},
        "last_committed": None,
    }
