"""Options of Azure Event Hubs (``format: eventhub``): ``read.options`` and ``write.options``.

The hub is the node's ``topic``; the namespace and credentials come from the ``type: eventhub``
connection. Positions are per-partition sequence numbers (offsets are opaque to us). The keys
and meanings follow the Event Hubs connector (``connectors/eventhub_options.py`` parses the
same keys into what the connector uses).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BeforeValidator,
    Field,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    Strict,
    StringConstraints,
)

from odibi_stream.config.options.common import (
    SCHEMA_DESCRIPTION,
    VALUE_FORMAT_DESCRIPTION,
    ColumnSchema,
    Options,
    ValueFormat,
    one_error,
)

DEFAULT_CONSUMER_GROUP = "$Default"

PartitionId = Annotated[str, StringConstraints(pattern=r"^\d+$")]
StartingPosition = Annotated[
    # A date only as YAML's own date value (2024-05-01 unquoted): text must name its offset.
    Literal["earliest", "latest"] | dict[PartitionId, NonNegativeInt] | AwareDatetime | Annotated[date, Strict()],
    one_error(
        "use earliest, latest, a mapping of partition id to sequence number >= 0, "
        "an ISO-8601 time with offset (2024-05-01T00:00:00Z) or a date"
    ),
]


def _none_words(value: Any) -> Any:
    return None if isinstance(value, str) and value.strip().lower() in ("none", "null", "off") else value


OwnerLevel = Annotated[
    Literal["auto"] | NonNegativeInt | None,
    one_error("use auto, a non-negative integer, or none (non-exclusive)"),
    BeforeValidator(_none_words),
]
EventHubDataLoss = Literal["fail", "skip_and_report", "skip_with_report"]
"""Event Hubs' ``on_data_loss``; ``skip_with_report`` (Kafka's spelling) means the same."""
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
        "newer reader pre-empts an older one), an integer, or none for non-exclusive receivers.",
    )
    on_data_loss: EventHubDataLoss = Field(
        default="fail",
        description="What to do when events not yet read are gone (retention): fail stops the "
        "pipeline with a terminal error naming partition and sequence numbers; skip_and_report "
        "(or skip_with_report, Kafka's spelling) continues at the earliest event and reports the "
        "exact number lost (log, metrics, API).",
    )
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
