"""The links that carry events.

* :class:`ReceiverLink`: the client receives a partition of a consumer group
  (``<hub>/ConsumerGroups/<cg>/Partitions/<id>``), from a selector-filter start position,
  optionally with an owner level (``com.microsoft:epoch``) and last-enqueued metrics.
  Deliveries are pre-settled (receivers never settle on Event Hubs). Only
  :meth:`ReceiverLink.preempt` is called from other threads, and it only schedules work on
  the owning connection.
* :class:`ProducerLink`: the client sends events (or batches) to ``<hub>`` or
  ``<hub>/Partitions/<id>``; each delivery is stored, then accepted, or rejected.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from azure.eventhub._pyamqp.endpoints import Source
from azure.eventhub._pyamqp.outcomes import Accepted, Rejected

from tests.eventhub_server.amqp_message import (
    BATCH_FORMAT,
    MessageFormatError,
    parse_event,
    runtime_metrics_section,
    unpack_batch,
)
from tests.eventhub_server.amqp_session import amqp_error
from tests.eventhub_server.auth import LISTEN, SEND
from tests.eventhub_server.errors import (
    DECODE_ERROR,
    MESSAGE_SIZE_EXCEEDED,
    NOT_FOUND,
    ServiceError,
)
from tests.eventhub_server.link_base import (
    EPOCH,
    MAX_DELIVERIES_PER_TURN,
    PRODUCER_CREDIT,
    RUNTIME_METRIC,
    SELECTOR_FILTER,
    Assembler,
    Link,
    address_segments,
    require,
    source_terminus,
    symbols,
    text,
)
from tests.eventhub_server.store import now_ms, parse_selector

if TYPE_CHECKING:
    from tests.eventhub_server.amqp_frames import Frame
    from tests.eventhub_server.amqp_session import Session


class ReceiverLink(Link):
    """Events flow from a partition to the client, as its link credit allows."""

    def __init__(self, session: Session, handle: int, fields: list[Any]) -> None:
        super().__init__(session, handle, fields)
        ctx = session.conn.ctx
        segs = address_segments(self.source_address)
        if len(segs) != 5 or segs[1].lower() != "consumergroups" or segs[3].lower() != "partitions":
            raise ServiceError(NOT_FOUND, f"The messaging entity '{self.source_address}' could not be found.")
        hub = ctx.namespace.hub(segs[0], ctx.host)
        require(session, hub.name, LISTEN, self.source_address or "")
        group = segs[2]
        if group.lower() not in {g.lower() for g in hub.consumer_groups}:
            raise ServiceError(
                NOT_FOUND,
                f"The messaging entity 'sb://{ctx.host}/{hub.name}/consumergroups/{group}' could not be found.",
            )
        self.partition = hub.partition(segs[4])
        injected = ctx.faults.take("receive", hub.name, self.partition.id)
        if injected is not None:
            raise injected
        filters = (fields[5][7] if len(fields[5]) > 7 else None) or {}
        selector = filters.get(SELECTOR_FILTER)
        if isinstance(selector, (list, tuple)):
            selector = selector[-1]
        self._selector = text(selector)
        self.position = self.partition.start_of(parse_selector(self._selector))
        self._epoch: int | None = (fields[13] or {}).get(EPOCH)
        self.runtime_metrics = RUNTIME_METRIC in symbols(fields[12])
        self.stalled = False  # a "stall" fault: attached, silently delivering nothing
        self.key = (hub.name.lower(), group.lower(), self.partition.id)
        self._wake = lambda: session.conn.wake()
        ctx.ownership.claim(self.key, self)  # last: nothing below may refuse the attach
        self.partition.subscribe(self._wake)

    @property
    def epoch(self) -> int | None:
        """The owner level this receiver attached with."""
        return self._epoch

    def reply_source(self, fields: list[Any]) -> Source:
        filters = {SELECTOR_FILTER: (SELECTOR_FILTER, self._selector)} if self._selector else None
        return source_terminus(self.source_address, filters)

    def _offered(self, fields: list[Any]) -> list[bytes] | None:
        return [RUNTIME_METRIC] if self.runtime_metrics else None

    def preempt(self, error: ServiceError) -> None:
        """Detach with ``error`` on the owning connection's thread (any thread may call)."""
        self.session.conn.call_soon(lambda: self.session.detach(self, error))

    def on_flow(self, fields: list[Any]) -> None:
        their_count = fields[5] if fields[5] is not None else 0
        self.credit = their_count + (fields[6] or 0) - self.delivery_count
        if fields[8] and self.position >= self.partition.end:  # drain with nothing to send
            self.delivery_count += max(self.credit, 0)
            self.credit = 0
            self._send_link_flow(drain=True)
        elif fields[9]:  # echo
            self._send_link_flow()

    def _send_link_flow(self, drain: bool | None = None) -> None:
        self.session.send_flow(
            {
                "handle": self.handle,
                "delivery_count": self.delivery_count,
                "link_credit": self.credit,
                "available": max(0, self.partition.end - self.position),
                "drain": drain,
            }
        )

    def pump(self) -> bool:
        if self.detached or self.stalled or self.credit <= 0 or self.session.remote_incoming_window <= 0:
            return False
        count = min(self.credit, self.session.remote_incoming_window, MAX_DELIVERIES_PER_TURN)
        batch = self.partition.read(self.position, count)
        if not batch.payloads:
            return False
        faults = self.session.conn.ctx.faults
        if faults.take("stall", self.partition.hub, self.partition.id) is not None:
            self.stalled = True
            return False
        injected = faults.take("receive", self.partition.hub, self.partition.id)
        if injected is not None:
            self.session.detach(self, injected)
            return False
        payloads = batch.payloads
        if self.runtime_metrics:
            payloads = self._with_metrics(payloads, batch.header_lengths)
        self.session.deliver(self.handle, payloads, settled=True)
        self.position = batch.first + len(payloads)
        self.credit -= len(payloads)
        self.delivery_count += len(payloads)
        return self.credit > 0 and self.position < self.partition.end

    def _with_metrics(self, payloads: list[bytes], header_lengths: list[int]) -> list[bytes]:
        info = self.partition.properties()
        section = runtime_metrics_section(
            info.last_enqueued_sequence_number, info.last_enqueued_offset, info.last_enqueued_time_ms, now_ms()
        )
        return [p[:h] + section + p[h:] for p, h in zip(payloads, header_lengths, strict=True)]

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.session.conn.ctx.ownership.release(self.key, self)
            self.partition.unsubscribe(self._wake)


class ProducerLink(Link):
    """Events flow from the client into a partition (explicit, by key hash, or round robin)."""

    def __init__(self, session: Session, handle: int, fields: list[Any]) -> None:
        super().__init__(session, handle, fields)
        ctx = session.conn.ctx
        segs = address_segments(self.target_address)
        if not segs:
            raise ServiceError(NOT_FOUND, "A send link needs an event hub address.")
        self.hub = ctx.namespace.hub(segs[0], ctx.host)
        require(session, self.hub.name, SEND, self.target_address or "")
        explicit = len(segs) >= 3 and segs[1].lower() == "partitions"
        self.partition = self.hub.partition(segs[2]) if explicit else None
        self.delivery_count = fields[9] or 0
        self._assembler = Assembler()

    def after_attach(self) -> None:
        self._grant()

    def _grant(self) -> None:
        self.credit = PRODUCER_CREDIT
        self.session.send_flow(
            {"handle": self.handle, "delivery_count": self.delivery_count, "link_credit": self.credit}
        )

    def on_transfer(self, frame: Frame) -> None:
        done = self._assembler.add(frame)
        if done is None:
            return
        first, payload = done
        self.delivery_count += 1
        self.credit -= 1
        error = self._ingest(payload, first[3] or 0)
        if not first[4]:
            state = Accepted() if error is None else Rejected(error=amqp_error(error))
            self.session.settle(first[1], state)
        if self.credit < PRODUCER_CREDIT // 2:
            self._grant()

    def _ingest(self, payload: bytes, message_format: int) -> ServiceError | None:
        ctx = self.session.conn.ctx
        if len(payload) > ctx.max_message_size:
            return ServiceError(
                MESSAGE_SIZE_EXCEEDED,
                f"The received message (delivery-id:{self.delivery_count}, size:{len(payload)} bytes) "
                f"exceeds the limit ({ctx.max_message_size} bytes) currently allowed on the link.",
            )
        try:
            raws, batch_key = unpack_batch(payload) if message_format == BATCH_FORMAT else ([payload], None)
            events = [parse_event(raw) for raw in raws]
        except (MessageFormatError, IndexError, UnicodeDecodeError) as exc:
            return ServiceError(DECODE_ERROR, f"The message could not be decoded: {exc}")
        if not events:
            return None
        key = batch_key if batch_key is not None else events[0].partition_key
        partition = self.partition or self.hub.route(key)
        injected = ctx.faults.take("send", self.hub.name, partition.id)
        if injected is not None:
            return injected
        partition.append(events)
        return None
