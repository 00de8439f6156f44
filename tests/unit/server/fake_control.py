"""A thread-safe ControlPlane test double (the protocol boundary, not the server)."""

from __future__ import annotations

import threading
from datetime import datetime, timezone
from typing import Any

from odibi_stream.observability.metrics import Metrics
from odibi_stream.service.control import ActionRefused

XSS_NAME = "<script>alert(1)</script>"


class FakeDaemon:
    """A thread-safe ControlPlane test double (the protocol boundary, not the server)."""

    def __init__(self, names: list[str]) -> None:
        self.lock = threading.Lock()
        self.states = dict.fromkeys(names, "idle")
        self.calls: list[tuple[str, str]] = []
        self.ready = True
        self.metrics = Metrics()
        self.explode = False

    def _describe(self, name: str) -> dict[str, Any]:
        return {
            "name": name, "state": self.states[name], "trigger": "file_watch", "engine": "pandas",
            "last_batch": {"batch": 3, "rows_in": 5, "rows_out": 4, "replayed": False},
            "last_error": None, "lag": {"src": {"files": 1}},
            "watermarks": {"src": datetime(2024, 5, 1, 12, tzinfo=timezone.utc)},
            "nodes": ["src", "out"], "edges": [["src", "out"]], "reload_error": None,
            "degraded": False, "batches": 3,
        }

    def pipelines(self) -> list[dict[str, Any]]:
        if self.explode:
            raise RuntimeError("boom password=hunter2secret")
        with self.lock:
            return [self._describe(n) for n in sorted(self.states)]

    def pipeline(self, name: str) -> dict[str, Any] | None:
        with self.lock:
            return self._describe(name) if name in self.states else None

    def _act(self, action: str, name: str, state: str | None) -> None:
        with self.lock:
            if name not in self.states:
                raise KeyError(name)
            self.calls.append((action, name))
            if state:
                self.states[name] = state

    def trigger(self, name: str) -> None:
        self._act("trigger", name, None)

    def pause(self, name: str) -> None:
        self._act("pause", name, "paused")

    def resume(self, name: str) -> None:
        self._act("resume", name, "idle")

    def retry(self, name: str) -> None:
        with self.lock:
            state = self.states.get(name)
        if state is not None and state != "failed":
            raise ActionRefused(f"pipeline is {state}, not failed", hint="trigger it")
        self._act("retry", name, "idle")

    def skip(self, name: str) -> int:
        with self.lock:
            state = self.states.get(name)
        if state is not None and state not in ("failed", "paused"):
            raise ActionRefused(f"pipeline is {state}", hint="pause it first")
        self._act("skip", name, "idle" if state == "failed" else None)
        return 3

    def batches(self, name: str, limit: int) -> list[dict[str, Any]] | None:
        with self.lock:
            if name not in self.states:
                return None
        return [{"batch": b, "status": "committed", "rows_in": 5, "rows_out": 4} for b in (3, 2, 1)][:limit]

    def batch(self, name: str, batch: int) -> dict[str, Any] | None:
        if name not in self.states or batch not in (1, 2, 3):
            return None
        return {"version": 1, "kind": "story", "pipeline": name, "batch": batch, "status": "committed"}

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        return self.ready, {"orders": {"state": "idle", "lease": "held", "degraded": False}, "reload_error": None}

    def metrics_text(self) -> tuple[bytes, str]:
        return self.metrics.render()
