"""The API listener's routes: health, readiness, metrics, the pipeline API and the status page.

Lifecycle contract:
    * One :class:`ApiRouter` per server. The connection layer calls :meth:`ApiRouter.precheck`
      with the request head before reading any body, :meth:`ApiRouter.handle` with the complete
      request on a worker thread (or on the event loop when :meth:`ApiRouter.inline` says the
      route never touches the daemon), and sends what they return.
    * Order of checks: ``Host`` (421) → body size (413, in the connection layer) → CSRF on every
      POST (403) → bearer token (401) → route (404/405) → the action. Nothing reaches the
      :class:`~odibi_stream.service.control.ControlPlane` before all checks passed.
    * Error bodies are fixed strings; a 404 never names what was asked for.
"""

from __future__ import annotations

import hmac
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import unquote

from odibi_stream.core.redact import redact
from odibi_stream.exceptions import OdibiError
from odibi_stream.observability.logs import get_logger
from odibi_stream.server.guards import HostPolicy, csrf_problem
from odibi_stream.server.history_routes import batch_response, batches_response
from odibi_stream.server.options import ServerOptions
from odibi_stream.server.page import status_page
from odibi_stream.server.readiness import assess
from odibi_stream.server.rejections import Rejections
from odibi_stream.server.responses import Request, Response, error, json_response
from odibi_stream.server.throttle import TriggerThrottle
from odibi_stream.service.control import ACTIONS, ActionRefused, ControlPlane

log = get_logger("odibi_stream.server")

_PUBLIC_ROUTES = frozenset({"healthz", "page"})
_CSRF_HINT = "POST from the status page or the CLI, or send the header X-Odibi-Request: 1"


class Router(Protocol):
    """What the connection layer needs of a listener's routes."""

    def precheck(self, request: Request) -> Response | None:
        """A refusal decided from the head alone (before any body is read), or None."""
        ...

    def inline(self, request: Request) -> bool:
        """True if :meth:`handle` is instant for this request (served on the event loop)."""
        ...

    def handle(self, request: Request) -> Response:
        """Answer a complete request; never raises."""
        ...


@dataclass(frozen=True)
class Route:
    """A matched route."""

    name: str
    methods: tuple[str, ...]
    pipeline: str | None = None
    action: str | None = None


def match(path: str) -> Route | None:
    """Map a request path to its route (None: no such route)."""
    if path == "/":
        return Route("page", ("GET",))
    if path in ("/healthz", "/readyz", "/metrics"):
        return Route(path[1:], ("GET",))
    if path == "/api/pipelines":
        return Route("pipelines", ("GET",))
    parts = path.split("/")
    if len(parts) not in (4, 5, 6) or parts[:3] != ["", "api", "pipelines"] or not parts[3]:
        return None
    name = unquote(parts[3])
    if len(parts) == 4:
        return Route("pipeline", ("GET",), pipeline=name)
    if parts[4] == "batches":
        if len(parts) == 5:
            return Route("batches", ("GET",), pipeline=name)
        return Route("batch", ("GET",), pipeline=name, action=parts[5]) if parts[5] else None
    if parts[4] in ACTIONS and len(parts) == 5:
        return Route("action", ("POST",), pipeline=name, action=parts[4])
    return None


def host_refusal(hosts: HostPolicy, request: Request, rejections: Rejections) -> Response | None:
    """421 for a ``Host`` this listener does not answer to (DNS rebinding), else None."""
    if hosts.accepts(request.headers.get("host")):
        return None
    rejections.note("host", "Host header not allowed")
    return error(421, "misdirected request: this Host is not served here",
                 hint="add the name to server.allowed_hosts", close=True)


def internal_error(method: str, what: str, exc: BaseException) -> Response:
    """Log a handler failure (redacted) and answer a short 500."""
    log.error("control plane request %s %s failed: %s", method, what,
              redact("".join(traceback.format_exception(exc))))
    return error(500, "internal error")


class ApiRouter:
    """Routes of the API listener.

    Args:
        control: The daemon.
        token: Bearer token required on every non-public route, or None.
        hosts: The ``Host`` policy of the listener.
        options: Resolved server options (scheme, readiness policy, trigger rate).
        rejections: Shared refusal counters.
    """

    def __init__(self, control: ControlPlane, token: str | None, hosts: HostPolicy,
                 options: ServerOptions, rejections: Rejections) -> None:
        self.control = control
        self.token = token
        self.hosts = hosts
        self.options = options
        self.rejections = rejections
        self.throttle = TriggerThrottle(options.trigger_burst, options.trigger_per_second)
        self.server_metrics: Callable[[], bytes] | None = None
        """Set by ``start_server``: the control plane's own families, appended to ``/metrics``."""

    def precheck(self, request: Request) -> Response | None:
        """See :meth:`Router.precheck`."""
        return host_refusal(self.hosts, request, self.rejections)

    def inline(self, request: Request) -> bool:
        """See :meth:`Router.inline` (``/healthz`` must answer even with every worker busy)."""
        return request.method == "GET" and request.path == "/healthz"

    def handle(self, request: Request) -> Response:
        """See :meth:`Router.handle`."""
        refused = self.precheck(request)
        if refused is not None:
            return refused
        try:
            return self._route(request)
        except Exception as exc:
            return internal_error(request.method, request.path[:40], exc)

    def close(self) -> None:
        """Cancel deferred triggers."""
        self.throttle.close()

    # ------------------------------------------------------------------ checks
    def _route(self, request: Request) -> Response:
        if request.method == "POST":
            problem = csrf_problem(request.headers, self.options.scheme)
            if problem is not None:
                self.rejections.note("csrf", problem)
                return error(403, "cross-site request refused", hint=_CSRF_HINT)
        route = match(request.path)
        public = route is not None and route.name in _PUBLIC_ROUTES
        if not public and not self._authorized(request):
            self.rejections.note("auth", "missing or wrong bearer token")
            return error(401, "unauthorized", headers=(("WWW-Authenticate", 'Bearer realm="odibi-stream"'),))
        if route is None:
            return error(404, "not found")
        if request.method not in route.methods:
            return error(405, "method not allowed", headers=(("Allow", ", ".join(route.methods)),))
        return self._dispatch(route, request)

    def _authorized(self, request: Request) -> bool:
        if self.token is None:
            return True
        supplied = request.headers.get("authorization", "")
        return hmac.compare_digest(supplied.encode("utf-8"), f"Bearer {self.token}".encode())

    # ------------------------------------------------------------------ routes
    def _dispatch(self, route: Route, request: Request) -> Response:
        control = self.control
        if route.name == "page":
            page = status_page()
            return Response(200, page.body, "text/html; charset=utf-8", (
                ("Content-Security-Policy", page.csp),
                ("X-Frame-Options", "DENY"),
                ("Referrer-Policy", "no-referrer"),
            ))
        if route.name == "healthz":
            return json_response(200, {"status": "ok"})
        if route.name == "readyz":
            ready, detail = control.readiness()
            verdict = assess(ready, detail, self.options.readiness_fail_on)
            return json_response(200 if verdict.ready else 503, {**verdict.payload(), "detail": detail})
        if route.name == "metrics":
            body, content_type = control.metrics_text()
            if self.server_metrics is not None and content_type.startswith("text/plain"):
                body += self.server_metrics()
            return Response(200, body, content_type)
        if route.name == "pipelines":
            return json_response(200, {"pipelines": control.pipelines()})
        assert route.pipeline is not None
        if route.name == "pipeline":
            found = control.pipeline(route.pipeline)
            return error(404, "unknown pipeline") if found is None else json_response(200, found)
        if route.name == "batches":
            return batches_response(control, route.pipeline, request)
        if route.name == "batch":
            return batch_response(control, route.pipeline, route.action or "", request)
        return self._act(route.pipeline, route.action or "")

    def _act(self, name: str, action: str) -> Response:
        control = self.control
        extra: dict[str, object] = {}
        try:
            if action == "trigger":
                decision = self.throttle.request(name, control.trigger)
            elif action == "pause":
                control.pause(name)
            elif action == "resume":
                control.resume(name)
            elif action == "retry":
                control.retry(name)
            else:
                extra["skipped_batch"] = control.skip(name)
        except KeyError:
            return error(404, "unknown pipeline")
        except ActionRefused as exc:
            return error(409, exc.message, hint=exc.hint)
        except OdibiError as exc:  # e.g. a checkpoint that cannot be changed now
            return error(409, "action not possible now", hint=exc.hint or str(exc))
        described = control.pipeline(name) or {}
        if action == "trigger":
            # A failed or paused pipeline ignores the trigger: the state lets callers say so.
            return json_response(202, {
                "action": action, "status": "accepted", "coalesced": decision.coalesced,
                "deferred_seconds": round(decision.deferred_seconds, 3),
                "state": described.get("state"),
            })
        return json_response(200, {"action": action, "state": described.get("state"), **extra})
