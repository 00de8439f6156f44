"""Models of ``odibi.yaml``: connections, checkpoints, the control plane, runtime limits."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    Field,
    TypeAdapter,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)

from odibi_stream.config.alert_models import AlertRule
from odibi_stream.config.azure_auth import AzureAuth
from odibi_stream.config.base import NAME_PATTERN, Model
from odibi_stream.config.maintenance_models import MaintenanceConfig
from odibi_stream.config.options import KafkaConnectionOptions, SparkConfig, validate_options
from odibi_stream.config.tracing_models import TracingConfig

# Connection types whose ``options`` have a model; the others pass a string mapping through.
_OPTION_MODELS: dict[str, type[BaseModel]] = {"kafka": KafkaConnectionOptions}
_PASS_THROUGH = TypeAdapter(dict[str, str])


class ConnectionConfig(Model):
    """A named place data lives: a local folder or an Azure storage account/container."""

    type: Literal["local", "azure_blob", "adls", "kafka", "eventhub"] = Field(
        description="Kind of connection."
    )
    base_path: str | None = Field(
        default=None,
        description="Root folder (local) or path inside the container (azure); node paths are relative to it.",
    )
    namespace: str | None = Field(
        default=None,
        validation_alias=AliasChoices("namespace", "fully_qualified_namespace"),
        description="Event Hubs namespace (eventhub; also spelled fully_qualified_namespace): myns, myns.servicebus.windows.net or sb://myns.servicebus.windows.net/; optional when a connection string names it.",
    )
    account_name: str | None = Field(default=None, description="Azure storage account name.")
    container: str | None = Field(default=None, description="Azure blob container / ADLS filesystem.")
    endpoint: str | None = Field(
        default=None,
        description="Azure Blob account URL override: Azurite (http://127.0.0.1:10000/devstoreaccount1), Azure Stack, sovereign clouds.",
    )
    auth: AzureAuth | None = Field(
        default=None,
        description="How an Azure connection authenticates (exactly one mode); secrets only through ${secret:NAME}.",
    )
    options: KafkaConnectionOptions | dict[str, str] = Field(
        default_factory=dict,
        validate_default=True,
        description="Client settings: for kafka, the librdkafka settings (docs/options.md); for azure, extra storage options passed through. Values may use ${secret:NAME}.",
    )

    @field_validator("options", mode="wrap")
    @classmethod
    def _options(cls, v: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> Any:
        model = _OPTION_MODELS.get(info.data.get("type", ""))
        if model is None:
            return _PASS_THROUGH.validate_python({} if v is None else v)
        return validate_options(model, v)

    @classmethod
    def field_type(cls, name: str, data: Mapping[str, Any]) -> Any:
        """The type of field ``name`` for this mapping's raw ``data`` (diagnostics' hints)."""
        if name == "options":
            return _OPTION_MODELS.get(str(data.get("type"))) or dict[str, str]
        return cls.model_fields[name].annotation

    def kafka_options(self) -> KafkaConnectionOptions:
        """The client settings of a ``type: kafka`` connection.

        Raises:
            TypeError: not a kafka connection (a programming error: check ``type`` first).
        """
        if not isinstance(self.options, KafkaConnectionOptions):
            raise TypeError(f"a {self.type} connection has no kafka options")
        return self.options

    def pass_through_options(self) -> dict[str, str]:
        """The options of a connection whose type has no options model (azure storage, eventhub),
        passed through to its client library; empty for kafka (see :meth:`kafka_options`)."""
        return self.options if isinstance(self.options, dict) else {}


class CheckpointConfig(Model):
    """Where and how checkpoints are kept: a ``root`` (folder or URI) or a ``connection`` + ``path``."""

    root: str | None = Field(
        default=None,
        description="Checkpoint root: a folder (relative to the project folder), file://, memory://NAME (tests, embedding) or an Azure URI (abfss://container@account.dfs.core.windows.net/path, az://container/path). Default ./checkpoints.",
    )
    connection: str | None = Field(
        default=None, description="An azure_blob/adls (or local) connection holding the checkpoints (instead of root)."
    )
    path: str | None = Field(default=None, description="Path inside the connection (with 'connection').")
    retain_batches: int = Field(
        default=100, ge=2, description="How many offsets/commits entries to keep before compacting older ones into snapshot.json."
    )
    file_mode: str = Field(
        default="0600", pattern=r"^0?[0-7]{3}$",
        description="Permissions (octal) of checkpoint files created in a local checkpoint root; lock files are always 0600.",
    )
    dir_mode: str = Field(
        default="0700", pattern=r"^0?[0-7]{3}$",
        description="Permissions (octal) of checkpoint folders created in a local checkpoint root.",
    )

    @model_validator(mode="after")
    def _one_place(self) -> CheckpointConfig:
        if self.root is not None and self.connection is not None:
            raise ValueError("set either 'root' or 'connection' (+ 'path'), not both")
        if self.path is not None and self.connection is None:
            raise ValueError("'path' needs 'connection'")
        return self


PipelineState = Literal["running", "idle", "paused", "failed", "waiting_lease"]


def _default_fail_on() -> list[PipelineState]:
    return ["failed"]


class TLSConfig(Model):
    """TLS for the control plane (stdlib ``ssl``); relative paths are under the project folder."""

    cert: str = Field(description="PEM certificate (chain) file served by the control plane.")
    key: str = Field(description="PEM private key file (unencrypted) matching ``cert``.")


class ServerLimitsConfig(Model):
    """Resource limits of the control plane (slow or flooding clients never starve the daemon)."""

    max_connections: int = Field(
        default=128, ge=4, le=10000,
        description="Open connections cap (also capped to a quarter of the fd limit); past it the longest-idle connection is dropped.",
    )
    workers: int = Field(default=8, ge=1, le=256, description="Threads answering API requests.")
    request_timeout_seconds: float = Field(
        default=10.0, gt=0, le=300,
        description="Deadline for a client to send a whole request (head and body) and to take the response.",
    )
    max_body_bytes: int = Field(
        default=65536, ge=0, le=16 * 1024 * 1024, description="Largest request body accepted; larger gets 413 before any action."
    )
    trigger_burst: int = Field(default=3, ge=1, description="Forced runs a pipeline may be triggered in a burst over HTTP.")
    trigger_per_second: float = Field(
        default=1.0, gt=0, description="Sustained HTTP trigger rate per pipeline; faster triggers are coalesced into one deferred run."
    )


class ServerConfig(Model):
    """HTTP control plane settings (used by ``serve``)."""

    host: str = Field(default="127.0.0.1", description="Bind address. A non-loopback address requires ODIBI_API_TOKEN.")
    port: int = Field(default=8765, ge=0, le=65535, description="Bind port (0 picks a free port).")
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Extra names accepted in the Host header (DNS-rebinding guard); loopback names, IP literals of the bind and the bind name are always accepted.",
    )
    tls: TLSConfig | None = Field(default=None, description="Serve HTTPS with this certificate and key.")
    probe_port: int | None = Field(
        default=None, ge=0, le=65535,
        description="Extra listener (same host) serving only GET /healthz and GET /readyz without auth, for orchestrator probes.",
    )
    readiness_fail_on: list[PipelineState] = Field(
        default_factory=_default_fail_on, description="Pipeline states that make /readyz answer 503."
    )
    limits: ServerLimitsConfig = Field(default_factory=ServerLimitsConfig, description="Connection, body and trigger-rate limits.")

    @model_validator(mode="after")
    def _distinct_ports(self) -> ServerConfig:
        if self.probe_port and self.probe_port == self.port:
            raise ValueError("server.probe_port must differ from server.port")
        return self


class RuntimeConfig(Model):
    """Runtime limits shared by all pipelines of a project."""

    max_parallel_nodes: int = Field(default=4, ge=1, description="Max nodes of one batch executing at once.")
    max_concurrent_batches: int = Field(default=4, ge=1, description="Max batches running at once across pipelines (daemon).")
    shutdown_grace_seconds: float = Field(default=30.0, ge=0, description="How long a drain waits for in-flight batches.")
    lease_ttl_seconds: float = Field(
        default=30.0, gt=0, description="Pipeline lease validity (renewed every third of it); a dead daemon's pipelines are taken over after this."
    )


class ProjectConfig(Model):
    """The contents of ``odibi.yaml``."""

    project: str = Field(pattern=NAME_PATTERN, description="Project name.")
    engine: Literal["pandas", "spark"] = Field(default="pandas", description="Default engine for pipelines.")
    checkpoint: CheckpointConfig = Field(default_factory=CheckpointConfig, description="Checkpoint storage.")
    connections: dict[str, ConnectionConfig] = Field(default_factory=dict, description="Named connections.")
    server: ServerConfig = Field(default_factory=ServerConfig, description="HTTP control plane.")
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig, description="Runtime limits.")
    spark: SparkConfig = Field(default_factory=SparkConfig, description="Spark session settings (engine: spark).")
    transforms: list[str] = Field(
        default_factory=list,
        description="Python modules (dotted names, importable from the project folder) that register "
        "transforms with @odibi_stream.transform; imported in this order before any pipeline is "
        "compiled (validate, run, serve, reload).",
    )
    secret_env: list[str] = Field(
        default_factory=list,
        description="Environment variables whose ${env:VAR} values are secrets (masked in every output, never persisted), like ${secret:NAME}.",
    )
    alerts: list[AlertRule] = Field(
        default_factory=list, description="Alert rules: failed/recovered/lag/stalled to a webhook, Slack or Teams."
    )
    tracing: TracingConfig | None = Field(
        default=None, description="OpenTelemetry traces of batches (OTLP/HTTP); default from OTEL_* variables."
    )
    maintenance: MaintenanceConfig | None = Field(
        default=None, description="Default Delta table maintenance of every Delta sink (a sink's own overrides it)."
    )
    environments: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Named overlays deep-merged over this file when selected with --env.",
    )
