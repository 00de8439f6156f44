"""StreamManager: one worker thread per pipeline, coalesced wake-ups, bounded concurrency.

Lifecycle contract:
    * The daemon calls :meth:`StreamManager.add` once a pipeline's lease is held, passing a
      factory that builds the pipeline's runner around the stop event the worker owns; the
      manager starts the pipeline's thread. :meth:`remove` stops one pipeline, :meth:`drain`
      all of them (each waits for the in-flight batch up to a grace period). A worker closes
      its runner (and every client it opened) when its thread ends.
    * Triggers call :meth:`wake` from any thread. Data wake-ups are coalesced into one flag (a
      burst of 1,000 file events is one run of "batches until caught up"); forced wake-ups
      (ticks, API) force one batch, and catch-up ticks are counted.
    * A bounded semaphore caps batches running at once across all pipelines.
    * Failures (by type, see ``PipelineWorker._handle_failure``): retryable errors (outages) are
      retried with exponential backoff + jitter, capped, until the service returns (readiness
      reports degraded meanwhile); unexpected errors get ``max_attempts``; a terminal error
      fails at once. A ``failed`` pipeline ignores wake-ups until :meth:`resume`; other
      pipelines are unaffected.
    * The manager is the workers' :class:`~odibi_stream.service.worker.WorkerHost`: after every
      commit it publishes metrics, hands the report to :attr:`StreamManager.observers` (stories,
      alerts, traces — they only queue) and tells commit listeners (``after`` triggers) from the
      committing pipeline's thread; a worker's lease loss goes to ``on_lease_lost``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Protocol

from odibi_stream.config.options.triggers import CONTINUOUS_POLL_SECONDS
from odibi_stream.core.clock import SYSTEM_CLOCK, Clock
from odibi_stream.core.wake import WakeFn, WakeReason
from odibi_stream.observability import metrics
from odibi_stream.runtime.report import BatchReport
from odibi_stream.service.worker import PipelineWorker, RunnerFactory

log = logging.getLogger(__name__)

CommitListener = Callable[[str], None]


class Observer(Protocol):
    """What the manager tells about batches (``service.observers.ObserverSet``)."""

    def batch_committed(self, name: str, report: BatchReport, status: dict[str, Any]) -> None: ...

    def batch_failed(self, name: str, error: BaseException, retrying: bool, status: dict[str, Any]) -> None: ...


class StreamManager:
    """Owns every pipeline worker of a daemon (see the module docstring).

    Args:
        max_concurrent_batches: Batches allowed to run at once across pipelines.
        on_lease_lost: Called (from a worker thread) when a batch hit ``LeaseLost``.
        clock: Where workers wait (backoff).
    """

    def __init__(
        self,
        max_concurrent_batches: int = 4,
        on_lease_lost: Callable[[str], None] | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._slots = threading.BoundedSemaphore(max_concurrent_batches)
        self._workers: dict[str, PipelineWorker] = {}
        self._listeners: list[CommitListener] = []
        self._lock = threading.Lock()
        self._accepting = True
        self.on_lease_lost = on_lease_lost
        self.clock = clock
        self.observers: Observer | None = None

    # ------------------------------------------------------------------ membership
    def add(
        self,
        name: str,
        factory: RunnerFactory,
        *,
        max_attempts: int = 5,
        continuous: bool = False,
        poll_seconds: float = CONTINUOUS_POLL_SECONDS,
        initial_wake: bool = False,
        paused: bool = False,
    ) -> PipelineWorker:
        """Start the worker of pipeline ``name``; it builds its runner with ``factory(stop)``."""
        worker = PipelineWorker(
            name, self, factory, max_attempts=max_attempts, continuous=continuous,
            poll_seconds=poll_seconds, initial_wake=initial_wake, clock=self.clock,
        )
        worker.paused = paused
        with self._lock:
            if name in self._workers:
                raise KeyError(f"pipeline {name!r} is already running")
            self._workers[name] = worker
        worker.thread.start()
        return worker

    def remove(self, name: str, grace_seconds: float = 30.0) -> bool:
        """Stop one pipeline; True if its thread ended within ``grace_seconds``."""
        with self._lock:
            worker = self._workers.pop(name, None)
        if worker is None:
            return True
        return self._stop_workers([worker], grace_seconds)

    def drain(self, grace_seconds: float) -> bool:
        """Stop accepting wake-ups, stop every pipeline, wait up to ``grace_seconds``.

        Returns:
            True if every in-flight batch finished in time. Abandoned batches are replayed from
            their write-ahead entry on the next start.
        """
        with self._lock:
            self._accepting = False
            workers = list(self._workers.values())
            self._workers.clear()
        return self._stop_workers(workers, grace_seconds)

    def _stop_workers(self, workers: list[PipelineWorker], grace_seconds: float) -> bool:
        for w in workers:
            w.request_stop()
        deadline = self.clock.monotonic() + grace_seconds
        for w in workers:
            if w.thread is not threading.current_thread():
                w.thread.join(max(0.0, deadline - self.clock.monotonic()))
        late = [w.name for w in workers if w.thread.is_alive()]
        if late:
            log.warning("drain deadline reached; abandoned in-flight batches of: %s", ", ".join(late))
        return not late

    # ------------------------------------------------------------------ requests
    def worker(self, name: str) -> PipelineWorker:
        """The worker of ``name`` (KeyError if not running here)."""
        with self._lock:
            return self._workers[name]

    def names(self) -> list[str]:
        """Pipelines running in this manager."""
        with self._lock:
            return sorted(self._workers)

    def wake(self, name: str, reason: WakeReason) -> None:
        """Wake ``name`` (ignored while draining or if not running here)."""
        with self._lock:
            worker = self._workers.get(name) if self._accepting else None
        if worker is not None:
            worker.wake(reason)

    def waker(self, name: str) -> WakeFn:
        """A ``wake(reason)`` callback bound to ``name`` for a trigger."""
        return lambda reason: self.wake(name, reason)

    def pause(self, name: str) -> None:
        """Pause ``name`` (KeyError if not running here)."""
        self.worker(name).set_paused(True)

    def resume(self, name: str) -> None:
        """Clear paused/failed of ``name`` (KeyError if not running here)."""
        self.worker(name).set_paused(False)

    def add_commit_listener(self, listener: CommitListener) -> None:
        """Call ``listener(pipeline)`` after each commit of any pipeline."""
        with self._lock:
            self._listeners.append(listener)

    def remove_commit_listener(self, listener: CommitListener) -> None:
        """Undo :meth:`add_commit_listener` (no error if absent)."""
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    # ------------------------------------------------------------------ WorkerHost
    def acquire_slot(self, stop: threading.Event) -> bool:
        """Take a concurrency slot; False if ``stop`` was set while waiting."""
        while not stop.is_set():
            if self._slots.acquire(timeout=0.2):
                return True
        return False

    def release_slot(self) -> None:
        """Give a slot back."""
        self._slots.release()

    def committed(self, name: str, report: BatchReport) -> None:
        """Publish the commit's metrics and tell commit listeners (``after`` triggers)."""
        self._publish(name, report, "committed", None)
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(name)
            except Exception:
                log.exception("commit listener failed")

    def batch_failed(self, name: str, error: BaseException, retrying: bool) -> None:
        """Publish a failed attempt's metrics."""
        self._publish(name, None, "retry" if retrying else "failed", error)

    def lease_lost(self, name: str) -> None:
        """Forward a worker's LeaseLost to the owner of leases."""
        if self.on_lease_lost is not None:
            self.on_lease_lost(name)

    def _publish(self, name: str, report: BatchReport | None, status: str, error: BaseException | None) -> None:
        try:
            worker = self.worker(name)
        except KeyError:
            return  # removed meanwhile: its gauges no longer matter
        state = worker.describe_state()
        try:
            metrics.record_batch(name, report, status, error)
            metrics.record_status(name, state)
        except Exception:
            log.exception("metrics update failed: pipeline=%s", name)
        observers = self.observers
        if observers is None:
            return
        if report is not None:
            observers.batch_committed(name, report, state)
        elif error is not None:
            observers.batch_failed(name, error, status == "retry", state)
