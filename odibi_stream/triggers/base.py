"""The Trigger protocol: what wakes a pipeline.

Lifecycle contract:
    * The ScheduleManager builds one trigger per leased pipeline and calls :meth:`Trigger.start`
      with a ``wake`` callback; it calls :meth:`Trigger.stop` when the pipeline is removed,
      its lease is lost or the daemon drains. ``stop`` is idempotent and returns only once the
      trigger will call ``wake`` no more.
    * ``wake(reason)`` may be called from any thread, any number of times; it must be cheap and
      never block (the StreamManager coalesces). The reason says whether a run is *forced*
      (a tick: run a batch even without new data) or a *data* hint (run only if data moved):
      see :data:`FORCED_REASONS`.
    * Data-arrival triggers (Kafka, Event Hubs) implement the same protocol: they detect that
      end offsets moved and call ``wake("data")``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

WakeFn = Callable[[str], None]
"""``wake(reason)``: ask the pipeline's runner thread to run."""

REASON_DATA = "data"
"""New data may be available: run only if a source moved (coalesced)."""
REASON_TICK = "tick"
"""A schedule tick (cron/interval), an ``after`` upstream commit or an API call: force one run (coalesced)."""
REASON_CATCH_UP = "catch_up"
"""One missed schedule tick being caught up: forced, and counted (never coalesced)."""

FORCED_REASONS = frozenset({REASON_TICK, REASON_CATCH_UP})


@runtime_checkable
class Trigger(Protocol):
    """Something that calls ``wake`` when its pipeline should run."""

    def start(self, wake: WakeFn) -> None:
        """Begin calling ``wake``; called once."""
        ...

    def stop(self) -> None:
        """Stop calling ``wake`` (idempotent, joins any thread it owns)."""
        ...
