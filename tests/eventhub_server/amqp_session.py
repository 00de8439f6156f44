"""One AMQP session: its windows, delivery ids, and the links attached in it.

Lifecycle: the connection creates a :class:`Session` when the client sends ``begin`` and
routes every session-scoped frame (attach, flow, transfer, disposition, detach) to it; the
session asks ``links.create_link`` to build the right link for an attach and answers refusals
with an attach followed by a detach carrying the error. All methods run on the connection's
thread.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Protocol

from azure.eventhub._pyamqp.error import AMQPError
from azure.eventhub._pyamqp.performatives import (
    AttachFrame,
    BeginFrame,
    DetachFrame,
    DispositionFrame,
    FlowFrame,
)

from tests.eventhub_server import amqp_frames
from tests.eventhub_server.amqp_frames import Frame, small_transfer, transfer_frames
from tests.eventhub_server.context import ServerContext
from tests.eventhub_server.errors import ServiceError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from tests.eventhub_server.auth import Grant
    from tests.eventhub_server.links import Link

log = logging.getLogger(__name__)
SESSION_WINDOW = 5000
"""Transfer frames the client may send before the server re-opens its incoming window."""


class ConnectionPort(Protocol):
    """What a session needs from its connection."""

    ctx: ServerContext
    grants: list[Grant]
    remote_max_frame_size: int

    def emit(self, data: bytes) -> None:
        """Queue bytes for the socket (flushed once per loop turn)."""

    def wake(self) -> None:
        """Make the connection loop run (any thread)."""

    def call_soon(self, action: Callable[[], None]) -> None:
        """Run ``action`` on the connection thread (any thread)."""


def amqp_error(error: ServiceError) -> AMQPError:
    """The wire form of ``error``."""
    return AMQPError(condition=error.condition.encode(), description=error.description, info=None)


class Session:
    """Session state (AMQP 1.0 part 2.5.6) and the links attached in it."""

    def __init__(self, conn: ConnectionPort, channel: int, begin: list[Any]) -> None:
        self.conn = conn
        self.channel = channel
        self.next_incoming_id: int = begin[1] or 0
        self.next_outgoing_id = 0
        self.remote_incoming_window: int = begin[2] or 0
        self._received_since_flow = 0
        self._next_delivery_id = 0
        self._links: dict[int, Link] = {}  # by the client's handle
        self._refused: set[int] = set()  # client handles we refused and detached
        self._next_handle = 0

    def begin_reply(self) -> BeginFrame:
        """The ``begin`` answering the client's."""
        return BeginFrame(
            remote_channel=self.channel,
            next_outgoing_id=self.next_outgoing_id,
            incoming_window=SESSION_WINDOW,
            outgoing_window=2**31 - 1,
            handle_max=2**32 - 1,
            offered_capabilities=None,
            desired_capabilities=None,
            properties=None,
        )

    @property
    def links(self) -> list[Link]:
        """The links currently attached."""
        return list(self._links.values())

    # -- frames from the client ------------------------------------------------------------
    def on_attach(self, fields: list[Any]) -> None:
        """Build the link the client asked for, or refuse it with the service's error."""
        from tests.eventhub_server.links import create_link

        handle = self._next_handle
        self._next_handle += 1
        try:
            link = create_link(self, fields, handle)
        except ServiceError as error:
            log.debug("refusing attach of %r: %s", fields[0], error)
            self._refuse(fields, handle, error)
            return
        self._links[fields[1]] = link
        self.send(link.attach_reply(fields))
        link.after_attach()

    def _refuse(self, fields: list[Any], handle: int, error: ServiceError) -> None:
        client_receives = bool(fields[2])
        self.send(
            AttachFrame(
                name=fields[0],
                handle=handle,
                role=not client_receives,
                send_settle_mode=fields[3],
                rcv_settle_mode=fields[4],
                source=None,
                target=None,
                unsettled=None,
                incomplete_unsettled=None,
                initial_delivery_count=0 if client_receives else None,
                max_message_size=None,
                offered_capabilities=None,
                desired_capabilities=None,
                properties=None,
            )
        )
        self.send(DetachFrame(handle=handle, closed=True, error=amqp_error(error)))
        self._refused.add(fields[1])

    def on_flow(self, fields: list[Any]) -> None:
        """Update the client's incoming window, then the link's credit if a handle is given."""
        their_next_incoming = fields[0] if fields[0] is not None else 0
        self.remote_incoming_window = their_next_incoming + (fields[1] or 0) - self.next_outgoing_id
        link = self._links.get(fields[4]) if fields[4] is not None else None
        if link is not None:
            link.on_flow(fields)

    def on_transfer(self, frame: Frame) -> None:
        """Hand a transfer frame to its link; re-open the incoming window when half used."""
        self.next_incoming_id += 1
        self._received_since_flow += 1
        link = self._links.get(frame.fields[0])
        if link is not None:
            link.on_transfer(frame)
        if self._received_since_flow >= SESSION_WINDOW // 2:
            self.send_flow()

    def on_detach(self, fields: list[Any]) -> None:
        """The client detached a link: answer (unless we detached it first) and forget it."""
        if fields[0] in self._refused:
            self._refused.discard(fields[0])
            return
        link = self._links.pop(fields[0], None)
        if link is None:
            return
        if not link.detached:
            self.send(DetachFrame(handle=link.handle, closed=True, error=None))
        link.close()

    def on_end(self) -> None:
        """The session ends: every link is gone."""
        for link in self._links.values():
            link.close()
        self._links.clear()

    # -- used by links ---------------------------------------------------------------------
    def send(self, performative: Any) -> None:
        """Queue one performative frame on this session's channel."""
        self.conn.emit(amqp_frames.encode(self.channel, performative))

    def send_flow(self, link_fields: dict[str, Any] | None = None) -> None:
        """A flow with the session's window (plus a link's credit when given)."""
        self._received_since_flow = 0
        fields: dict[str, Any] = {
            "handle": None,
            "delivery_count": None,
            "link_credit": None,
            "available": None,
            "drain": None,
            "echo": None,
            "properties": None,
            **(link_fields or {}),
        }
        self.send(
            FlowFrame(
                next_incoming_id=self.next_incoming_id,
                incoming_window=SESSION_WINDOW,
                next_outgoing_id=self.next_outgoing_id,
                outgoing_window=2**31 - 1,
                **fields,
            )
        )

    def settle(self, delivery_id: int, state: Any) -> None:
        """Settle a delivery the client sent (``state``: Accepted() or Rejected(error))."""
        self.send(
            DispositionFrame(
                role=True, first=delivery_id, last=delivery_id, settled=True, state=state, batchable=None
            )
        )

    def deliver(self, handle: int, payloads: Sequence[bytes], *, settled: bool) -> None:
        """Send one delivery per payload on link ``handle``, splitting large ones across frames."""
        limit = self.conn.remote_max_frame_size
        frames: list[bytes] = []
        delivery_id = self._next_delivery_id
        fits = limit - amqp_frames.TRANSFER_OVERHEAD
        for payload in payloads:
            if len(payload) <= fits:
                frames.append(small_transfer(self.channel, handle, delivery_id, payload, settled))
            else:
                frames += transfer_frames(
                    self.channel, handle, delivery_id, payload, settled=settled, max_frame_size=limit
                )
            delivery_id += 1
        self._next_delivery_id = delivery_id
        self.next_outgoing_id += len(frames)
        self.remote_incoming_window -= len(frames)
        self.conn.emit(b"".join(frames))

    def detach(self, link: Link, error: ServiceError | None) -> None:
        """Detach ``link`` from the server side (pre-emption, injected fault, shutdown)."""
        if link.detached or link.closed:  # already gone (client detach, session end)
            return
        link.detached = True
        self.send(DetachFrame(handle=link.handle, closed=True, error=amqp_error(error) if error else None))
        link.close()

    def response_link(self, node: str) -> Link | None:
        """The client's receiving link on ``node`` ($cbs or $management) in this session."""
        for link in self._links.values():
            if link.node == node and link.client_receives:
                return link
        return None
