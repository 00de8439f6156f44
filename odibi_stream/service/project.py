"""Loading a project for running it: the one entry point of ``run``, ``serve``, reloads and the API.

:func:`load` is :func:`~odibi_stream.config.loader.load_project` plus registering the project's
secrets with the redactor — config itself is pure data and registers nothing, so every layer
that loads a project to *run* it goes through here. :func:`validate` proves the project will
run without touching data (see :mod:`odibi_stream.runtime.validate`): it compiles every
pipeline (connections, formats, extras, transforms, triggers) through the same compile path
``run`` and ``serve`` use, then binds the SQL and expressions of every pandas pipeline on
empty frames; :func:`inspect` is the same with a choice of engines (the CLI's ``validate``
also binds Spark pipelines on Spark) and returns the notes too.
"""

from __future__ import annotations

from pathlib import Path

from odibi_stream.config.loader import load_project
from odibi_stream.config.project import Project
from odibi_stream.core.clock import SYSTEM_CLOCK, Clock
from odibi_stream.core.redact import register_secrets
from odibi_stream.engines.base import Engine
from odibi_stream.runtime.compile import CompiledPipeline
from odibi_stream.runtime.validate import (
    EngineFor,
    Findings,
    check_engines,
    check_project,
    compile_all,
)


def load(path: str | Path, env: str | None = None) -> Project:
    """Load and validate the project at ``path`` and register its secrets for redaction.

    Raises:
        ConfigError: one problem. ConfigErrors: several.
    """
    project = load_project(path, env)
    register_secrets(project.secrets, project.secret_refs)
    return project


class PandasOnly:
    """An ``EngineFor`` that binds on the pandas engine only (cheap: no session, nothing open)."""

    def __init__(self) -> None:
        self._engine: Engine | None = None

    def __call__(self, name: str) -> Engine | None:
        if name != "pandas":
            return None
        if self._engine is None:
            from odibi_stream.engines import get_engine

            self._engine = get_engine("pandas")
        return self._engine


def inspect(
    project: Project,
    *,
    clock: Clock = SYSTEM_CLOCK,
    engines: EngineFor | None = None,
    sample: bool = False,
) -> Findings:
    """Compile every pipeline and bind its SQL on ``engines`` (default: pandas only).

    Never raises for problems in the project: they are in ``Findings.errors``.
    """
    register_secrets(project.secrets, project.secret_refs)
    findings = compile_all(project, clock)
    check_engines(project, findings)
    check_project(project, findings, engines or PandasOnly(), sample=sample)
    return findings


def validate(project: Project, clock: Clock = SYSTEM_CLOCK) -> dict[str, CompiledPipeline]:
    """Compile and bind every pipeline of ``project``; raise if any cannot run.

    Raises:
        ConfigError: one problem. ConfigErrors: several (every pipeline's).
    """
    findings = inspect(project, clock=clock)
    findings.raise_errors()
    return findings.compiled


class AllEngines:
    """An ``EngineFor`` that binds each pipeline on its own engine (Spark when installed).

    Creating the Spark engine starts nothing; its session starts on the first bind (seconds).
    A context manager: every engine it created is closed on exit.
    """

    def __init__(self, project: Project) -> None:
        self.project = project
        self._engines: dict[str, Engine] = {}

    def __call__(self, name: str) -> Engine | None:
        from odibi_stream.core.extras import has_module
        from odibi_stream.engines import get_engine

        if name == "spark" and not has_module("pyspark"):
            return None  # reported as a missing extra by check_engines
        if name not in self._engines:
            self._engines[name] = get_engine(name, self.project.config.spark or None)
        return self._engines[name]

    def __enter__(self) -> AllEngines:
        return self

    def __exit__(self, *exc: object) -> None:
        for engine in self._engines.values():
            engine.close()
        self._engines.clear()
