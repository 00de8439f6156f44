"""Build sources and sinks from node config.

Lifecycle: the runtime calls :func:`build_source` / :func:`build_sink` once per node when it
loads a pipeline, so configuration mistakes surface before any batch runs.

``location`` is the node's resolved path: ``project.location(read.connection, read.path)``
for sources (for file sources that is the glob) and
``project.location(write.connection, write.path)`` for sinks.
"""

from __future__ import annotations

from odibi_stream.config.models import NodeConfig
from odibi_stream.config.project import Location
from odibi_stream.connectors.base import Sink, Source
from odibi_stream.connectors.files import FILE_FORMATS, FileSource
from odibi_stream.connectors.sinks import FILE_SINK_FORMATS, DeltaSink, FileSink
from odibi_stream.connectors.table_incremental import ColumnSource
from odibi_stream.exceptions import ConfigError

_LATER = ("eventhub",)


def _not_yet(node: str, fmt: str) -> ConfigError:
    return ConfigError(
        f"node {node}: format {fmt} is not available yet",
        hint="read files or Delta for now; the kafka and eventhub connectors are coming in a later release",
    )


def build_source(pipeline: str, node: NodeConfig, location: Location) -> Source | None:
    """The incremental source of ``node``, or None for static reads (no ``incremental``).

    Args:
        pipeline: Pipeline name (message-bus sources derive consumer ids from it).
        node: The node config; only ``node.read`` is used.
        location: ``project.location(read.connection, read.path)``.

    Raises:
        ConfigError: unsupported combination of format and incremental mode.
    """
    read = node.read
    if read is None:
        return None
    if read.format in _LATER:
        raise _not_yet(node.name, read.format)
    if read.format == "kafka":
        from odibi_stream.connectors.kafka_source import KafkaSource

        limit = read.incremental.max_records_per_batch if read.incremental else None
        return KafkaSource(
            node.name, location.storage_options, read, pipeline=pipeline, max_records_per_batch=limit
        )
    if read.incremental is None:
        return None
    if read.incremental.mode == "offsets":
        raise ConfigError(
            f"node {node.name}: incremental mode offsets is for kafka reads, not {read.format}",
            hint="use mode: files for files, mode: column for tables",
        )
    if read.incremental.mode == "files":
        if read.format not in FILE_FORMATS:
            raise ConfigError(
                f"node {node.name}: incremental mode files reads {', '.join(FILE_FORMATS)}, not {read.format}",
                hint="use incremental mode: column for delta tables",
            )
        return FileSource(node.name, location, read)
    if read.format not in ("delta", "parquet"):
        raise ConfigError(
            f"node {node.name}: incremental mode column reads delta or parquet tables, not {read.format}",
            hint="use incremental mode: files for csv/json files",
        )
    return ColumnSource(node.name, location, read)


def build_sink(node: NodeConfig, location: Location, pipeline: str = "pipeline") -> Sink:
    """The sink of ``node`` (which must have ``write``).

    Args:
        node: The node config; only ``node.write`` is used.
        pipeline: Pipeline name (Kafka's transactional id derives from it).
        location: ``project.location(write.connection, write.path)``.

    Raises:
        ConfigError: no write section, or a format not available.
    """
    write = node.write
    if write is None:
        raise ConfigError(f"node {node.name} has no 'write' section")
    if write.format in _LATER:
        raise _not_yet(node.name, write.format)
    if write.format == "kafka":
        from odibi_stream.connectors.kafka_sink import KafkaSink

        return KafkaSink(node.name, pipeline, location.storage_options, write)
    if write.format == "delta":
        return DeltaSink(node.name, location, write)
    if write.format in FILE_SINK_FORMATS:
        return FileSink(node.name, location, write)
    raise ConfigError(f"node {node.name}: unknown write format {write.format}")
