"""What every link of the test server shares: terminus helpers, link state, authorisation.

Links live on their connection's thread. A subclass overrides the hooks it needs
(``after_attach``, ``on_flow``, ``on_transfer``, ``pump``, ``close``); the session calls them.
"""

from __future__ import annotations

import urllib.parse
from typing import TYPE_CHECKING, Any

from azure.eventhub._pyamqp.endpoints import Source, Target
from azure.eventhub._pyamqp.performatives import AttachFrame

from tests.eventhub_server.errors import UNAUTHORIZED, ServiceError

if TYPE_CHECKING:
    from tests.eventhub_server.amqp_frames import Frame
    from tests.eventhub_server.amqp_session import Session

EPOCH = b"com.microsoft:epoch"
RUNTIME_METRIC = b"com.microsoft:enable-receiver-runtime-metric"
SELECTOR_FILTER = b"apache.org:selector-filter:string"
NODES = ("$cbs", "$management")
PRODUCER_CREDIT = 500
MAX_DELIVERIES_PER_TURN = 1000


def text(value: Any) -> str | None:
    """A decoded AMQP string/symbol as str (the SDK decoder yields bytes)."""
    return value.decode("utf-8") if isinstance(value, bytes) else value


def address_segments(address: str | None) -> list[str]:
    """The path segments of a link address (bare ``hub/...`` or ``amqps://host/hub/...``)."""
    if not address:
        return []
    path = urllib.parse.urlparse(address).path if "://" in address else address
    return [urllib.parse.unquote(s) for s in path.strip("/").split("/") if s]


def source_terminus(address: str | None, filters: dict[bytes, Any] | None = None) -> Source:
    """A source terminus for an attach reply."""
    return Source(address, None, None, None, None, None, None, filters, None, None, None)


def target_terminus(address: str | None) -> Target:
    """A target terminus for an attach reply."""
    return Target(address, None, None, None, None, None, None)


def symbols(value: Any) -> list[bytes]:
    """A symbol-or-array field (capabilities) as a list."""
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


class Link:
    """State common to every link; subclasses override the frame handlers they need."""

    node: str | None = None

    def __init__(self, session: Session, handle: int, fields: list[Any]) -> None:
        self.session = session
        self.handle = handle
        self.name = fields[0]
        self.client_receives = bool(fields[2])
        self.source_address = text(fields[5][0]) if fields[5] else None
        self.target_address = text(fields[6][0]) if fields[6] else None
        self.detached = False
        self.closed = False
        self.delivery_count = 0
        self.credit = 0

    def attach_reply(self, fields: list[Any]) -> AttachFrame:
        """The ``attach`` answering the client's."""
        return AttachFrame(
            name=fields[0],
            handle=self.handle,
            role=not self.client_receives,
            send_settle_mode=1 if self.client_receives else fields[3],
            rcv_settle_mode=fields[4],
            source=self.reply_source(fields),
            target=target_terminus(self.target_address),
            unsettled=None,
            incomplete_unsettled=None,
            initial_delivery_count=0 if self.client_receives else None,
            max_message_size=self.session.conn.ctx.max_message_size,
            offered_capabilities=self._offered(fields),
            desired_capabilities=None,
            properties=None,
        )

    def reply_source(self, fields: list[Any]) -> Source:
        """The source terminus to answer with (receivers echo their filter)."""
        return source_terminus(self.source_address)

    def _offered(self, fields: list[Any]) -> list[bytes] | None:
        return None

    def after_attach(self) -> None:
        """Called once the attach reply is queued (grant credit, start delivering)."""

    def on_flow(self, fields: list[Any]) -> None:
        """A flow frame for this link."""

    def on_transfer(self, frame: Frame) -> None:
        """A transfer frame on this link."""

    def pump(self) -> bool:
        """Deliver what is due; True when more could be delivered right away."""
        return False

    def close(self) -> None:
        """Release what the link holds (idempotent)."""
        self.closed = True


def require(session: Session, hub: str, right: str, address: str) -> None:
    if not any(grant.allows(hub, right) for grant in session.conn.grants):
        raise ServiceError(
            UNAUTHORIZED,
            f"Unauthorized access. '{right}' claim(s) are required to perform this operation. "
            f"Resource: '{address}'.",
            status=401,
        )


class Assembler:
    """Reassembles deliveries that arrive split across transfer frames."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._first: list[Any] | None = None

    def add(self, frame: Frame) -> tuple[list[Any], bytes] | None:
        """The first frame's fields and the whole payload once the last frame arrived."""
        fields = frame.fields
        starts = self._first is None or (fields[1] is not None and fields[1] != self._first[1])
        if starts:  # senders may repeat the delivery id on continuation frames
            self._first, self._parts = fields, []
        if fields[9]:  # aborted
            self._first, self._parts = None, []
            return None
        self._parts.append(frame.payload)
        if fields[5]:  # more
            return None
        first, payload = self._first, b"".join(self._parts)
        self._first, self._parts = None, []
        assert first is not None
        return first, payload
