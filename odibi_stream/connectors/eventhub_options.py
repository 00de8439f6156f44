"""The options of ``format: eventhub`` reads and writes, as the connector uses them.

The keys, their types and defaults are the models
:class:`~odibi_stream.config.options.EventHubReadOptions` and
:class:`~odibi_stream.config.options.EventHubWriteOptions` (``docs/options.md``), validated
when the project loads; :func:`read_options` and :func:`write_options` turn them into what the
source and sink work with (Arrow schema, UTC start time, one data-loss policy name). Options
given as a mapping from code are validated against the same models (an
:class:`~odibi_stream.config.options.OptionsError` naming the key).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from typing import Any

import pyarrow as pa
from pydantic import BaseModel

from odibi_stream.config.options import EventHubReadOptions, EventHubWriteOptions, coerce_options
from odibi_stream.config.options.eventhub import DEFAULT_CONSUMER_GROUP
from odibi_stream.core.arrow_types import parse_schema

__all__ = ["DEFAULT_CONSUMER_GROUP", "ReadOptions", "Starting", "WriteOptions", "read_options", "write_options"]

Starting = str | dict[str, int] | datetime
"""``"earliest"``, ``"latest"``, partition → first sequence number, or an aware UTC datetime."""


@dataclass(frozen=True)
class ReadOptions:
    """Read options as the source uses them (see the module docstring)."""

    value_format: str
    schema: Mapping[str, pa.DataType] | None
    starting: Starting
    consumer_group: str
    owner_level: int | str | None
    on_data_loss: str
    read_timeout: float
    prefetch: int


@dataclass(frozen=True)
class WriteOptions:
    """Write options as the sink uses them (see the module docstring)."""

    key_column: str | None
    value_columns: tuple[str, ...] | None
    message_id_prefix: str
    consumer_group: str
    read_timeout: float


def read_options(node: str, options: BaseModel | Mapping[str, Any] | None) -> ReadOptions:
    """The source's view of ``read.options`` of an eventhub node.

    Raises:
        ConfigError: options from code that do not validate (loaded configs already did).
    """
    opts = coerce_options(EventHubReadOptions, options, f"node {node}: eventhub read options")
    return ReadOptions(
        value_format=opts.value_format,
        schema=parse_schema(opts.schema_) or None,
        starting=_starting(opts.starting),
        consumer_group=opts.consumer_group.strip() or DEFAULT_CONSUMER_GROUP,
        owner_level=opts.owner_level,
        # One internal name: Kafka's spelling means the same here.
        on_data_loss="skip_and_report" if opts.on_data_loss == "skip_with_report" else opts.on_data_loss,
        read_timeout=opts.read_timeout_seconds,
        prefetch=opts.prefetch,
    )


def write_options(node: str, options: BaseModel | Mapping[str, Any] | None) -> WriteOptions:
    """The sink's view of ``write.options`` of an eventhub node.

    Raises:
        ConfigError: options from code that do not validate (loaded configs already did).
    """
    opts = coerce_options(EventHubWriteOptions, options, f"node {node}: eventhub write options")
    columns = tuple(opts.value_columns) if opts.value_columns is not None else None
    group = opts.consumer_group.strip() or DEFAULT_CONSUMER_GROUP
    return WriteOptions(opts.key_column, columns, opts.message_id_prefix, group, opts.read_timeout_seconds)


def _starting(value: str | dict[str, int] | datetime | date) -> Starting:
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc)
    if isinstance(value, date):
        return datetime.combine(value, time(), tzinfo=timezone.utc)
    return value
