"""One client connection on the event loop: TLS, HTTP/1.1 framing (h11), limits and deadlines.

Lifecycle contract:
    * The listener (:mod:`odibi_stream.server.listener`) creates a :class:`Connection` per
      accepted socket, admits it to its :class:`ConnectionRegistry` and runs :meth:`Connection.run`
      as a task; the task's done-callback closes the socket whatever happened.
    * A connection holds no thread while it waits for bytes: slow clients cost one fd and a few
      KB, never a worker. Each request (keep-alive wait, head and body) must arrive within
      ``request_timeout`` and each response be taken within it, or the connection is closed.
    * A body larger than ``max_body_bytes`` (declared or chunked) is answered 413 before the
      router sees the request; the rest of it is discarded for a moment and the connection
      closed. Routers run on the listener's bounded worker pool, except ``inline`` routes.
    * Peers hanging up or failing TLS are routine: logged at debug level, never a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import sys
from collections import OrderedDict
from collections.abc import Iterable
from concurrent.futures import Executor
from dataclasses import dataclass, replace
from http import HTTPStatus
from socket import socket
from typing import Any

import h11

from odibi_stream.core.redact import redact
from odibi_stream.observability.logs import get_logger
from odibi_stream.server.options import MAX_HEAD_BYTES
from odibi_stream.server.rejections import Rejections
from odibi_stream.server.responses import Request, Response, error
from odibi_stream.server.routes import Router

log = get_logger("odibi_stream.server")

READ_CHUNK = 16 * 1024
LINGER_SECONDS = 1.0
LINGER_BYTES = 1024 * 1024
_QUIET = (ConnectionError, TimeoutError, asyncio.TimeoutError, ssl.SSLError, OSError, EOFError)


class ConnectionRegistry:
    """Open connections of one listener, with a cap enforced by evicting the longest-idle one.

    Only touched from the event loop thread. "Idle" means waiting for the client (TLS handshake,
    keep-alive, a request head or body): the connections a slowloris holds. A connection whose
    request is being answered is never evicted.
    """

    def __init__(self, cap: int, max_inflight: int) -> None:
        self.cap = cap
        self.max_inflight = max_inflight
        self.inflight = 0
        self._open: set[Connection] = set()
        self._idle: OrderedDict[Connection, None] = OrderedDict()
        self.evicted = 0
        self.refused = 0

    def admit(self, conn: Connection) -> bool:
        """Make room for ``conn`` (evicting the longest-idle connection); False if all are busy."""
        if len(self._open) >= self.cap:
            if not self._idle:
                self.refused += 1
                return False
            victim, _ = self._idle.popitem(last=False)
            self._open.discard(victim)
            victim.evict()
            self.evicted += 1
        self._open.add(conn)
        self._idle[conn] = None
        return True

    def idle(self, conn: Connection) -> None:
        """``conn`` now waits for its client (it becomes the newest idle connection)."""
        if conn in self._open:
            self._idle[conn] = None
            self._idle.move_to_end(conn)

    def busy(self, conn: Connection) -> None:
        """``conn`` is being answered: not evictable."""
        self._idle.pop(conn, None)

    def remove(self, conn: Connection) -> None:
        """Forget ``conn`` (idempotent)."""
        self._open.discard(conn)
        self._idle.pop(conn, None)

    def connections(self) -> list[Connection]:
        """The open connections."""
        return list(self._open)

    def __len__(self) -> int:
        return len(self._open)


@dataclass(frozen=True)
class ConnectionContext:
    """What every connection of a listener shares."""

    router: Router
    pool: Executor
    registry: ConnectionRegistry
    rejections: Rejections
    request_timeout: float
    max_body_bytes: int
    tls: ssl.SSLContext | None


class Connection:
    """One accepted socket, from TLS handshake to close (see the module contract)."""

    def __init__(self, sock: socket, ctx: ConnectionContext) -> None:
        self.sock = sock
        self.ctx = ctx
        self.task: asyncio.Task[None] | None = None
        self._transport: asyncio.BaseTransport | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._handed_over = False
        self._method = "GET"

    def start(self) -> None:
        """Run the connection as a task on the current loop."""
        self.task = asyncio.get_running_loop().create_task(self.run())
        self.task.add_done_callback(self._finished)

    def evict(self) -> None:
        """Close this connection as soon as possible (cap reached, or the server stops)."""
        if self.task is not None:
            self.task.cancel()
        else:
            self._close_socket()

    async def run(self) -> None:
        """Serve requests until the client leaves, a deadline passes or the server stops."""
        try:
            reader, writer = await self._open()
            await self._serve(reader, writer)
        except asyncio.CancelledError:
            pass
        except _QUIET as exc:
            log.debug("control plane connection dropped: %s", type(exc).__name__)
        except Exception as exc:
            log.error("control plane connection failed: %s: %s", type(exc).__name__, redact(str(exc)))

    # ------------------------------------------------------------------ lifecycle
    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=2 * MAX_HEAD_BYTES)
        protocol = asyncio.StreamReaderProtocol(reader)
        kwargs: dict[str, Any] = {}
        if self.ctx.tls is not None:
            kwargs = {"ssl": self.ctx.tls, "ssl_handshake_timeout": self.ctx.request_timeout}
            if sys.version_info >= (3, 11):
                kwargs["ssl_shutdown_timeout"] = LINGER_SECONDS
        self._handed_over = True  # from here on asyncio owns (and closes) the socket
        transport, _ = await loop.connect_accepted_socket(lambda: protocol, self.sock, **kwargs)
        self._transport = transport
        # high=0: drain() returns only once the kernel has every byte, so closing loses nothing.
        transport.set_write_buffer_limits(high=0)  # type: ignore[attr-defined]
        self._writer = asyncio.StreamWriter(transport, protocol, reader, loop)  # type: ignore[arg-type]
        return reader, self._writer

    def _finished(self, _task: asyncio.Task[None]) -> None:
        self.ctx.registry.remove(self)
        if self._transport is not None:
            self._transport.abort()  # type: ignore[attr-defined]
            if self._writer is not None:
                self._writer.close()  # already aborted: only marks the writer closed
        elif not self._handed_over:
            self._close_socket()

    def _close_socket(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()

    # ------------------------------------------------------------------ HTTP
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        h = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)
        timeout = self.ctx.request_timeout
        while True:
            self.ctx.registry.idle(self)
            try:
                outcome = await asyncio.wait_for(self._receive(h, reader, writer), timeout)
            except (asyncio.TimeoutError, TimeoutError):
                return  # slow or idle client: close without a word
            except h11.RemoteProtocolError as exc:
                await self._refuse_malformed(writer, exc.error_status_hint)
                return
            if outcome is None:
                return
            if isinstance(outcome, Response):  # refused from the head: the body stays unread
                await asyncio.wait_for(self._respond(h, writer, outcome, self._method), timeout)
                await self._linger(reader, writer)
                return
            response = await self._answer(outcome)
            await asyncio.wait_for(self._respond(h, writer, response, outcome.method), timeout)
            if response.close or h.our_state is not h11.DONE or h.their_state is not h11.DONE:
                await self._close(writer)
                return
            h.start_next_cycle()

    async def _answer(self, request: Request) -> Response:
        router = self.ctx.router
        if router.inline(request):
            return router.handle(request)
        registry = self.ctx.registry
        if registry.inflight >= registry.max_inflight:
            # Busy connections cannot be evicted: queueing without bound would let a wedged
            # daemon plus eager clients fill the cap and lock /healthz out.
            self.ctx.rejections.note("busy", "too many requests waiting for a worker")
            return error(503, "busy, retry shortly", headers=(("Retry-After", "1"),))
        registry.busy(self)
        registry.inflight += 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self.ctx.pool, router.handle, request)
        finally:
            registry.inflight -= 1

    async def _next(self, h: h11.Connection, reader: asyncio.StreamReader) -> Any:
        while True:
            event = h.next_event()
            if event is not h11.NEED_DATA:
                return event
            data = await reader.read(READ_CHUNK)
            if not data:  # a client leaving mid-request is not a protocol error worth a 400
                return h11.ConnectionClosed()
            h.receive_data(data)

    async def _receive(
        self, h: h11.Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> Request | Response | None:
        event = await self._next(h, reader)
        if not isinstance(event, h11.Request):
            return None  # closed (or pipelined bytes after a close): nothing to answer
        head = Request(
            method=event.method.decode("ascii", "replace").upper(),
            target=event.target.decode("latin-1"),
            headers=_header_map(event.headers),
        )
        self._method = head.method
        refused = self.ctx.router.precheck(head)
        if refused is not None:
            return replace(refused, close=True)
        limit = self.ctx.max_body_bytes
        declared = head.headers.get("content-length", "0").split(",")[0]
        if int(declared) > limit:  # h11 validated the number
            return self._too_large("declared")
        if h.they_are_waiting_for_100_continue:
            writer.write(h.send(h11.InformationalResponse(status_code=100, headers=[])))
            await writer.drain()
        body = bytearray()
        while True:
            event = await self._next(h, reader)
            if isinstance(event, h11.Data):
                body += event.data
                if len(body) > limit:
                    return self._too_large("chunked")
            elif isinstance(event, h11.EndOfMessage):
                return replace(head, body=bytes(body))
            else:
                return None

    def _too_large(self, how: str) -> Response:
        self.ctx.rejections.note("body", f"request body over the limit ({how})")
        return error(413, "request body too large", close=True)

    async def _respond(
        self, h: h11.Connection, writer: asyncio.StreamWriter, response: Response, method: str
    ) -> None:
        headers = [*response.all_headers(), ("Content-Length", str(len(response.body)))]
        data = h.send(h11.Response(
            status_code=response.status,
            headers=[(k.encode("ascii"), v.encode("latin-1")) for k, v in headers],
            reason=_reason(response.status),
        ))
        if method != "HEAD" and response.body:
            data += h.send(h11.Data(data=response.body)) or b""
        data += h.send(h11.EndOfMessage()) or b""
        writer.write(data or b"")
        await writer.drain()

    async def _refuse_malformed(self, writer: asyncio.StreamWriter, status: int) -> None:
        self.ctx.rejections.note("malformed", f"HTTP {status}")
        phrase = _reason(status).decode("ascii")
        writer.write(
            f"HTTP/1.1 {status} {phrase}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode("ascii")
        )
        with contextlib.suppress(*_QUIET):
            await asyncio.wait_for(writer.drain(), self.ctx.request_timeout)
        await self._close(writer)

    async def _linger(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Closing with unread request bytes makes the kernel send RST, which can destroy the
        # response before the client reads it; half-close and discard what is in flight first.
        with contextlib.suppress(*_QUIET):
            if writer.can_write_eof():
                writer.write_eof()
            await asyncio.wait_for(_discard(reader, LINGER_BYTES), LINGER_SECONDS)
        await self._close(writer)

    async def _close(self, writer: asyncio.StreamWriter) -> None:
        writer.close()
        with contextlib.suppress(*_QUIET):
            await asyncio.wait_for(writer.wait_closed(), LINGER_SECONDS)


async def _discard(reader: asyncio.StreamReader, budget: int) -> None:
    while budget > 0:
        chunk = await reader.read(READ_CHUNK)
        if not chunk:
            return
        budget -= len(chunk)


def _header_map(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in raw:
        key, text = name.decode("ascii").lower(), value.decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    return headers


def _reason(status: int) -> bytes:
    try:
        return HTTPStatus(status).phrase.encode("ascii")
    except ValueError:
        return b""
