"""The readiness verdict: the daemon's own answer plus ``server.readiness_fail_on``.

Lifecycle contract:
    * Called by the routers for every ``GET /readyz`` (API and probe listeners) with what
      :meth:`~odibi_stream.service.control.ControlPlane.readiness` returned.
    * The ``reason`` is a short sentence that names no pipeline (the probe listener is
      unauthenticated); per-pipeline detail is only served on the authenticated API listener.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Verdict:
    """Readiness as served.

    Attributes:
        ready: True answers 200, False 503.
        reason: Why not ready (None when ready).
    """

    ready: bool
    reason: str | None

    def payload(self) -> dict[str, Any]:
        """The minimal body: status and reason."""
        return {"status": "ready" if self.ready else "not_ready", "reason": self.reason}


def assess(ready: bool, detail: Mapping[str, Any], fail_on: Collection[str]) -> Verdict:
    """Combine the daemon's readiness with the states that must fail the probe.

    Args:
        ready: The daemon's own verdict (loaded, leases held).
        detail: The daemon's detail; ``detail["pipelines"]`` maps names to ``{"state", "lease"}``.
        fail_on: Pipeline states that make the daemon not ready (``["failed"]`` by default).
    """
    pipelines = detail.get("pipelines")
    items = list(pipelines.values()) if isinstance(pipelines, Mapping) else []
    states = Counter(str(item.get("state")) for item in items if isinstance(item, Mapping))
    failing = [f"{states[s]} pipeline(s) {s}" for s in sorted(fail_on) if states.get(s)]
    if failing:
        return Verdict(False, "; ".join(failing))
    if ready:
        return Verdict(True, None)
    waiting = sum(
        1 for item in items
        if isinstance(item, Mapping) and (not item.get("lease") or item.get("state") == "waiting_lease")
    )
    if waiting:
        return Verdict(False, f"{waiting} pipeline(s) waiting for their lease")
    return Verdict(False, "daemon not started")
