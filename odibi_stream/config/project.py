"""A loaded, fully validated project and where its data lives.

Lifecycle: :func:`odibi_stream.config.loader.load_project` builds a :class:`Project`; the
runtime, connectors and CLI read it and never mutate it. Guarantees: every pipeline in
``pipelines`` passed all validation (models, connections, DAG, cross-pipeline references).
Config is pure data: where a ``(connection, path)`` lives, with the options each library
needs, is resolved by :func:`odibi_stream.clients.locations.resolve_location`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from odibi_stream.config.checkpoint_target import CheckpointTarget
from odibi_stream.config.models import PipelineConfig
from odibi_stream.config.project_models import ConnectionConfig, ProjectConfig
from odibi_stream.config.yamlpos import KeyPath, line_for
from odibi_stream.core.hints import unknown_name_hint
from odibi_stream.exceptions import ConfigError

PROJECT_FILE_KEY = "__project__"

# Azurite's documented development account (public, identical for every installation).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

@dataclass(frozen=True)
class Project:
    """A validated project.

    Attributes:
        root: Absolute project folder.
        config: ``odibi.yaml`` after the environment overlay and substitution.
        checkpoint: Where checkpoints live (resolved and validated from ``checkpoint:``).
        pipelines: Pipelines by name, in pipeline file-name order.
        files: Pipeline name → its YAML file; ``"__project__"`` → ``odibi.yaml``.
        env: The selected environment, if any.
        lines: Pipeline name → key path → line in its file, so later stages (the runtime
            importing a transform function) can still report ``file:line``.
        secrets: Every secret value substituted into the config (``${secret:..}`` and
            ``${env:..}`` marked secret); whoever loads a project registers them with the
            redactor (config itself registers nothing).
        secret_refs: Secret value → its reference (``${secret:NAME}``), shown instead of it.
        templates: Pipeline name (or ``"__project__"``) → key path → the unsubstituted text of
            every value that held a reference, for errors that quote user SQL or expressions.
    """

    root: Path
    config: ProjectConfig
    checkpoint: CheckpointTarget
    pipelines: dict[str, PipelineConfig]
    files: dict[str, Path]
    env: str | None = None
    lines: dict[str, dict[KeyPath, int]] = field(default_factory=dict, repr=False)
    secrets: frozenset[str] = field(default=frozenset(), repr=False)
    secret_refs: dict[str, str] = field(default_factory=dict, repr=False)
    templates: dict[str, dict[KeyPath, str]] = field(default_factory=dict, repr=False)

    def template(self, pipeline: str, *path: str | int) -> str | None:
        """The unsubstituted text of a value (``"nodes", 1, "transform", "sql"``), if it had references."""
        return self.templates.get(pipeline, {}).get(tuple(path))

    def line(self, pipeline: str, *path: str | int) -> int | None:
        """Line of ``path`` (e.g. ``"nodes", 2, "transform"``) in ``pipeline``'s file, if known."""
        return line_for(self.lines.get(pipeline, {}), path) if pipeline in self.lines else None

    def connection(self, name: str) -> ConnectionConfig:
        """The connection called ``name``.

        Raises:
            ConfigError: Unknown connection (the hint lists the known ones).
        """
        conn = self.config.connections.get(name)
        if conn is None:
            hint = unknown_name_hint(name, sorted(self.config.connections), "connections")
            raise ConfigError(
                f"unknown connection '{name}'",
                file=str(self.files.get(PROJECT_FILE_KEY)),
                hint=hint,
            )
        return conn

    def pipeline(self, name: str) -> PipelineConfig:
        """The pipeline called ``name``.

        Raises:
            ConfigError: Unknown pipeline, with a did-you-mean hint.
        """
        found = self.pipelines.get(name)
        if found is None:
            hint = unknown_name_hint(name, self.pipelines, "pipelines")
            raise ConfigError(f"unknown pipeline '{name}'", hint=hint)
        return found

    def fingerprint(self, name: str) -> str:
        """sha256 hex of the pipeline's effective config; independent of key order in YAML."""
        data = self.pipeline(name).model_dump(mode="json")
        canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
