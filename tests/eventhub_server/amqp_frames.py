"""AMQP 1.0 framing for the test server: an incremental frame reader and frame encoders.

Performatives are encoded and decoded with the SDK's own codec (``azure.eventhub._pyamqp``), so
every frame carries the full-length field list the SDK indexes into. The one hot path, the
``transfer`` that carries an event to a receiver, is encoded by hand (a fixed 11-field list) and
checked against the SDK codec by the tests.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any, NamedTuple

from azure.eventhub._pyamqp._decode import decode_frame
from azure.eventhub._pyamqp._encode import encode_frame

AMQP_HEADER = b"AMQP\x00\x01\x00\x00"
SASL_HEADER = b"AMQP\x03\x01\x00\x00"

# Performative descriptor codes (AMQP 1.0 part 2.7 and 5.3).
OPEN, BEGIN, ATTACH, FLOW, TRANSFER, DISPOSITION, DETACH, END, CLOSE = range(0x10, 0x19)
SASL_MECHANISMS, SASL_INIT, SASL_CHALLENGE, SASL_RESPONSE, SASL_OUTCOME = range(0x40, 0x45)

FRAME_AMQP = 0
FRAME_SASL = 1
HEARTBEAT = b"\x00\x00\x00\x08\x02\x00\x00\x00"

_U32 = struct.Struct(">I")
_FRAME_HEAD = struct.Struct(">IBBH")  # size, data offset (in 4-byte words), type, channel


class FramingError(Exception):
    """The peer sent bytes that are not a valid AMQP frame stream."""


@dataclass(frozen=True)
class ProtocolHeader:
    """The 8-byte protocol header that opens the SASL layer or the AMQP connection."""

    raw: bytes

    @property
    def is_sasl(self) -> bool:
        """True for the SASL layer header (protocol id 3)."""
        return self.raw == SASL_HEADER


@dataclass(frozen=True)
class Frame:
    """One decoded frame.

    ``code`` is None for an empty (heartbeat) frame. For a transfer, ``payload`` holds the
    message bytes of this frame (possibly one piece of a multi-frame delivery).
    """

    channel: int
    frame_type: int
    code: int | None
    fields: list[Any]
    payload: bytes = b""


class FrameReader:
    """Turns a byte stream into protocol headers and frames.

    The reader expects a protocol header first, and again after a SASL outcome (the caller
    says so with :meth:`expect_header`). Frame bodies are copied out of the buffer before they
    are decoded, so decoded values never alias memory the reader reuses.
    """

    def __init__(self, max_frame_size: int) -> None:
        self._buf = bytearray()
        self._pos = 0
        self._want_header = True
        self._max_frame_size = max_frame_size

    def expect_header(self) -> None:
        """The next thing on the wire is a protocol header (after SASL completes)."""
        self._want_header = True

    def feed(self, data: bytes) -> None:
        """Append bytes read from the socket."""
        if self._pos and self._pos == len(self._buf):
            self._buf.clear()
            self._pos = 0
        elif self._pos > 1 << 20:
            del self._buf[: self._pos]
            self._pos = 0
        self._buf += data

    def next(self) -> ProtocolHeader | Frame | None:
        """The next complete header or frame, or None when more bytes are needed."""
        available = len(self._buf) - self._pos
        if self._want_header:
            if available < 8:
                return None
            raw = bytes(self._buf[self._pos : self._pos + 8])
            self._pos += 8
            if raw not in (AMQP_HEADER, SASL_HEADER):
                raise FramingError(f"unsupported protocol header {raw!r}")
            self._want_header = False
            return ProtocolHeader(raw)
        if available < 8:
            return None
        size, doff, ftype, channel = _FRAME_HEAD.unpack_from(self._buf, self._pos)
        if size < 8 or doff < 2 or size > self._max_frame_size:
            raise FramingError(f"bad frame header: size {size}, data offset {doff}")
        if available < size:
            return None
        body = bytes(self._buf[self._pos + doff * 4 : self._pos + size])
        self._pos += size
        if not body:
            return Frame(channel, ftype, None, [])
        code, fields = decode_frame(memoryview(body))
        payload = b""
        if code == TRANSFER:
            payload = bytes(fields.pop())
        return Frame(channel, ftype, code, fields, payload)


def encode(channel: int, performative: NamedTuple, frame_type: int = FRAME_AMQP) -> bytes:
    """One complete frame carrying ``performative`` (an SDK performative namedtuple)."""
    header, body = encode_frame(performative, frame_type=bytes([frame_type]))
    return header + channel.to_bytes(2, "big") + bytes(body or b"")


def _uint(value: int) -> bytes:
    if value == 0:
        return b"\x43"
    if value < 256:
        return b"\x52" + bytes([value])
    return b"\x70" + _U32.pack(value)


_TRUE, _FALSE, _NULL = b"\x41", b"\x42", b"\x40"
TRANSFER_OVERHEAD = 8 + 6 + 24
"""Upper bound of a single transfer frame's size beyond its payload (see :func:`small_transfer`)."""
# rcv-settle-mode, state, resume, aborted, batchable: all null on the way out.
_TRANSFER_TAIL = _NULL * 5


def transfer_frames(
    channel: int,
    handle: int,
    delivery_id: int,
    payload: bytes,
    *,
    settled: bool,
    max_frame_size: int,
    message_format: int = 0,
) -> list[bytes]:
    """The transfer frame(s) of one delivery, split so that no frame exceeds ``max_frame_size``.

    The first frame carries the delivery id and tag; continuation frames leave them null and
    every frame but the last sets ``more``.
    """
    if message_format == 0 and len(payload) + TRANSFER_OVERHEAD <= max_frame_size:
        return [small_transfer(channel, handle, delivery_id, payload, settled)]
    handle_b = _uint(handle)
    fmt = _uint(message_format)
    settled_b = _TRUE if settled else _FALSE
    first_fields = handle_b + b"\x70" + _U32.pack(delivery_id) + b"\xa0\x04" + _U32.pack(delivery_id)
    next_fields = handle_b + _NULL + _NULL
    # 8 frame header + 3 descriptor + 3 list8 header + fields + 2 more/settled
    overhead = 8 + 3 + 3 + len(first_fields) + len(fmt) + 2 + len(_TRANSFER_TAIL)
    room = max_frame_size - overhead
    if room <= 0:
        raise ValueError(f"max frame size {max_frame_size} is too small for a transfer")
    frames: list[bytes] = []
    start = 0
    while True:
        chunk = payload[start : start + room]
        start += len(chunk)
        more = start < len(payload)
        fields = (first_fields if not frames else next_fields) + fmt + settled_b
        fields += (_TRUE if more else _FALSE) + _TRANSFER_TAIL
        perf = b"\x00\x53\x14\xc0" + bytes([len(fields) + 1, 11]) + fields
        size = 8 + len(perf) + len(chunk)
        frames.append(_FRAME_HEAD.pack(size, 2, FRAME_AMQP, channel) + perf + chunk)
        if not more:
            return frames


def small_transfer(channel: int, handle: int, delivery_id: int, payload: bytes, settled: bool) -> bytes:
    """The single transfer frame of a delivery known to fit one frame (the hot path)."""
    fields = (
        _uint(handle)
        + b"\x70"
        + _U32.pack(delivery_id)
        + b"\xa0\x04"
        + _U32.pack(delivery_id)
        + b"\x43"
        + (_TRUE if settled else _FALSE)
        + _FALSE
        + _TRANSFER_TAIL
    )
    size = 8 + 6 + len(fields) + len(payload)
    return (
        _FRAME_HEAD.pack(size, 2, FRAME_AMQP, channel)
        + b"\x00\x53\x14\xc0"
        + bytes([len(fields) + 1, 11])
        + fields
        + payload
    )


