"""Loading a project for running it: the one entry point of ``run``, ``serve``, reloads and the API.

:func:`load` is :func:`~odibi_stream.config.loader.load_project` plus registering the project's
secrets with the redactor — config itself is pure data and registers nothing, so every layer
that loads a project to *run* it goes through here. :func:`validate` compiles every pipeline
(connections, formats, extras, transforms, triggers) without touching data: the same compile
path ``run`` and ``serve`` use.
"""

from __future__ import annotations

from pathlib import Path

from odibi_stream.config.loader import load_project
from odibi_stream.config.project import Project
from odibi_stream.core.clock import SYSTEM_CLOCK, Clock
from odibi_stream.core.redact import register_secrets
from odibi_stream.runtime.compile import CompiledPipeline, compile_pipeline


def load(path: str | Path, env: str | None = None) -> Project:
    """Load and validate the project at ``path`` and register its secrets for redaction.

    Raises:
        ConfigError: one problem. ConfigErrors: several.
    """
    project = load_project(path, env)
    register_secrets(project.secrets, project.secret_refs)
    return project


def validate(project: Project, clock: Clock = SYSTEM_CLOCK) -> dict[str, CompiledPipeline]:
    """Compile every pipeline of ``project``; raises on the first that cannot run."""
    register_secrets(project.secrets, project.secret_refs)
    return {name: compile_pipeline(project, name, clock) for name in project.pipelines}
