"""Which link an attach creates: a ``$cbs``/``$management`` node half, a receiver, a producer.

The kinds live in ``link_events`` (events in and out) and ``link_nodes`` (request/response);
``create_link`` raises ``ServiceError`` with the service's refusal when an attach is refused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.eventhub_server.link_base import NODES, Link, address_segments, text
from tests.eventhub_server.link_events import ProducerLink, ReceiverLink
from tests.eventhub_server.link_nodes import NodeLink

if TYPE_CHECKING:
    from tests.eventhub_server.amqp_session import Session

__all__ = ["Link", "create_link"]


def create_link(session: Session, fields: list[Any], handle: int) -> Link:
    """The link for an attach, or ``ServiceError`` with the service's refusal."""
    client_receives = bool(fields[2])
    terminus = fields[5] if client_receives else fields[6]
    address = text(terminus[0]) if terminus else None
    segs = address_segments(address)
    if segs and segs[-1] in NODES:
        return NodeLink(session, handle, fields, segs[-1])
    if client_receives:
        return ReceiverLink(session, handle, fields)
    return ProducerLink(session, handle, fields)
