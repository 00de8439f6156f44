"""The ``$cbs`` and ``$management`` nodes: request links in, response links out."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from azure.eventhub._pyamqp._decode import decode_payload
from azure.eventhub._pyamqp._encode import encode_payload
from azure.eventhub._pyamqp.outcomes import Accepted

from tests.eventhub_server.link_base import PRODUCER_CREDIT, Assembler, Link
from tests.eventhub_server.management import management_read, put_token, response_message

if TYPE_CHECKING:
    from tests.eventhub_server.amqp_frames import Frame
    from tests.eventhub_server.amqp_session import Session


class NodeLink(Link):
    """One half of a ``$cbs`` / ``$management`` pair: requests in, responses out."""

    def __init__(self, session: Session, handle: int, fields: list[Any], node: str) -> None:
        super().__init__(session, handle, fields)
        self.node = node
        self._node = node
        self._assembler = Assembler()
        if not self.client_receives:
            self.delivery_count = fields[9] or 0  # the client's initial delivery count

    def after_attach(self) -> None:
        if not self.client_receives:
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
        request = decode_payload(memoryview(payload))
        conn = self.session.conn
        if self.node == "$cbs":
            reply, grant = put_token(conn.ctx, request)
            if grant is not None:
                conn.grants.append(grant)
        else:
            reply = management_read(conn.ctx, request)
        if not first[4]:
            self.session.settle(first[1], Accepted())
        responder = self.session.response_link(self._node)
        if responder is not None:
            out = bytearray()
            encode_payload(out, response_message(request, reply))
            self.session.deliver(responder.handle, [bytes(out)], settled=True)
        self.credit -= 1
        if self.credit < PRODUCER_CREDIT // 2:
            self._grant()
