"""One client connection: a thread that reads frames, runs the sessions and writes replies.

The thread sleeps in ``select`` on the socket and a wake-up socket pair, with a timeout only
when the client asked for heartbeats, so an idle connection costs nothing. Other threads
reach it through :meth:`Connection.wake` (a partition got events), :meth:`call_soon`
(pre-empt a receiver) and :meth:`abort` (server stop: drop the TCP connection, like an
outage). Output is gathered per loop turn and written with one ``sendall``.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from azure.eventhub._pyamqp.error import AMQPError
from azure.eventhub._pyamqp.performatives import (
    CloseFrame,
    EndFrame,
    OpenFrame,
    SASLMechanism,
    SASLOutcome,
)

from tests.eventhub_server import amqp_frames as af
from tests.eventhub_server.amqp_session import Session
from tests.eventhub_server.auth import Grant
from tests.eventhub_server.context import ServerContext
from tests.eventhub_server.errors import DECODE_ERROR

log = logging.getLogger(__name__)
CONTAINER_ID = "odibi-eventhub-test-server"
IDLE_TIMEOUT_MS = 240_000
_RECV_SIZE = 1 << 18


class Connection:
    """Serves one TCP connection until the client closes it or the server aborts it."""

    def __init__(
        self, sock: socket.socket, ctx: ServerContext, on_closed: Callable[[Connection], None]
    ) -> None:
        self.sock = sock
        self.ctx = ctx
        self.grants: list[Grant] = []
        self.remote_max_frame_size = 512  # the AMQP minimum until the client's open says more
        self._on_closed = on_closed
        self._reader = af.FrameReader(ctx.max_frame_size)
        self._out: list[bytes] = []
        self._sessions: dict[int, Session] = {}
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._woken = False
        self._calls: deque[Callable[[], None]] = deque()
        self._closing = False
        self._heartbeat_s: float | None = None
        self._last_sent = time.monotonic()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.thread = threading.Thread(target=self._run, name="eventhub-test-connection", daemon=True)

    # -- any thread ------------------------------------------------------------------------
    def start(self) -> None:
        """Start serving on the connection's own thread."""
        self.thread.start()

    def wake(self) -> None:
        """Make the loop run a turn (new events may be deliverable)."""
        if not self._woken:
            self._woken = True
            with contextlib.suppress(OSError):  # the connection is closing
                self._wake_w.send(b"\0")

    def call_soon(self, action: Callable[[], None]) -> None:
        """Run ``action`` on the connection thread at the start of its next turn."""
        self._calls.append(action)
        self.wake()

    def abort(self) -> None:
        """Drop the TCP connection without a close frame (what an outage looks like)."""
        self._closing = True
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.wake()

    # -- the connection thread -------------------------------------------------------------
    def emit(self, data: bytes) -> None:
        """Queue bytes for the socket; written at the end of the loop turn."""
        self._out.append(data)

    def _run(self) -> None:
        try:
            self._loop()
        except af.FramingError as exc:
            log.warning("closing connection after a framing error: %s", exc)
            self._close_with(DECODE_ERROR, str(exc))
        except OSError:
            pass  # the peer went away, or abort() shut the socket down
        except Exception:
            log.exception("event hubs test server: connection failed")
        finally:
            self._teardown()

    def _loop(self) -> None:
        more = False
        while not self._closing:
            readable, _, _ = select.select([self.sock, self._wake_r], [], [], 0 if more else self._wait())
            if self._wake_r in readable:
                self._woken = False
                with contextlib.suppress(BlockingIOError):
                    self._wake_r.recv(4096)
            while self._calls:
                self._calls.popleft()()
            if self.sock in readable:
                data = self.sock.recv(_RECV_SIZE)
                if not data:
                    return
                self._reader.feed(data)
                while (item := self._reader.next()) is not None:
                    self._handle(item)
            more = self._pump()
            self._flush()

    def _wait(self) -> float | None:
        if self._heartbeat_s is None:
            return None
        due = self._last_sent + self._heartbeat_s - time.monotonic()
        if due <= 0:
            self.emit(af.HEARTBEAT)
            self._flush()
            return self._heartbeat_s
        return due

    def _flush(self) -> None:
        if self._out:
            data = b"".join(self._out)
            self._out.clear()
            self.sock.sendall(data)
            self._last_sent = time.monotonic()

    def _pump(self) -> bool:
        more = False
        for session in self._sessions.values():
            for link in session.links:
                more = link.pump() or more
        return more

    def _handle(self, item: af.ProtocolHeader | af.Frame) -> None:
        if isinstance(item, af.ProtocolHeader):
            self.emit(item.raw)
            if item.is_sasl:
                mechanisms = SASLMechanism(sasl_server_mechanisms=[b"MSSBCBS", b"ANONYMOUS"])
                self.emit(af.encode(0, mechanisms, af.FRAME_SASL))
            return
        if item.frame_type == af.FRAME_SASL:
            if item.code == af.SASL_INIT:
                self.emit(af.encode(0, SASLOutcome(code=0, additional_data=None), af.FRAME_SASL))
                self._reader.expect_header()
            return
        if item.code is not None:
            self._on_performative(item)

    def _on_performative(self, frame: af.Frame) -> None:
        code, fields = frame.code, frame.fields
        if code == af.OPEN:
            self._on_open(fields)
        elif code == af.BEGIN:
            session = Session(self, frame.channel, fields)
            self._sessions[frame.channel] = session
            self.emit(af.encode(frame.channel, session.begin_reply()))
        elif code == af.CLOSE:
            self.emit(af.encode(0, CloseFrame(error=None)))
            self._closing = True
        else:
            self._on_session_frame(frame)

    def _on_open(self, fields: list[Any]) -> None:
        self.remote_max_frame_size = fields[2] or 2**32 - 1
        if fields[4]:  # the client's idle timeout: send something at least twice as often
            self._heartbeat_s = fields[4] / 2000
        self.emit(
            af.encode(
                0,
                OpenFrame(
                    container_id=CONTAINER_ID,
                    hostname=None,
                    max_frame_size=self.ctx.max_frame_size,
                    channel_max=fields[3] if fields[3] is not None else 65535,
                    idle_timeout=IDLE_TIMEOUT_MS,
                    outgoing_locales=None,
                    incoming_locales=None,
                    offered_capabilities=None,
                    desired_capabilities=None,
                    properties=None,
                ),
            )
        )

    def _on_session_frame(self, frame: af.Frame) -> None:
        session = self._sessions.get(frame.channel)
        if session is None:
            return
        code, fields = frame.code, frame.fields
        if code == af.TRANSFER:
            session.on_transfer(frame)
        elif code == af.FLOW:
            session.on_flow(fields)
        elif code == af.ATTACH:
            session.on_attach(fields)
        elif code == af.DETACH:
            session.on_detach(fields)
        elif code == af.END:
            session.on_end()
            del self._sessions[frame.channel]
            self.emit(af.encode(frame.channel, EndFrame(error=None)))
        # dispositions from receivers need no action: deliveries are sent pre-settled

    def _close_with(self, condition: str, description: str) -> None:
        try:
            error = AMQPError(condition=condition.encode(), description=description, info=None)
            self.emit(af.encode(0, CloseFrame(error=error)))
            self._flush()
        except OSError:
            pass

    def _teardown(self) -> None:
        for session in self._sessions.values():
            session.on_end()
        self._sessions.clear()
        for sock in (self.sock, self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                sock.close()
        self._on_closed(self)
