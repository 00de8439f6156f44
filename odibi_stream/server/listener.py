"""A listening socket, its accept loop, its connection cap and its worker pool.

Lifecycle contract:
    * :func:`bind` creates the listening socket synchronously in the caller's thread (so a busy
      port is an immediate error); :class:`Listener` then runs entirely on the server's event
      loop: :meth:`Listener.start` begins accepting, :meth:`Listener.close` stops accepting,
      cuts every connection and waits (bounded) for their tasks.
    * Open connections never exceed the listener's cap (idle ones are evicted to admit new
      ones); answering runs on a pool of ``workers`` threads, so the daemon's own threads compete
      with at most that many request threads.
    * Running out of fds while accepting is logged (rate-limited) and retried after a pause,
      instead of spinning or dying.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import ssl
from concurrent.futures import ThreadPoolExecutor

from odibi_stream.server.connection import Connection, ConnectionContext, ConnectionRegistry
from odibi_stream.server.rejections import Rejections
from odibi_stream.server.routes import Router

ACCEPT_PAUSE_SECONDS = 0.1
CLOSE_WAIT_SECONDS = 2.0
MIN_BACKLOG = 128
_RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


def bind(host: str, port: int, backlog: int) -> socket.socket:
    """Bind and listen on ``host:port`` (IPv6 when ``host`` contains ``:``); raises OSError."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.create_server((host.strip("[]"), port), family=family, backlog=backlog)
    sock.setblocking(False)
    return sock


def backlog_for(cap: int) -> int:
    """A listen backlog that absorbs a burst of connects (queued ones hold no fd of ours).

    Too small and a burst of clients (or a flood) overflows it before the loop accepts, and
    the kernel drops SYNs: every such client, a probe included, then waits a 1 s retransmit.
    """
    return min(socket.SOMAXCONN, max(MIN_BACKLOG, 2 * cap))


def inflight_limit(cap: int, workers: int) -> int:
    """Requests queued or running on the pool at once: a few per worker, and never more than
    half the cap, so new connections (a health probe) always find room."""
    return max(1, min(4 * workers, cap // 2))


class Listener:
    """Accepts on one socket and serves its connections (see the module contract).

    Args:
        name: Short name for threads and logs (``api``, ``probe``).
        sock: A listening, non-blocking socket from :func:`bind`.
        router: The listener's routes.
        cap: Open connections allowed.
        workers: Threads answering requests.
        rejections: Shared refusal counters.
        request_timeout: Per-request deadline in seconds.
        max_body_bytes: Largest request body.
        tls: Server TLS context, or None for plain HTTP.
    """

    def __init__(self, name: str, sock: socket.socket, router: Router, *, cap: int, workers: int,
                 rejections: Rejections, request_timeout: float, max_body_bytes: int,
                 tls: ssl.SSLContext | None) -> None:
        self.name = name
        self.sock = sock
        self.port: int = int(sock.getsockname()[1])
        self.ctx = ConnectionContext(
            router=router,
            pool=ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"odibi-http-{name}"),
            registry=ConnectionRegistry(cap, max_inflight=inflight_limit(cap, workers)),
            rejections=rejections,
            request_timeout=request_timeout,
            max_body_bytes=max_body_bytes,
            tls=tls,
        )
        self._accepting: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Begin accepting (call on the event loop)."""
        self._accepting = asyncio.get_running_loop().create_task(self._accept_loop())

    async def _accept_loop(self) -> None:
        loop = asyncio.get_running_loop()
        registry = self.ctx.registry
        while True:
            try:
                client, _addr = await loop.sock_accept(self.sock)
            except OSError as exc:
                if self.sock.fileno() == -1:
                    return  # closed by close()
                # Never let the accept loop die: out of fds it pauses, a peer that aborted
                # before accept (ECONNABORTED) is just skipped.
                code = errno.errorcode.get(exc.errno or 0, type(exc).__name__)
                self.ctx.rejections.note("accept", f"accept failed ({code})")
                if exc.errno in _RESOURCE_ERRNOS:
                    await asyncio.sleep(ACCEPT_PAUSE_SECONDS)
                continue
            with contextlib.suppress(OSError):
                client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = Connection(client, self.ctx)
            if not registry.admit(conn):
                self.ctx.rejections.note("capacity", "every connection is busy")
                conn.evict()
                continue
            conn.start()
            # sock_accept does not yield while the backlog holds connections: without this, a
            # burst of connects is accepted before any evicted connection's fd is released.
            await asyncio.sleep(0)

    async def close(self) -> None:
        """Stop accepting, cut every connection, wait for their tasks (bounded)."""
        if self._accepting is not None:
            self._accepting.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await self._accepting
        self.sock.close()
        conns = self.ctx.registry.connections()
        for conn in conns:
            conn.evict()
        tasks = [c.task for c in conns if c.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=CLOSE_WAIT_SECONDS)
        self.ctx.pool.shutdown(wait=False, cancel_futures=True)

    def stats(self) -> dict[str, int]:
        """Open, evicted and refused connection counts (plain int reads: any thread)."""
        registry = self.ctx.registry
        return {"open": len(registry), "cap": registry.cap, "evicted": registry.evicted,
                "refused": registry.refused}
