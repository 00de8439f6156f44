"""Options of Azure Event Hubs (``format: eventhub``): ``read.options`` and ``write.options``.

The hub is the node's ``topic``; the namespace and credentials come from the ``type: eventhub``
connection. Positions are per-partition sequence numbers (offsets are opaque to us). The keys
and meanings follow the Event Hubs connector (``connectors/eventhub_options.py`` parses the
same keys; it can take these models instead of the mapping).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    Field,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    StringConstraints,
)

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

PartitionId = Annotated[str, StringConstraints(pattern=r"^\d+$")]
StartingPosition = Annotated[
    Literal["earliest", "latest"] | dict[PartitionId, NonNegativeInt] | AwareDatetime | date,
    one_error(
        "use earliest, latest, a mapping of partition id to sequence number >= 0, "
        "or an ISO-8601 time with offset (2024-05-01T00:00:00Z) or date"
    ),
]
OwnerLevel = Annotated[
    Literal["auto"] | NonNegativeInt | None,
    one_error("use auto, a non-negative integer, or null (non-exclusive)"),
]
CONSUMER_GROUP_DESCRIPTION = "Consumer group to read through."
READ_TIMEOUT_DESCRIPTION = (
    "How long a read may make no progress before it fails as a (retryable) outage."
)


class EventHubReadOptions(Options):
    """``read.options`` of ``format: eventhub``."""

    value_format: ValueFormat = Field(default="json", description=VALUE_FORMAT_DESCRIPTION)
    schema_: ColumnSchema | None = Field(default=None, alias="schema", description=SCHEMA_DESCRIPTION)
    starting: StartingPosition = Field(
        default="earliest",
        description="Where a partition known when the pipeline first starts begins: earliest, "
        "latest, {partition id: sequence number} (the first event to read; unlisted partitions "
        "start at their earliest), or an ISO-8601 time with offset, or a date (midnight UTC): "
        "the first event enqueued at or after it.",
    )
    consumer_group: str = Field(default=DEFAULT_CONSUMER_GROUP, description=CONSUMER_GROUP_DESCRIPTION)
    owner_level: OwnerLevel = Field(
        default="auto",
        description="Receivers' owner level (epoch): auto (the source's open time in ms, so a "
        "newer reader pre-empts an older one), an integer, or null for non-exclusive receivers.",
    )
    on_data_loss: DataLossPolicy = Field(default="fail", description=DATA_LOSS_DESCRIPTION)
    read_timeout_seconds: PositiveFloat = Field(default=60.0, description=READ_TIMEOUT_DESCRIPTION)
    prefetch: PositiveInt = Field(default=2000, description="Link credit (events prefetched) per partition.")


class EventHubWriteOptions(Options):
    """``write.options`` of ``format: eventhub``."""

    key_column: str | None = Field(
        default=None,
        description="Column whose value is the partition key (equal keys land in one "
        "partition, by the service's hash); none: round-robin.",
    )
    value_columns: list[str] | None = Field(
        default=None,
        description="Columns serialised as the JSON body (default: every column but key_column).",
    )
    message_id_prefix: str = Field(
        default="",
        description="Prepended to the writer identity <pipeline>/<node> in message ids and the "
        "odibi-writer property (two projects with equal pipeline and node names writing one "
        "hub must set different prefixes).",
    )
    consumer_group: str = Field(
        default=DEFAULT_CONSUMER_GROUP,
        description="Group the sink reads its output's tail with after a restart (to skip what "
        "was written); pick another when an exclusive reader holds this one.",
    )
    read_timeout_seconds: PositiveFloat = Field(default=60.0, description=READ_TIMEOUT_DESCRIPTION)
