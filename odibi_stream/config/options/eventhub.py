"""Options of Azure Event Hubs (``format: eventhub``): ``read.options`` and ``write.options``.

The hub is the node's ``topic``; the namespace and credentials come from the ``type: eventhub``
connection. Positions are per-partition sequence numbers (offsets are opaque to us).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, NonNegativeInt

from odibi_stream.config.options.common import (
    DATA_LOSS_DESCRIPTION,
    SCHEMA_DESCRIPTION,
    VALUE_FORMAT_DESCRIPTION,
    ColumnSchema,
    DataLossPolicy,
    Options,
    ValueFormat,
    one_error,
)

DEFAULT_CONSUMER_GROUP = "$Default"

StartingPosition = Annotated[
    Literal["earliest", "latest"] | dict[str, NonNegativeInt] | AwareDatetime,
    one_error(
        "use earliest, latest, a mapping of partition id to sequence number >= 0, "
        "or an ISO-8601 time with offset (2024-05-01T00:00:00Z)"
    ),
]


class EventHubReadOptions(Options):
    """``read.options`` of ``format: eventhub``."""

    value_format: ValueFormat = Field(default="json", description=VALUE_FORMAT_DESCRIPTION)
    schema_: ColumnSchema | None = Field(default=None, alias="schema", description=SCHEMA_DESCRIPTION)
    starting: StartingPosition = Field(
        default="earliest",
        description="Where a partition known when the pipeline first starts begins: earliest, "
        "latest, {partition id: sequence number} (the first event read is the one after it), or "
        "an ISO-8601 time with offset (events enqueued at or after it). New partitions start at "
        "their earliest event.",
    )
    consumer_group: str = Field(default=DEFAULT_CONSUMER_GROUP, description="Consumer group to read through.")
    on_data_loss: DataLossPolicy = Field(default="fail", description=DATA_LOSS_DESCRIPTION)
    owner_level: NonNegativeInt | None = Field(
        default=0,
        description="Exclusive-reader epoch: a receiver with a higher owner level pre-empts "
        "others on the partition, so a second reader of the same pipeline cannot interleave. "
        "null: non-exclusive.",
    )
    read_timeout_seconds: float = Field(
        default=60.0,
        gt=0,
        description="How long a read may make no progress before it fails as a (retryable) outage.",
    )


class EventHubWriteOptions(Options):
    """``write.options`` of ``format: eventhub``."""

    key_column: str | None = Field(
        default=None,
        description="Column whose value is the partition key (equal keys land in one "
        "partition, in order); none: round-robin.",
    )
    value_columns: list[str] | None = Field(
        default=None,
        description="Columns serialised as the JSON body (default: every column but key_column).",
    )
