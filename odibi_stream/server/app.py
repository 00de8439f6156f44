"""The HTTP control plane: health, readiness, metrics, the pipeline API and the status page.

Lifecycle contract:
    * The layer above the service (``odibi_stream.api``: the CLI's ``serve``, embedding) calls
      :func:`start_server` with the daemon's control plane and keeps the returned
      :class:`ServerHandle`; on shutdown it calls :meth:`ServerHandle.stop` (idempotent), which
      returns once the listening sockets and every connection are closed.
    * One event-loop thread owns the sockets (API listener, optional probe listener); requests
      that reach the daemon run on a bounded worker pool per listener, so the
      :class:`~odibi_stream.service.control.ControlPlane` is called concurrently from at most
      ``server.limits.workers`` threads; it must be thread-safe and non-blocking.
    * With a token, every API route except ``GET /healthz`` and the data-free page shell
      ``GET /`` requires ``Authorization: Bearer <token>``. Without a token the server only
      binds to a loopback address. Every request must carry an allowed ``Host`` (DNS
      rebinding) and every POST the CSRF proofs of :mod:`odibi_stream.server.guards`.
    * Responses never carry tracebacks or request input; strings in API payloads pass through
      :func:`~odibi_stream.core.redact.redact`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from odibi_stream.config.project_models import ServerConfig
from odibi_stream.exceptions import ConfigError
from odibi_stream.observability.logs import get_logger
from odibi_stream.server.guards import HostPolicy
from odibi_stream.server.listener import Listener, backlog_for, bind
from odibi_stream.server.metrics import ServerMetrics
from odibi_stream.server.options import PROBE_CONNECTIONS, PROBE_WORKERS, ServerOptions
from odibi_stream.server.probe import ProbeRouter
from odibi_stream.server.rejections import Rejections
from odibi_stream.server.routes import ACTIONS, ApiRouter, Router
from odibi_stream.service.control import ControlPlane

__all__ = ["ACTIONS", "ServerHandle", "is_loopback", "start_server"]

log = get_logger("odibi_stream.server")

T = TypeVar("T")


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP literals; other host names count as exposed."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _url(scheme: str, host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}:{port}/"


class _LoopThread:
    """A private asyncio loop on a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.loop.set_exception_handler(_loop_error)
        self.thread = threading.Thread(target=self.loop.run_forever, name="odibi-http", daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self, timeout: float) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout)
        if not self.thread.is_alive():
            self.loop.close()


def _loop_error(_loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    # asyncio reports peers that vanish mid-TLS and similar through here; never a traceback.
    exc = context.get("exception")
    log.debug("control plane event loop: %s (%s)", context.get("message"), type(exc).__name__ if exc else "-")


class ServerHandle:
    """A running control-plane server.

    Attributes:
        host: The address bound.
        port: The API port actually bound (useful when 0 was requested).
        url: Base URL of the API, ending in ``/`` (``https`` with TLS).
        probe_port: The probe port bound, or None without a probe listener.
        probe_url: Base URL of the probe listener, or None.
    """

    def __init__(self, host: str, scheme: str, runner: _LoopThread, api: Listener,
                 probe: Listener | None, router: ApiRouter, rejections: Rejections) -> None:
        self.host = host
        self._runner = runner
        self._listeners = [api] if probe is None else [api, probe]
        self._router = router
        self._rejections = rejections
        self._stopped = False
        self._lock = threading.Lock()
        self.port: int = api.port
        self.url = _url(scheme, host, api.port)
        self.probe_port: int | None = probe.port if probe is not None else None
        self.probe_url = _url(scheme, host, probe.port) if probe is not None else None

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, cut every connection and the loop thread (idempotent, thread-safe)."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        self._router.close()

        async def close_all() -> None:
            await asyncio.gather(*(listener.close() for listener in self._listeners))

        try:
            self._runner.run(close_all(), timeout)
        except Exception as exc:  # a stuck close must not keep the daemon from exiting
            log.warning("control plane stop incomplete: %s", type(exc).__name__)
        self._runner.close(timeout)

    def stats(self) -> dict[str, Any]:
        """Connection counters per listener and refusal counters by reason (for tests and ops)."""

        out: dict[str, Any] = {listener.name: listener.stats() for listener in self._listeners}
        out["refused"] = self._rejections.counts()
        return out

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_server(
    control: ControlPlane,
    host: str = "127.0.0.1",
    port: int = 8765,
    token: str | None = None,
    *,
    config: ServerConfig | None = None,
    base_dir: Path | None = None,
) -> ServerHandle:
    """Bind and start serving on a background event-loop thread.

    Args:
        control: The daemon (or any :class:`ControlPlane`) the routes read and steer.
        host: Address to bind (API and probe listener); a non-loopback address requires ``token``.
        port: API port; 0 picks a free one (see :attr:`ServerHandle.port`).
        token: Bearer token required on every API route except ``/healthz`` and ``/``.
            An empty string counts as no token.
        config: ``server:`` of odibi.yaml (limits, allowed hosts, TLS, probe port, readiness);
            defaults when None. Its ``host``/``port`` are ignored in favour of the arguments.
        base_dir: Folder that relative TLS paths are resolved against (the project folder).

    Returns:
        The handle of the running server.

    Raises:
        ConfigError: Non-loopback ``host`` without a token, unusable TLS files, or an address
            that cannot be bound.
    """
    token = token or None
    if token is None and not is_loopback(host):
        raise ConfigError(
            f"refusing to serve the control API on non-loopback address {host!r} without a token",
            hint="set ODIBI_API_TOKEN (or bind to 127.0.0.1)",
        )
    options = ServerOptions.from_config(config, base_dir)
    hosts = HostPolicy.build(host, options.allowed_hosts)
    rejections = Rejections()
    router = ApiRouter(control, token, hosts, options, rejections)
    sockets = [_bind(host, port, backlog_for(options.max_connections))]
    if options.probe_port is not None:
        try:
            sockets.append(_bind(host, options.probe_port, backlog_for(PROBE_CONNECTIONS)))
        except ConfigError:
            sockets[0].close()
            raise
    api = _listener("api", sockets[0], router, options, rejections, options.max_connections, options.workers)
    probe = None
    if len(sockets) > 1:
        probe_router = ProbeRouter(control, hosts, options.readiness_fail_on, rejections)
        probe = _listener("probe", sockets[1], probe_router, options, rejections, PROBE_CONNECTIONS, PROBE_WORKERS)
    listeners = [api] if probe is None else [api, probe]
    router.server_metrics = ServerMetrics(rejections, [(x.name, x.stats) for x in listeners]).render
    runner = _LoopThread()

    async def begin() -> None:
        api.start()
        if probe is not None:
            probe.start()

    runner.run(begin(), 5.0)
    handle = ServerHandle(host, options.scheme, runner, api, probe, router, rejections)
    log.info("control plane listening on %s (max %d connections)%s", handle.url, options.max_connections,
             f", probes on {handle.probe_url}" if handle.probe_url else "")
    return handle


def _listener(name: str, sock: socket.socket, router: Router, options: ServerOptions,
              rejections: Rejections, cap: int, workers: int) -> Listener:
    return Listener(name, sock, router, cap=cap, workers=workers, rejections=rejections,
                    request_timeout=options.request_timeout, max_body_bytes=options.max_body_bytes,
                    tls=options.tls)


def _bind(host: str, port: int, backlog: int) -> socket.socket:
    try:
        return bind(host, port, backlog)
    except OSError as exc:
        raise ConfigError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}",
            hint="choose another --port (or server.probe_port) or stop the process using it",
        ) from exc
