"""Models of ``pipelines/*.yaml``: nodes (read, transform, checks, write), triggers, dead letters."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import (
    Field,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)

from odibi_stream.config.base import NAME_PATTERN, Model, parse_duration
from odibi_stream.config.formats import check_format, format_schema
from odibi_stream.config.maintenance_models import MaintenanceConfig
from odibi_stream.config.options import (
    ContinuousTrigger,
    ManualTrigger,
    PollTrigger,
    ReadOptions,
    WriteOptions,
    options_model,
    validate_options,
)
from odibi_stream.config.schedule_check import check_schedule
from odibi_stream.config.semantics import (
    ColumnConfig,
    ExpectConfig,
    MergeConfig,
    PiiConfig,
    SchemaPolicyConfig,
    Severity,
)


class IncrementalConfig(Model):
    """How a read node advances from batch to batch."""

    mode: Literal["files", "column", "offsets"] = Field(
        description="files: new files by identity; column: rows whose column exceeds the last high-water mark; offsets: Kafka/Event Hub partition offsets (the default for those formats)."
    )
    column: str | None = Field(default=None, description="High-water-mark column (mode: column).")
    lookback: str | None = Field(
        default=None, description="Re-read this much before the high-water mark (mode: column), e.g. 1h or 100 for numbers."
    )
    max_files_per_batch: int | None = Field(default=None, ge=1, description="Cap on files per batch (mode: files).")
    max_bytes_per_batch: int | None = Field(default=None, ge=1, description="Cap on input bytes per batch (mode: files).")
    max_records_per_batch: int | None = Field(default=None, ge=1, description="Cap on records per batch.")
    settle_seconds: float = Field(
        default=1.0,
        ge=0,
        description="mode: files: a file not seen closing is read only after its size and mtime were stable this long; under a file_watch trigger a local file closed after writing or renamed in is read at once.",
    )
    max_file_age: str | None = Field(
        default=None,
        description="mode: files: ignore files modified this long before the newest processed file (e.g. 7d) and forget them, bounding the state; like Auto Loader's maxFileAge. Unset: every file is tracked forever.",
    )
    marker_suffix: str | None = Field(
        default=None, description="If set, a file is settled when '<file><suffix>' exists (e.g. .done), regardless of age."
    )
    after_read: Literal["keep", "archive", "delete"] = Field(
        default="keep", description="What to do with a file after its batch commits."
    )
    archive_path: str | None = Field(default=None, description="Folder for after_read: archive (relative to the connection).")
    follow_symlinks: bool = Field(
        default=False,
        description="mode: files: follow symbolic links in the landing folder, to targets inside the connection root only (links are skipped by default; FIFOs, sockets and devices are never read).",
    )

    @field_validator("max_file_age")
    @classmethod
    def _age(cls, v: str | None) -> str | None:
        if v is not None and parse_duration(v).total_seconds() <= 0:
            raise ValueError("max_file_age must be positive")
        return v

    @model_validator(mode="after")
    def _check(self) -> IncrementalConfig:
        if self.mode == "column" and not self.column:
            raise ValueError("incremental mode 'column' needs 'column'")
        if self.after_read == "archive" and not self.archive_path:
            raise ValueError("after_read: archive needs 'archive_path'")
        return self


class WatermarkConfig(Model):
    """Event-time watermark on a read node."""

    column: str = Field(description="Event-time column.")
    delay: str = Field(default="0s", description="Allowed lateness, e.g. 10m. watermark = max event time seen - delay.")
    late: Literal["drop", "dead_letter"] = Field(default="drop", description="What to do with rows older than the watermark.")

    @field_validator("delay")
    @classmethod
    def _delay(cls, v: str) -> str:
        parse_duration(v)
        return v


class _FormatOptions(Model):
    """A read or write whose ``options`` are checked against the model of its ``format``."""

    DIRECTION: ClassVar[Literal["read", "write"]]

    @field_validator("format", check_fields=False)
    @classmethod
    def _format(cls, v: str) -> str:
        return check_format(v, cls.DIRECTION)

    @field_validator("options", mode="wrap", check_fields=False)
    @classmethod
    def _options(cls, v: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> Any:
        # The format (validated before options) picks the model, so the union's own validation
        # (handler) is never used; "wrap" rather than "plain" keeps the annotation's JSON Schema.
        if "format" not in info.data:
            return v  # the format is already reported; its options cannot be checked
        return validate_options(options_model(cls.DIRECTION, info.data["format"]), v)

    @classmethod
    def field_type(cls, name: str, data: Mapping[str, Any]) -> Any:
        """The type of field ``name`` for this mapping's raw ``data`` (diagnostics' hints)."""
        if name == "options":
            return options_model(cls.DIRECTION, data.get("format")) or dict[str, Any]
        return cls.model_fields[name].annotation


class ReadConfig(_FormatOptions):
    """A source: where to read from and how."""

    DIRECTION: ClassVar[Literal["read", "write"]] = "read"

    connection: str = Field(description="Name of a connection in odibi.yaml.")
    format: str = Field(
        description="Data format: csv, json, jsonl, parquet, delta, kafka, eventhub, or a plugin's.",
        json_schema_extra=format_schema("read"),
    )
    path: str | None = Field(default=None, description="Path or glob relative to the connection (files, delta, parquet).")
    topic: str | None = Field(default=None, description="Kafka topic or Event Hub name.")
    options: ReadOptions = Field(
        default_factory=dict,
        validate_default=True,
        description="Options of the format (docs/options.md lists them per format); a plugin's format takes its connector's.",
    )
    incremental: IncrementalConfig | None = Field(default=None, description="Incremental mode; absent means a static read every batch.")
    watermark: WatermarkConfig | None = Field(default=None, description="Event-time watermark.")

class TransformConfig(Model):
    """A transform: exactly one of sql or function."""

    sql: str | None = Field(default=None, description="DuckDB/Spark SQL; upstream nodes are tables named after them.")
    function: str | None = Field(
        default=None, description="A registered transform name or a dotted path 'pkg.module.func'."
    )
    params: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments passed to the function.")

    @model_validator(mode="after")
    def _one(self) -> TransformConfig:
        if bool(self.sql) == bool(self.function):
            raise ValueError("a transform needs exactly one of 'sql' or 'function'")
        return self


class WriteConfig(_FormatOptions):
    """A sink: where and how to write."""

    DIRECTION: ClassVar[Literal["read", "write"]] = "write"

    connection: str = Field(description="Name of a connection in odibi.yaml.")
    format: str = Field(
        description="Output format: delta, parquet, csv, jsonl, kafka, or a plugin's.",
        json_schema_extra=format_schema("write"),
    )
    path: str | None = Field(default=None, description="Folder/table path relative to the connection.")
    topic: str | None = Field(default=None, description="Kafka topic (format: kafka).")
    mode: Literal["append", "overwrite", "merge"] = Field(default="append", description="Write mode.")
    merge_keys: list[str] = Field(default_factory=list, description="Key columns for mode: merge (upsert).")
    partition_by: list[str] = Field(default_factory=list, description="Partition columns.")
    options: WriteOptions = Field(
        default_factory=dict,
        validate_default=True,
        description="Options of the format (docs/options.md lists them per format); a plugin's format takes its connector's.",
    )
    merge: MergeConfig | None = Field(default=None, description="Merge strategy of mode: merge (keys, strategy, sequence_by, deletes, audit_columns).")
    schema_: SchemaPolicyConfig | None = Field(default=None, alias="schema", description="Schema evolution policy of a Delta sink (default add_columns).")
    sensitive: bool = Field(default=False, description="This sink may hold raw personal data: sensitive columns are not masked before it.")
    maintenance: MaintenanceConfig | None = Field(
        default=None, description="Delta table maintenance of this sink (format: delta); overrides the project default."
    )

    @model_validator(mode="after")
    def _merge(self) -> WriteConfig:
        if self.mode == "merge" and not (self.merge_keys or self.merge):
            raise ValueError("mode: merge needs 'merge: {keys: [...]}' (or 'merge_keys')")
        if self.merge is not None and (self.mode != "merge" or self.merge_keys):
            raise ValueError("'merge:' needs mode: merge and replaces 'merge_keys' (keep one)")
        if self.mode == "merge" and self.format != "delta":
            raise ValueError("mode: merge is supported for format: delta only")
        if self.schema_ is not None and self.format != "delta":
            raise ValueError("'schema: {evolution: ...}' is supported for format: delta sinks only")
        if self.maintenance is not None and self.format != "delta":
            raise ValueError("maintenance is supported for format: delta only")
        return self

    def merge_config(self) -> MergeConfig | None:
        """The merge settings of mode: merge (``merge_keys`` is an upsert by those keys)."""
        if self.mode != "merge":
            return None
        return self.merge or MergeConfig(keys=list(self.merge_keys))


class CheckConfig(Model):
    """A declared row check: rows where ``expr`` is not true are bad records."""

    name: str = Field(description="Check name, reported in _odibi_error.")
    expr: str = Field(description="SQL boolean expression over the node's columns, e.g. 'amount >= 0'.")
    severity: Severity | None = Field(
        default=None,
        description="warn: failing rows are kept and counted; drop: removed (to the dead letter under on_error: dead_letter); fail: any failing row fails the batch. Default: the node's on_error.",
    )


OnError = Literal["fail", "skip", "dead_letter"]


class NodeConfig(Model):
    """One step of a pipeline: read, transform and/or write, in that order."""

    name: str = Field(pattern=NAME_PATTERN, description="Node name; SQL transforms see upstream nodes as tables of this name.")
    depends_on: list[str] = Field(default_factory=list, description="Upstream node names.")
    read: ReadConfig | None = Field(default=None, description="Source of this node.")
    transform: TransformConfig | None = Field(default=None, description="Transform applied to the input.")
    checks: list[CheckConfig] = Field(default_factory=list, description="Row checks; failing rows follow on_error.")
    write: WriteConfig | None = Field(default=None, description="Sink of this node.")
    on_error: OnError | None = Field(default=None, description="Bad records policy for this node (defaults to the pipeline's).")
    columns: dict[str, ColumnConfig] = Field(default_factory=dict, description="Column facts, e.g. {email: {sensitive: true, mask: hash}}.")
    expect: ExpectConfig | None = Field(default=None, description="Batch-level quality thresholds (min_rows, max_null_fraction, max_reject_fraction).")

    @model_validator(mode="after")
    def _something(self) -> NodeConfig:
        if not (self.read or self.transform or self.write or self.checks):
            raise ValueError("a node needs at least one of read, transform, checks, write")
        if self.read is None and not self.depends_on:
            raise ValueError("a node without 'read' needs 'depends_on'")
        return self


class ScheduleTrigger(Model):
    """cron / interval trigger settings."""

    expression: str | None = Field(default=None, description="Cron expression (5 or 6 fields; 6 = with seconds).")
    every: str | None = Field(default=None, description="Interval, e.g. 30s.")
    timezone: str = Field(default="UTC", description="IANA timezone for cron.")
    catch_up: Literal["all", "latest", "skip"] = Field(default="latest", description="Ticks missed while down.")


class FileWatchTrigger(Model):
    """file_watch trigger settings."""

    debounce_ms: int = Field(default=5, ge=0, description="Coalesce events within this window.")
    reconcile_seconds: float = Field(default=30.0, gt=0, description="Periodic listing so a missed event is never a missed file.")


class TriggerConfig(Model):
    """What wakes the pipeline. Exactly one key."""

    file_watch: FileWatchTrigger | None = Field(default=None, description="Wake on files arriving under the incremental read paths.")
    cron: ScheduleTrigger | None = Field(default=None, description="Wake on a cron schedule.")
    interval: ScheduleTrigger | None = Field(default=None, description="Wake every fixed interval.")
    continuous: ContinuousTrigger | None = Field(default=None, description="Run the next batch as soon as data exists.")
    manual: ManualTrigger | None = Field(default=None, description="Run only when triggered via API/CLI.")
    kafka: PollTrigger | None = Field(default=None, description="Wake when Kafka end offsets move.")
    eventhub: PollTrigger | None = Field(default=None, description="Wake when Event Hub sequence numbers move.")
    after: str | list[str] | None = Field(default=None, description="Wake when the named pipeline(s) commit a batch.")

    @model_validator(mode="after")
    def _exactly_one(self) -> TriggerConfig:
        if len(self.kinds()) != 1:
            raise ValueError("a trigger needs exactly one kind (file_watch, cron, interval, continuous, manual, kafka, eventhub, after)")
        schedule = self.cron or self.interval
        if schedule is not None:
            check_schedule(self.kind, schedule.expression, schedule.every, schedule.timezone)
        return self

    def kinds(self) -> list[str]:
        """Names of the trigger kinds set."""
        return [k for k in type(self).model_fields if getattr(self, k) is not None]

    @property
    def kind(self) -> str:
        """The single trigger kind set."""
        return self.kinds()[0]


class DeadLetterConfig(Model):
    """Where bad records go."""

    connection: str = Field(description="Connection name.")
    path: str = Field(description="Table/folder path relative to the connection.")
    format: Literal["delta", "jsonl"] = Field(default="delta", description="Dead-letter format.")
    dir_mode: str = Field(
        default="0700", pattern=r"^0?[0-7]{3}$",
        description="Permissions (octal) of a local dead-letter folder odibi-stream creates (dead letters hold raw rejected records).",
    )
    file_mode: str = Field(
        default="0600", pattern=r"^0?[0-7]{3}$", description="Permissions (octal) of local jsonl dead-letter files."
    )


class PipelineConfig(Model):
    """The contents of one ``pipelines/*.yaml`` file."""

    pipeline: str = Field(pattern=NAME_PATTERN, description="Pipeline name (unique in the project).")
    description: str | None = Field(default=None, description="Free text.")
    engine: Literal["pandas", "spark"] | None = Field(default=None, description="Engine override.")
    trigger: TriggerConfig = Field(
        default_factory=lambda: TriggerConfig(manual=ManualTrigger()), description="What wakes the pipeline."
    )
    on_error: OnError = Field(default="fail", description="Default bad-records policy for nodes.")
    dead_letter: DeadLetterConfig | None = Field(default=None, description="Dead-letter target (needed by on_error/late: dead_letter).")
    pii: PiiConfig | None = Field(default=None, description="Personal-data settings (the salt of mask: hash).")
    max_attempts: int = Field(
        default=5,
        ge=1,
        description="Batch attempts before the pipeline is marked failed, for unexpected errors. Retryable errors (broker/storage outages) retry with capped backoff for as long as they last (readiness: degraded); terminal errors (bad config/data) fail at once.",
    )
    nodes: list[NodeConfig] = Field(min_length=1, description="The DAG's nodes.")

    def node(self, name: str) -> NodeConfig:
        """Return the node called ``name``."""
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    def node_on_error(self, node: NodeConfig) -> OnError:
        """Effective on_error policy for ``node``."""
        return node.on_error or self.on_error
