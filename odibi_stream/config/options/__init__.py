"""Typed options: one pydantic model per format, connector client and trigger kind.

``read.options`` and ``write.options`` are validated against the model of the node's format
(:mod:`.registry`); Kafka connections' client settings, the polled/continuous/manual triggers
and the project's ``spark:`` block have their own models. Unknown keys are errors with
``file:line`` and a did-you-mean hint, every option is in ``odibi-stream schema`` and in
``docs/options.md`` (generated from these models by ``scripts/gen_options_doc.py``), and each
default is defined once, on its model field: readers of options never supply their own.
"""

from __future__ import annotations

from odibi_stream.config.options.common import DataLossPolicy, Options, ValueFormat
from odibi_stream.config.options.delta import DeltaReadOptions, DeltaWriteOptions
from odibi_stream.config.options.eventhub import EventHubReadOptions, EventHubWriteOptions
from odibi_stream.config.options.files import (
    CsvReadOptions,
    CsvWriteOptions,
    FileReadOptions,
    FileWriteOptions,
    JsonlWriteOptions,
    JsonReadOptions,
    ParquetReadOptions,
    ParquetWriteOptions,
)
from odibi_stream.config.options.kafka import (
    KafkaConnectionOptions,
    KafkaReadOptions,
    KafkaWriteOptions,
)
from odibi_stream.config.options.registry import (
    READ_OPTIONS,
    WRITE_OPTIONS,
    OptionsError,
    ReadOptions,
    WriteOptions,
    coerce_options,
    file_read_options,
    file_write_options,
    options_error,
    options_model,
    validate_options,
)
from odibi_stream.config.options.spark import SparkConfig
from odibi_stream.config.options.triggers import ContinuousTrigger, ManualTrigger, PollTrigger

__all__ = [
    "READ_OPTIONS",
    "WRITE_OPTIONS",
    "ContinuousTrigger",
    "CsvReadOptions",
    "CsvWriteOptions",
    "DataLossPolicy",
    "DeltaReadOptions",
    "DeltaWriteOptions",
    "EventHubReadOptions",
    "EventHubWriteOptions",
    "FileReadOptions",
    "FileWriteOptions",
    "JsonReadOptions",
    "JsonlWriteOptions",
    "KafkaConnectionOptions",
    "KafkaReadOptions",
    "KafkaWriteOptions",
    "ManualTrigger",
    "Options",
    "OptionsError",
    "ParquetReadOptions",
    "ParquetWriteOptions",
    "PollTrigger",
    "ReadOptions",
    "SparkConfig",
    "ValueFormat",
    "WriteOptions",
    "coerce_options",
    "file_read_options",
    "file_write_options",
    "options_error",
    "options_model",
    "validate_options",
]
