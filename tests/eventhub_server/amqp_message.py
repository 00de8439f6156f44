"""Message-level codec: split an encoded AMQP message into sections without decoding it.

The server stores each event as the exact bytes it will deliver: the producer's header,
properties, application properties and body sections untouched, plus a message-annotations
section carrying the service-assigned ``x-opt-sequence-number``, ``x-opt-offset`` and
``x-opt-enqueued-time`` next to the producer's own annotations (``x-opt-partition-key``, ...).
Walking sections by their constructors (AMQP 1.0 part 1.6: the high nibble of a constructor
gives the width of its size or value) keeps ingest cheap and never changes a type the
producer chose (the SDK decoder folds strings and binaries into ``bytes``).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from azure.eventhub._pyamqp._encode import encode_payload
from azure.eventhub._pyamqp.message import Message

HEADER, DELIVERY_ANNOTATIONS, MESSAGE_ANNOTATIONS, PROPERTIES = 0x70, 0x71, 0x72, 0x73
APPLICATION_PROPERTIES, DATA, SEQUENCE, VALUE, FOOTER = 0x74, 0x75, 0x76, 0x77, 0x78
BATCH_FORMAT = 0x80013700
"""The ``message-format`` of an Event Hubs batch: each data section holds one encoded event."""

SEQUENCE_NUMBER = b"x-opt-sequence-number"
OFFSET = b"x-opt-offset"
ENQUEUED_TIME = b"x-opt-enqueued-time"
PARTITION_KEY = b"x-opt-partition-key"
_SERVICE_ASSIGNED = frozenset(k.decode() for k in (SEQUENCE_NUMBER, OFFSET, ENQUEUED_TIME))

_PARTITION_KEY_TEXT = PARTITION_KEY.decode()
_I64 = struct.Struct(">q")
_U32 = struct.Struct(">I")


class MessageFormatError(ValueError):
    """The bytes are not an AMQP message this codec understands."""


def value_end(buf: bytes, pos: int) -> int:
    """Index just past the AMQP value whose constructor is at ``pos``."""
    code = buf[pos]
    pos += 1
    if code == 0x00:  # described: a descriptor value, then the value
        return value_end(buf, value_end(buf, pos))
    width = code >> 4
    if width == 0x4:
        return pos
    if width <= 0x9:
        fixed = {0x5: 1, 0x6: 2, 0x7: 4, 0x8: 8, 0x9: 16}.get(width)
        if fixed is None:
            raise MessageFormatError(f"unknown constructor 0x{code:02x}")
        return pos + fixed
    if width in (0xA, 0xC, 0xE):
        return pos + 1 + buf[pos]
    return pos + 4 + _U32.unpack_from(buf, pos)[0]


def sections(raw: bytes) -> list[tuple[int, int, int]]:
    """``(section code, start, end)`` of each section; ``start`` is the descriptor's first byte."""
    out: list[tuple[int, int, int]] = []
    pos = 0
    while pos < len(raw):
        if raw[pos] != 0x00:
            raise MessageFormatError(f"section at {pos} is not a described value")
        if raw[pos + 1] == 0x53:
            code = raw[pos + 2]
        elif raw[pos + 1] == 0x80:
            code = int.from_bytes(raw[pos + 2 : pos + 10], "big")
        else:
            raise MessageFormatError(f"section at {pos} has a non-numeric descriptor")
        end = value_end(raw, pos)
        if end > len(raw):
            raise MessageFormatError("truncated section")
        out.append((code, pos, end))
        pos = end
    return out


def _value_start(raw: bytes, section_start: int) -> int:
    return value_end(raw, section_start + 1)


def _compound_items(raw: bytes, start: int) -> tuple[int, int]:
    """(index of the first item, item count) of the list or map whose constructor is at ``start``."""
    code = raw[start]
    if code in (0xC0, 0xC1):
        return start + 3, raw[start + 2]
    if code in (0xD0, 0xD1):
        return start + 9, _U32.unpack_from(raw, start + 5)[0]
    if code == 0x45:  # list0
        return start + 1, 0
    raise MessageFormatError(f"expected a list or map, got constructor 0x{code:02x}")


def decode_text(raw: bytes, pos: int) -> str | None:
    """The string or symbol at ``pos`` (None for null or another type)."""
    code = raw[pos]
    if code in (0xA1, 0xA3):
        return raw[pos + 2 : pos + 2 + raw[pos + 1]].decode("utf-8")
    if code in (0xB1, 0xB3):
        n = _U32.unpack_from(raw, pos + 1)[0]
        return raw[pos + 5 : pos + 5 + n].decode("utf-8")
    return None


def binary_value(raw: bytes, pos: int) -> bytes:
    """The content of the binary value at ``pos``."""
    code = raw[pos]
    if code == 0xA0:
        return raw[pos + 2 : pos + 2 + raw[pos + 1]]
    if code == 0xB0:
        n = _U32.unpack_from(raw, pos + 1)[0]
        return raw[pos + 5 : pos + 5 + n]
    raise MessageFormatError(f"expected binary, got constructor 0x{code:02x}")


def annotation_pairs(raw: bytes, section_start: int) -> list[tuple[str, bytes]]:
    """``(key, raw key+value bytes)`` of each entry of an annotations section."""
    pos, count = _compound_items(raw, _value_start(raw, section_start))
    pairs: list[tuple[str, bytes]] = []
    for _ in range(count // 2):
        key_end = value_end(raw, pos)
        end = value_end(raw, key_end)
        pairs.append((decode_text(raw, pos) or "", raw[pos:end]))
        pos = end
    return pairs


@dataclass(frozen=True)
class InboundEvent:
    """An event as a producer sent it, split for storage.

    ``annotations`` are the producer's message annotations (raw key+value bytes) minus the
    service-assigned ones; ``rest`` is every section after them, byte for byte.
    """

    header: bytes
    annotations: tuple[bytes, ...]
    partition_key: str | None
    rest: bytes


def parse_event(raw: bytes) -> InboundEvent:
    """Split one encoded event (a plain message or one data section of a batch)."""
    header = b""
    annotations: list[bytes] = []
    partition_key: str | None = None
    rest = bytearray()
    for code, start, end in sections(raw):
        if code == HEADER:
            header = raw[start:end]
        elif code == MESSAGE_ANNOTATIONS:
            for key, pair in annotation_pairs(raw, start):
                if key in _SERVICE_ASSIGNED:
                    continue
                if key == _PARTITION_KEY_TEXT:
                    partition_key = decode_text(pair, value_end(pair, 0))
                annotations.append(pair)
        elif code != DELIVERY_ANNOTATIONS:  # delivery annotations are hop-by-hop
            rest += raw[start:end]
    return InboundEvent(header, tuple(annotations), partition_key, bytes(rest))


def unpack_batch(raw: bytes) -> tuple[list[bytes], str | None]:
    """The encoded events inside a batch message, and the batch's partition key."""
    events: list[bytes] = []
    partition_key: str | None = None
    for code, start, _end in sections(raw):
        if code == DATA:
            events.append(binary_value(raw, _value_start(raw, start)))
        elif code == MESSAGE_ANNOTATIONS:
            for key, pair in annotation_pairs(raw, start):
                if key == _PARTITION_KEY_TEXT:
                    partition_key = decode_text(pair, value_end(pair, 0))
    return events, partition_key


def _symbol(name: bytes) -> bytes:
    return b"\xa3" + bytes([len(name)]) + name


def _string(text: str) -> bytes:
    data = text.encode("utf-8")
    if len(data) < 256:
        return b"\xa1" + bytes([len(data)]) + data
    return b"\xb1" + _U32.pack(len(data)) + data


def _map_section(code: int, pairs: list[bytes]) -> bytes:
    body = b"".join(pairs)
    count = 2 * len(pairs)
    if len(body) + 1 < 256 and count < 256:
        encoded = b"\xc1" + bytes([len(body) + 1, count]) + body
    else:
        encoded = b"\xd1" + _U32.pack(len(body) + 4) + _U32.pack(count) + body
    return b"\x00\x53" + bytes([code]) + encoded


_SEQ_KEY, _OFFSET_KEY, _TIME_KEY = _symbol(SEQUENCE_NUMBER), _symbol(OFFSET), _symbol(ENQUEUED_TIME)


def stored_payload(event: InboundEvent, sequence_number: int, offset: int, enqueued_ms: int) -> bytes:
    """The bytes delivered to receivers: the event plus its service-assigned annotations."""
    pairs = [
        *event.annotations,
        _SEQ_KEY + b"\x81" + _I64.pack(sequence_number),
        _OFFSET_KEY + _string(str(offset)),
        _TIME_KEY + b"\x83" + _I64.pack(enqueued_ms),
    ]
    return event.header + _map_section(MESSAGE_ANNOTATIONS, pairs) + event.rest


_LAST_SEQ = _symbol(b"last_enqueued_sequence_number")
_LAST_OFFSET = _symbol(b"last_enqueued_offset")
_LAST_TIME = _symbol(b"last_enqueued_time_utc")
_RETRIEVAL_TIME = _symbol(b"runtime_info_retrieval_time_utc")


def runtime_metrics_section(last_seq: int, last_offset: str, last_time_ms: int, now_ms: int) -> bytes:
    """Delivery annotations for receivers that asked for last-enqueued-event properties."""
    return _map_section(
        DELIVERY_ANNOTATIONS,
        [
            _LAST_SEQ + b"\x81" + _I64.pack(last_seq),
            _LAST_OFFSET + _string(last_offset),
            _LAST_TIME + b"\x83" + _I64.pack(last_time_ms),
            _RETRIEVAL_TIME + b"\x83" + _I64.pack(now_ms),
        ],
    )


def _binary(data: bytes) -> bytes:
    if len(data) < 256:
        return b"\xa0" + bytes([len(data)]) + data
    return b"\xb0" + _U32.pack(len(data)) + data


def seed_event(
    body: bytes | str, *, partition_key: str | None = None, properties: Mapping[str, Any] | None = None
) -> InboundEvent:
    """An event as if a producer had sent ``body`` (one data section), for seeding test data."""
    data = body.encode("utf-8") if isinstance(body, str) else body
    rest = b""
    if properties:
        out = bytearray()
        encode_payload(out, Message(application_properties=cast(dict[str | bytes, Any], dict(properties))))
        rest = bytes(out)
    rest += b"\x00\x53\x75" + _binary(data)
    annotations = (_symbol(PARTITION_KEY) + _string(partition_key),) if partition_key is not None else ()
    return InboundEvent(b"", annotations, partition_key, rest)


@dataclass(frozen=True)
class StoredEvent:
    """A stored event decoded for test assertions (what a receiver would get)."""

    sequence_number: int
    offset: str
    enqueued_time_ms: int
    partition_key: str | None
    body: bytes
    properties: dict[str, Any]
    message_id: str | None


def decode_stored(payload: bytes) -> StoredEvent:
    """Decode a stored event with the SDK's decoder (the body's data sections joined)."""
    from azure.eventhub._pyamqp._decode import decode_payload

    message = decode_payload(memoryview(payload))
    annotations = message.message_annotations or {}
    key = annotations.get(PARTITION_KEY)
    message_id = message.properties.message_id if message.properties else None
    return StoredEvent(
        sequence_number=int(annotations[SEQUENCE_NUMBER]),
        offset=bytes(annotations[OFFSET]).decode(),
        enqueued_time_ms=int(annotations[ENQUEUED_TIME]),
        partition_key=_as_text(key),
        body=b"".join(cast(list[bytes], message.data or [])),
        properties={
            (k.decode() if isinstance(k, bytes) else str(k)): v
            for k, v in (message.application_properties or {}).items()
        },
        message_id=_as_text(message_id),
    )


def _as_text(value: Any) -> str | None:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return None if value is None else str(value)
