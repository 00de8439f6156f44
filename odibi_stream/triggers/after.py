"""The ``after`` trigger: run a pipeline when named upstream pipelines commit a batch.

Lifecycle contract: the ScheduleManager starts it and subscribes :meth:`AfterTrigger.notify`
to the StreamManager's commit notifications; the StreamManager calls ``notify(upstream)`` from
the upstream's runner thread right after each commit. Commits of other pipelines are ignored.
"""

from __future__ import annotations

import threading

from odibi_stream.core.wake import WakeFn, WakeReason


class AfterTrigger:
    """Fires a forced (coalesced) run whenever one of ``upstreams`` commits.

    Args:
        upstreams: Names of the pipelines whose commits wake this one.
    """

    def __init__(self, upstreams: str | list[str]) -> None:
        self.upstreams = frozenset([upstreams] if isinstance(upstreams, str) else upstreams)
        self._wake: WakeFn | None = None
        self._lock = threading.Lock()

    def start(self, wake: WakeFn) -> None:
        """Begin forwarding upstream commits to ``wake``."""
        with self._lock:
            self._wake = wake

    def stop(self) -> None:
        """Stop forwarding."""
        with self._lock:
            self._wake = None

    def notify(self, pipeline: str) -> None:
        """Called after ``pipeline`` committed a batch; wakes if it is an upstream."""
        with self._lock:
            wake = self._wake
        if wake is not None and pipeline in self.upstreams:
            wake(WakeReason.TICK)
