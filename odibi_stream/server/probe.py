"""The probe listener's routes: ``GET /healthz`` and ``GET /readyz`` only, without auth.

Lifecycle contract:
    * Served on ``server.probe_port`` (same bind host as the API) when it is set, so
      orchestrator probes (Kubernetes ``httpGet``, which cannot carry a secret) work while the API
      requires a token. It has its own small connection cap and worker pool, so a flood on the
      API port cannot starve probes.
    * Bodies carry no pipeline data: ``{"status"}`` and ``{"status", "reason"}``.
    * The ``Host`` check applies here too (IP literals, as probes send, always pass).
"""

from __future__ import annotations

from odibi_stream.server.guards import HostPolicy
from odibi_stream.server.readiness import assess
from odibi_stream.server.rejections import Rejections
from odibi_stream.server.responses import Request, Response, error, json_response
from odibi_stream.server.routes import host_refusal, internal_error
from odibi_stream.service.control import ControlPlane

PROBE_ROUTES = ("/healthz", "/readyz")


class ProbeRouter:
    """Routes of the probe listener (see the module contract)."""

    def __init__(self, control: ControlPlane, hosts: HostPolicy, fail_on: frozenset[str],
                 rejections: Rejections) -> None:
        self.control = control
        self.hosts = hosts
        self.fail_on = fail_on
        self.rejections = rejections

    def precheck(self, request: Request) -> Response | None:
        """Refuse a foreign ``Host`` before any body is read."""
        return host_refusal(self.hosts, request, self.rejections)

    def inline(self, request: Request) -> bool:
        """``/healthz`` is answered on the event loop."""
        return request.method == "GET" and request.path == "/healthz"

    def handle(self, request: Request) -> Response:
        """Answer one probe (never raises)."""
        refused = self.precheck(request)
        if refused is not None:
            return refused
        if request.path not in PROBE_ROUTES:
            return error(404, "not found")
        if request.method != "GET":
            return error(405, "method not allowed", headers=(("Allow", "GET"),))
        if request.path == "/healthz":
            return json_response(200, {"status": "ok"})
        try:
            ready, detail = self.control.readiness()
        except Exception as exc:
            return internal_error(request.method, request.path, exc)
        verdict = assess(ready, detail, self.fail_on)
        return json_response(200 if verdict.ready else 503, verdict.payload())
