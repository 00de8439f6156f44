"""A loaded, fully validated project and where its data lives.

Lifecycle: :func:`odibi_stream.config.loader.load_project` builds a :class:`Project`; the
runtime, connectors and CLI read it and never mutate it. Guarantees: every pipeline in
``pipelines`` passed all validation (models, connections, DAG, cross-pipeline references);
:meth:`Project.location` turns a ``(connection, path)`` pair into a URI and storage options
that deltalake, pyarrow and DuckDB accept.
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

_TRUE = ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Location:
    """Where a node's data lives.

    Attributes:
        uri: Absolute local path, or ``az://container/path`` (blob) / ``abfss://...`` (ADLS).
        storage_options: Options for deltalake/pyarrow object stores; ``{}`` for local paths.
        is_local: True for the local filesystem.
    """

    uri: str
    storage_options: dict[str, str] = field(default_factory=dict)
    is_local: bool = True

    def __repr__(self) -> str:
        # storage_options hold account keys: never show them.
        return f"Location(uri={self.uri!r}, is_local={self.is_local})"


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
        secrets: Every ``${secret:..}`` value substituted into the config; whoever loads a
            project registers them with the redactor (config itself registers nothing).
    """

    root: Path
    config: ProjectConfig
    checkpoint: CheckpointTarget
    pipelines: dict[str, PipelineConfig]
    files: dict[str, Path]
    env: str | None = None
    lines: dict[str, dict[KeyPath, int]] = field(default_factory=dict, repr=False)
    secrets: frozenset[str] = field(default=frozenset(), repr=False)

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

    def location(self, connection: str, path: str | None) -> Location:
        """Resolve ``path`` under ``connection`` to a :class:`Location`.

        Raises:
            ConfigError: Unknown connection, or one without storage (eventhub).
        """
        conn = self.connection(connection)
        if conn.type == "local":
            base = Path(conn.base_path or ".")
            base = base if base.is_absolute() else self.root / base
            full = base / path if path else base
            return Location(uri=str(full.resolve()), storage_options={}, is_local=True)
        if conn.type in ("azure_blob", "adls"):
            return _azure_location(connection, conn, path)
        if conn.type == "kafka":
            # Message buses have no paths: the client options travel as storage_options.
            kafka = conn.kafka_options()
            return Location(uri=f"kafka://{kafka.bootstrap_servers}", storage_options=kafka.client_config(), is_local=False)
        raise ConfigError(
            f"connection '{connection}' is of type {conn.type} and has no storage location",
            file=str(self.files.get(PROJECT_FILE_KEY)),
            hint="use a local, azure_blob or adls connection for paths",
        )

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


def _azure_location(name: str, conn: ConnectionConfig, path: str | None) -> Location:
    if not conn.container:
        raise ConfigError(f"connection '{name}' ({conn.type}) needs 'container'")
    given = conn.storage_options()
    options = {k: v for k, v in given.items() if k != "use_emulator"}
    emulator = str(given.get("use_emulator", "")).lower() in _TRUE
    if conn.account_name:
        options.setdefault("account_name", conn.account_name)
    if emulator:
        options["azure_storage_use_emulator"] = "true"
        options["allow_http"] = "true"
        options.setdefault("account_name", AZURITE_ACCOUNT)
        options.setdefault("account_key", AZURITE_KEY)
    inner = "/".join(p.strip("/") for p in (conn.base_path, path) if p and p.strip("/"))
    if conn.type == "adls":
        account = options.get("account_name")
        if not account:
            raise ConfigError(f"connection '{name}' (adls) needs 'account_name'")
        uri = f"abfss://{conn.container}@{account}.dfs.core.windows.net/{inner}"
    else:
        uri = f"az://{conn.container}/{inner}"
    return Location(uri=uri.rstrip("/"), storage_options=options, is_local=False)
