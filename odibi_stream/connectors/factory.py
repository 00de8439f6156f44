"""Compile node config into source and sink specs, through one registry of connectors.

Every format is served by a :class:`Connector` registered under its format names: the built-in
ones here, third-party ones through the ``odibi_stream.connectors`` entry-point group (see
:mod:`odibi_stream.core.entry_points`). Building a spec validates the node's settings against
its connector without touching any external system.

Lifecycle: the runtime calls :func:`build_source` / :func:`build_sink` once per node when it
compiles a pipeline (``validate``, ``run``, ``serve`` and reloads alike), so configuration
mistakes surface before any batch runs. ``location`` is the node's resolved path:
``resolve_location(project, connection, path)`` (for file sources, the glob).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pydantic import BaseModel, ValidationError

from odibi_stream.clients.locations import Location
from odibi_stream.config.models import NodeConfig, ReadConfig
from odibi_stream.config.options import options_error
from odibi_stream.connectors.base import SinkSpec, SourceSpec
from odibi_stream.connectors.column_source import ColumnSpec
from odibi_stream.connectors.delta import DeltaSinkSpec
from odibi_stream.connectors.files import FILE_FORMATS, FilesSpec
from odibi_stream.connectors.files_sink import FILE_SINK_FORMATS, FileSinkSpec
from odibi_stream.core.clock import SYSTEM_CLOCK, Clock
from odibi_stream.core.entry_points import CONNECTORS_GROUP, discovered, load
from odibi_stream.exceptions import ConfigError


@dataclass(frozen=True)
class SourceRequest:
    """What a connector needs to build a source spec for one read node."""

    pipeline: str
    node: NodeConfig
    read: ReadConfig
    location: Location
    clock: Clock = SYSTEM_CLOCK


@dataclass(frozen=True)
class SinkRequest:
    """What a connector needs to build a sink spec for one write node."""

    pipeline: str
    node: NodeConfig
    location: Location


@dataclass(frozen=True)
class Connector:
    """A connector: the formats it serves and how it builds specs.

    Attributes:
        name: Connector name (for messages), e.g. ``kafka``.
        formats: Format names it serves (``read.format`` / ``write.format`` values).
        source: Builds the source spec of an incremental read (None: the format has no
            incremental source). Return None for a static read.
        sink: Builds the sink spec of a write (None: the format cannot be written).
        read_options: Model of ``read.options`` for the formats this plugin serves (a pydantic
            model, ideally a ``odibi_stream.config.options.Options`` subclass: frozen, unknown
            keys rejected, described fields). When set, the options are validated against it
            when the pipeline compiles and ``source`` sees ``req.read.options`` as an instance;
            when None they stay the mapping written in YAML. Built-in formats have their
            models in :mod:`odibi_stream.config.options` and are validated at load.
        write_options: The same for ``write.options`` (``sink`` sees ``req.node.write.options``).
    """

    name: str
    formats: tuple[str, ...]
    source: Callable[[SourceRequest], SourceSpec | None] | None = None
    sink: Callable[[SinkRequest], SinkSpec] | None = None
    read_options: type[BaseModel] | None = None
    write_options: type[BaseModel] | None = None


def _files_source(req: SourceRequest) -> SourceSpec | None:
    inc = req.read.incremental
    if inc is None:
        return None
    if inc.mode == "files":
        return FilesSpec(req.node.name, req.location, req.read, req.clock)
    if inc.mode == "offsets":
        raise ConfigError(
            f"node {req.node.name}: incremental mode offsets is for kafka/eventhub reads, not {req.read.format}",
            hint="use mode: files for files, mode: column for tables",
        )
    if req.read.format == "parquet":
        return ColumnSpec(req.node.name, req.location, req.read)
    raise ConfigError(
        f"node {req.node.name}: incremental mode column reads delta or parquet tables, not {req.read.format}",
        hint="use incremental mode: files for csv/json files",
    )


def _delta_source(req: SourceRequest) -> SourceSpec | None:
    inc = req.read.incremental
    if inc is None:
        return None
    if inc.mode != "column":
        raise ConfigError(
            f"node {req.node.name}: incremental mode {inc.mode} cannot read a delta table",
            hint="use incremental mode: column for delta tables",
        )
    return ColumnSpec(req.node.name, req.location, req.read)


def _kafka_source(req: SourceRequest) -> SourceSpec:
    from odibi_stream.connectors.kafka import KafkaSourceSpec

    # A kafka read is always incremental: the checkpoint holds its offsets.
    return KafkaSourceSpec(req.node.name, req.pipeline, req.location.storage_options, req.read)


def _kafka_sink(req: SinkRequest) -> SinkSpec:
    from odibi_stream.connectors.kafka import KafkaSinkSpec

    assert req.node.write is not None
    return KafkaSinkSpec(req.node.name, req.pipeline, req.location.storage_options, req.node.write)


def _eventhub_source(req: SourceRequest) -> SourceSpec:
    from odibi_stream.connectors.eventhub import EventHubSourceSpec

    # An eventhub read is always incremental: the checkpoint holds its sequence numbers.
    return EventHubSourceSpec(req.node.name, req.pipeline, req.location, req.read)


def _eventhub_sink(req: SinkRequest) -> SinkSpec:
    from odibi_stream.connectors.eventhub import EventHubSinkSpec

    assert req.node.write is not None
    return EventHubSinkSpec(req.node.name, req.pipeline, req.location, req.node.write)


def _delta_sink(req: SinkRequest) -> SinkSpec:
    assert req.node.write is not None
    return DeltaSinkSpec(req.node.name, req.location, req.node.write)


def _file_sink(req: SinkRequest) -> SinkSpec:
    assert req.node.write is not None
    return FileSinkSpec(req.node.name, req.location, req.node.write)


BUILTIN: tuple[Connector, ...] = (
    Connector("files", tuple(dict.fromkeys(FILE_FORMATS + FILE_SINK_FORMATS)), _files_source, _file_sink),
    Connector("delta", ("delta",), _delta_source, _delta_sink),
    Connector("kafka", ("kafka",), _kafka_source, _kafka_sink),
    Connector("eventhub", ("eventhub",), _eventhub_source, _eventhub_sink),
)

_lock = threading.Lock()
_registry: dict[str, Connector] = {}


def register(connector: Connector) -> None:
    """Serve ``connector.formats`` with ``connector`` (a later registration replaces an earlier)."""
    with _lock:
        for fmt in connector.formats:
            _registry[fmt] = connector


def connectors() -> Mapping[str, Connector]:
    """Format name → connector: built-ins, then entry-point plugins (loaded once)."""
    with _lock:
        empty = not _registry
    if empty:
        for connector in BUILTIN:
            register(connector)
        for connector in _plugin_connectors():
            register(connector)
    with _lock:
        return dict(_registry)


def _plugin_connectors() -> list[Connector]:
    found = []
    for ep in discovered(CONNECTORS_GROUP):
        obj = load(ep)
        if not isinstance(obj, Connector):
            raise ConfigError(
                f"plugin {ep.name!r} ({ep.value}) is not an odibi_stream Connector",
                hint="the entry point must name a odibi_stream.connectors.factory.Connector object",
            )
        found.append(obj)
    return found


def _connector(fmt: str, node: str) -> Connector:
    found = connectors().get(fmt)
    if found is None:
        from odibi_stream.core.hints import unknown_name_hint

        raise ConfigError(
            f"node {node}: no connector serves format {fmt!r}",
            hint=unknown_name_hint(fmt, sorted(connectors()), "formats"),
        )
    return found


def build_source(
    pipeline: str, node: NodeConfig, location: Location, clock: Clock = SYSTEM_CLOCK
) -> SourceSpec | None:
    """The incremental source spec of ``node``, or None for static reads.

    Raises:
        ConfigError: an unsupported combination of format and incremental mode, bad options,
            or a missing extra (with the install hint).
    """
    read = node.read
    if read is None:
        return None
    connector = _connector(read.format, node.name)
    if connector.source is None:
        if read.incremental is not None:
            raise ConfigError(f"node {node.name}: format {read.format} has no incremental source")
        return None
    if connector.read_options is not None and isinstance(read.options, dict):
        typed = _plugin_options(connector.read_options, read.options, node.name, "read")
        read = read.model_copy(update={"options": typed})
        node = node.model_copy(update={"read": read})
    return connector.source(SourceRequest(pipeline, node, read, location, clock))


def build_sink(node: NodeConfig, location: Location, pipeline: str) -> SinkSpec:
    """The sink spec of ``node`` (which must have ``write``).

    Raises:
        ConfigError: no write section, a format that cannot be written, bad options.
    """
    write = node.write
    if write is None:
        raise ConfigError(f"node {node.name} has no 'write' section")
    connector = _connector(write.format, node.name)
    if connector.sink is None:
        raise ConfigError(f"node {node.name}: format {write.format} cannot be written")
    if connector.write_options is not None and isinstance(write.options, dict):
        typed = _plugin_options(connector.write_options, write.options, node.name, "write")
        node = node.model_copy(update={"write": write.model_copy(update={"options": typed})})
    return connector.sink(SinkRequest(pipeline, node, location))


def _plugin_options(
    model: type[BaseModel], options: Mapping[str, object], node: str, direction: str
) -> BaseModel:
    try:
        return model.model_validate(options)
    except ValidationError as exc:
        raise options_error(exc, model, f"node {node}: {direction}.options") from None
