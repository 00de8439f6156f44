"""The Trigger protocol: what wakes a pipeline.

Lifecycle contract:
    * The ScheduleManager builds one trigger per leased pipeline and calls :meth:`Trigger.start`
      with a ``wake`` callback; it calls :meth:`Trigger.stop` when the pipeline is removed,
      its lease is lost or the daemon drains. ``stop`` is idempotent and returns only once the
      trigger will call ``wake`` no more (and every client it opened is closed).
    * ``wake(reason)`` may be called from any thread, any number of times; it must be cheap and
      never block (the StreamManager coalesces). The :class:`~odibi_stream.core.wake.WakeReason`
      says whether a run is *forced* (a tick: run a batch even without new data) or a *data*
      hint (run only if data moved).
    * Data-arrival triggers are built from what the pipeline's sources say wakes them
      (``SourceSpec.watch()``): folder events for local files, polled probes for message buses
      and cloud folders.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from odibi_stream.core.wake import WakeFn, WakeReason

__all__ = ["Trigger", "TriggerGroup", "WakeFn", "WakeReason"]


@runtime_checkable
class Trigger(Protocol):
    """Something that calls ``wake`` when its pipeline should run."""

    def start(self, wake: WakeFn) -> None:
        """Begin calling ``wake``; called once."""
        ...

    def stop(self) -> None:
        """Stop calling ``wake`` (idempotent, joins any thread it owns)."""
        ...


class TriggerGroup:
    """Several triggers acting as one (a pipeline with several sources to watch)."""

    def __init__(self, triggers: Sequence[Trigger]) -> None:
        self.triggers = list(triggers)

    def start(self, wake: WakeFn) -> None:
        """Start every member with the same ``wake``."""
        for trigger in self.triggers:
            trigger.start(wake)

    def stop(self) -> None:
        """Stop every member (idempotent)."""
        for trigger in self.triggers:
            trigger.stop()
