"""The HTTP control plane: health, readiness, metrics, the pipeline API and the status page.

Lifecycle contract:
    * The daemon calls :func:`start_server` once its pipelines are loaded and keeps the returned
      :class:`ServerHandle`; on shutdown it calls :meth:`ServerHandle.stop` (idempotent), which
      returns once the listening socket is closed.
    * Requests are served on the standard library's ``ThreadingHTTPServer`` (one daemon thread
      per connection), so the :class:`~odibi_stream.runtime.control.ControlPlane` is called
      concurrently from several threads; it must be thread-safe and non-blocking.
    * With a token, every route except ``GET /healthz`` and the data-free page shell ``GET /``
      requires ``Authorization: Bearer <token>``. Without a token the server only binds to a
      loopback address.
    * Responses never carry tracebacks; strings in API payloads pass through
      :func:`~odibi_stream.core.redact.redact`.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import socket
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from datetime import date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import PurePath
from typing import Any
from urllib.parse import unquote, urlsplit

import orjson

from odibi_stream.core.redact import redact
from odibi_stream.exceptions import ConfigError
from odibi_stream.observability.logs import get_logger
from odibi_stream.server.page import status_page
from odibi_stream.service.control import ControlPlane

log = get_logger("odibi_stream.server")

ACTIONS = ("trigger", "pause", "resume")
"""The POST actions under ``/api/pipelines/{name}/``."""

_MAX_BODY = 64 * 1024
_JSON = "application/json"
_PUBLIC_ROUTES = frozenset({"healthz", "page"})


@dataclass(frozen=True)
class _Route:
    name: str
    methods: tuple[str, ...]
    pipeline: str | None = None
    action: str | None = None


class ServerHandle:
    """A running control-plane server.

    Attributes:
        host: The address bound.
        port: The port actually bound (useful when 0 was requested).
        url: Base URL of the server, ending in ``/``.
    """

    def __init__(self, server: _ControlServer, thread: threading.Thread, host: str) -> None:
        self._server = server
        self._thread = thread
        self._stopped = False
        self._lock = threading.Lock()
        self.host = host
        self.port: int = int(server.server_address[1])
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{self.port}/"

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting requests and close the socket (idempotent, thread-safe)."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        # serve_forever only notices shutdown() between select() calls (every 0.5 s when idle);
        # poking the listening socket wakes it at once instead of paying that wait.
        stopper = threading.Thread(target=self._server.shutdown, name="odibi-http-stop", daemon=True)
        stopper.start()
        deadline = time.monotonic() + timeout
        while stopper.is_alive() and time.monotonic() < deadline:
            self._poke()
            stopper.join(0.02)
        self._server.server_close()
        self._server.close_connections()
        self._thread.join(max(deadline - time.monotonic(), 0.0))

    def _poke(self) -> None:
        wildcard = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}
        address = (wildcard.get(self.host, self.host.strip("[]")), self.port)
        with contextlib.suppress(OSError):
            socket.create_connection(address, timeout=0.2).close()

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_server(
    control: ControlPlane, host: str = "127.0.0.1", port: int = 8765, token: str | None = None
) -> ServerHandle:
    """Bind and start serving in a background daemon thread.

    Args:
        control: The daemon (or any :class:`ControlPlane`) the routes read and steer.
        host: Address to bind; a non-loopback address requires ``token``.
        port: Port to bind; 0 picks a free one (see :attr:`ServerHandle.port`).
        token: Bearer token required on every route except ``/healthz`` and ``/``.
            An empty string counts as no token.

    Returns:
        The handle of the running server.

    Raises:
        ConfigError: Non-loopback ``host`` without a token, or the address cannot be bound.
    """
    token = token or None
    if token is None and not is_loopback(host):
        raise ConfigError(
            f"refusing to serve the control API on non-loopback address {host!r} without a token",
            hint="set ODIBI_API_TOKEN (or bind to 127.0.0.1)",
        )
    server_cls = _ControlServer6 if ":" in host else _ControlServer
    try:
        server = server_cls((host, port), _Handler)
    except OSError as exc:
        raise ConfigError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}",
            hint="choose another --port or stop the process using it",
        ) from exc
    server.control = control
    server.token = token
    thread = threading.Thread(target=server.serve_forever, name="odibi-http", daemon=True)
    thread.start()
    handle = ServerHandle(server, thread, host)
    log.info("control plane listening on %s", handle.url)
    return handle


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP literals; other host names count as exposed."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class _ControlServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    control: ControlPlane
    token: str | None

    def server_bind(self) -> None:
        self._connections: set[Any] = set()
        self._connections_lock = threading.Lock()
        super().server_bind()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up (and stop() cutting them) are routine; anything else is logged
        # redacted instead of socketserver's raw traceback on stderr.
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            log.debug("control plane connection dropped: %s", type(exc).__name__)
            return
        log.error("control plane connection failed: %s", redact(traceback.format_exc()))

    def close_connections(self) -> None:
        """Cut kept-alive connections so no request reaches the daemon after stop()."""
        with self._connections_lock:
            open_now = list(self._connections)
        for conn in open_now:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _ControlServer6(_ControlServer):
    address_family = socket.AF_INET6


def _match(path: str) -> _Route | None:
    if path == "/":
        return _Route("page", ("GET",))
    if path in ("/healthz", "/readyz", "/metrics"):
        return _Route(path[1:], ("GET",))
    if path == "/api/pipelines":
        return _Route("pipelines", ("GET",))
    parts = path.split("/")
    if len(parts) not in (4, 5) or parts[:3] != ["", "api", "pipelines"] or not parts[3]:
        return None
    name = unquote(parts[3])
    if len(parts) == 4:
        return _Route("pipeline", ("GET",), pipeline=name)
    if parts[4] in ACTIONS:
        return _Route("action", ("POST",), pipeline=name, action=parts[4])
    return None


class _Handler(BaseHTTPRequestHandler):
    server: _ControlServer
    protocol_version = "HTTP/1.1"
    server_version = "odibi-stream"
    sys_version = ""
    # Idle keep-alive connections are dropped so stop() leaves no thread waiting for long.
    timeout = 30

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http %s", redact(format % args))

    # ------------------------------------------------------------------ dispatch
    def _dispatch(self, method: str) -> None:
        self._drain_body()
        route = _match(urlsplit(self.path).path)
        public = route is not None and route.name in _PUBLIC_ROUTES
        if not public and not self._authorized():
            self._send_json(401, {"error": "unauthorized"}, {"WWW-Authenticate": 'Bearer realm="odibi-stream"'})
            return
        if route is None:
            self._send_json(404, {"error": "not found"})
            return
        if method not in route.methods:
            self._send_json(405, {"error": "method not allowed"}, {"Allow": ", ".join(route.methods)})
            return
        try:
            self._handle(route)
        except Exception as exc:
            log.error(
                "control plane request %s %s failed: %s",
                method, route.name, redact("".join(traceback.format_exception(exc))),
            )
            self._send_json(500, {"error": "internal error"})

    def _authorized(self) -> bool:
        token = self.server.token
        if token is None:
            return True
        supplied = self.headers.get("Authorization", "")
        return hmac.compare_digest(supplied.encode("utf-8"), f"Bearer {token}".encode())

    def _drain_body(self) -> None:
        # Unread request bodies would be parsed as the next request on a kept-alive connection.
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        if length > _MAX_BODY:
            self.close_connection = True
            return
        if length > 0:
            self.rfile.read(length)

    # ------------------------------------------------------------------ routes
    def _handle(self, route: _Route) -> None:
        control = self.server.control
        if route.name == "page":
            page = status_page()
            self._send(200, page.body, "text/html; charset=utf-8", {
                "Content-Security-Policy": page.csp,
                "X-Frame-Options": "DENY",
                "Referrer-Policy": "no-referrer",
            })
        elif route.name == "healthz":
            self._send_json(200, {"status": "ok"})
        elif route.name == "readyz":
            ready, detail = control.readiness()
            self._send_json(200 if ready else 503, {"status": "ready" if ready else "not_ready", "detail": detail})
        elif route.name == "metrics":
            body, content_type = control.metrics_text()
            self._send(200, body, content_type)
        elif route.name == "pipelines":
            self._send_json(200, {"pipelines": control.pipelines()})
        elif route.name == "pipeline":
            assert route.pipeline is not None
            found = control.pipeline(route.pipeline)
            if found is None:
                self._send_json(404, {"error": "unknown pipeline", "pipeline": route.pipeline})
            else:
                self._send_json(200, found)
        else:
            self._act(control, route)

    def _act(self, control: ControlPlane, route: _Route) -> None:
        assert route.pipeline is not None and route.action is not None
        name, action = route.pipeline, route.action
        call = {"trigger": control.trigger, "pause": control.pause, "resume": control.resume}[action]
        try:
            call(name)
        except KeyError:
            self._send_json(404, {"error": "unknown pipeline", "pipeline": name})
            return
        if action == "trigger":
            self._send_json(202, {"pipeline": name, "action": action, "status": "accepted"})
            return
        described = control.pipeline(name) or {}
        self._send_json(200, {"pipeline": name, "action": action, "state": described.get("state")})

    # ------------------------------------------------------------------ responses
    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        body = orjson.dumps(
            _scrub(payload),
            default=_json_default,
            option=orjson.OPT_NON_STR_KEYS | orjson.OPT_NAIVE_UTC | orjson.OPT_SERIALIZE_NUMPY,
        )
        self._send(status, body, _JSON, headers)

    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def _scrub(value: Any) -> Any:
    """Redact every string of an API payload (error messages may quote connection settings)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: _scrub(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_scrub(item) for item in value]
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    if isinstance(value, (PurePath, date, datetime)):
        return str(value)
    as_dict = getattr(value, "as_dict", None)
    if callable(as_dict):
        return as_dict()
    return str(value)
