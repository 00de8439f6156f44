"""Turn received Event Hubs events into one Arrow table (plus rejects for undecodable bodies).

Columns, in order: the decoded body (``value_format: json`` → one column per top-level field,
optionally cast to ``schema``; ``string`` → ``value`` text; ``bytes`` → ``value`` binary), then
``partition`` (string), ``sequence_number`` (int64), ``offset`` (string: offsets are opaque),
``enqueued_time`` (timestamp, milliseconds, UTC), ``partition_key`` (string), ``properties``
(the application properties as a JSON object text, null without any) and
``system_properties`` (AMQP message properties and service annotations other than the four
above, as JSON text, null without any). A JSON body field named like a metadata column wins;
that metadata column is then left out (as in the Kafka source).

Bodies are decoded by the Kafka source's value decoder (one vectorised Arrow JSON parse, per
event checks only when it fails); an undecodable body becomes a reject whose ``source`` is
``<hub>/<partition>/<sequence number>``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
import pyarrow as pa

from odibi_stream.connectors.eventhub_client import SEQUENCE, Received, as_message
from odibi_stream.connectors.eventhub_columns import META_TYPES
from odibi_stream.connectors.kafka_decode import Decoded, decode_values
from odibi_stream.engines.base import Reject

OFFSET = b"x-opt-offset"
ENQUEUED = b"x-opt-enqueued-time"
PARTITION_KEY = b"x-opt-partition-key"
_OWN_COLUMNS = frozenset({SEQUENCE, OFFSET, ENQUEUED, PARTITION_KEY})
_MESSAGE_PROPERTIES = (
    "message_id",
    "user_id",
    "to",
    "subject",
    "reply_to",
    "correlation_id",
    "content_type",
    "content_encoding",
    "absolute_expiry_time",
    "creation_time",
    "group_id",
    "group_sequence",
    "reply_to_group_id",
)


@dataclass
class EventRows(Decoded):
    """Events split into bodies and metadata columns, before body decoding."""

    hub: str = ""
    columns: dict[str, list[Any]] = field(default_factory=lambda: {name: [] for name in META_TYPES})

    def add(self, msg: Any) -> None:
        """Not for Kafka messages: use :meth:`add_events`."""
        raise TypeError("EventRows holds Event Hubs events; use add_events")

    def add_events(self, partition: str, events: Iterable[Received]) -> None:
        """Append received events of one partition, in order."""
        cols = self.columns
        for received in events:
            msg = as_message(received)
            notes = msg.message_annotations or {}
            self.values.append(body_bytes(msg))
            cols["partition"].append(partition)
            cols["sequence_number"].append(notes.get(SEQUENCE))
            cols["offset"].append(_text(notes.get(OFFSET)))
            cols["enqueued_time"].append(_millis(notes.get(ENQUEUED)))
            cols["partition_key"].append(_text(notes.get(PARTITION_KEY)))
            props = msg.application_properties
            cols["properties"].append(_json_text(props) if props else None)
            cols["system_properties"].append(_system_properties(msg.properties, notes))

    def source(self, i: int) -> str:
        """``hub/partition/sequence number`` of row ``i`` (the dead-letter ``source``)."""
        return f"{self.hub}/{self.columns['partition'][i]}/{self.columns['sequence_number'][i]}"

    def __len__(self) -> int:
        return len(self.values)


def body_bytes(msg: Any) -> bytes | None:
    """The body as bytes: data sections joined; a value or sequence body as JSON (text as is)."""
    data = msg.data
    if data is not None:
        return data[0] if len(data) == 1 else b"".join(data)
    body = msg.value if msg.sequence is None else msg.sequence
    if body is None or isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    return orjson.dumps(body, default=_plain)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _millis(value: Any) -> int | None:
    if value is None or isinstance(value, int):
        return value
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    return int(value)


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _json_text(mapping: Mapping[Any, Any]) -> str:
    return orjson.dumps({_text(k): v for k, v in mapping.items()}, default=_plain).decode()


def _system_properties(props: Any, notes: Mapping[Any, Any]) -> str | None:
    found: dict[Any, Any] = {}
    if props is not None:
        for name in _MESSAGE_PROPERTIES:
            value = getattr(props, name, None)
            if value is not None:
                found[name.replace("_", "-")] = value
    for key, value in notes.items():
        if key not in _OWN_COLUMNS:
            found[key] = value
    return _json_text(found) if found else None


def to_table(
    rows: EventRows, value_format: str, schema: Mapping[str, pa.DataType]
) -> tuple[pa.Table, list[Reject]]:
    """The read's table: decoded bodies plus metadata, and one reject per undecodable body."""
    keep, values, rejects = decode_values(rows, value_format, schema)
    whole = len(keep) == len(rows)
    columns: dict[str, pa.Array | pa.ChunkedArray] = {
        n: values.column(n) for n in values.column_names
    }
    for name, typ in META_TYPES.items():
        if name in columns:
            continue
        column = rows.columns[name]
        columns[name] = pa.array(column if whole else [column[i] for i in keep], typ)
    return pa.table(columns), rejects
