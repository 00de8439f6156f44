"""StreamManager: one runner thread per pipeline, coalesced wake-ups, bounded concurrency.

Lifecycle contract:
    * The daemon calls :meth:`StreamManager.add` once a pipeline's lease is held, passing a
      factory that builds the pipeline's runner around the stop event the manager owns; the
      manager starts the pipeline's thread. :meth:`remove` stops one pipeline, :meth:`drain`
      all of them (each waits for the in-flight batch up to a grace period).
    * Triggers call :meth:`wake` from any thread. Data wake-ups are coalesced into one flag (a
      burst of 1,000 file events is one run of "batches until caught up"); forced wake-ups (ticks,
      API) force one batch, and catch-up ticks are counted (see ``odibi_stream.triggers.base``).
    * A bounded semaphore caps batches running at once across all pipelines.
    * Failures: retryable errors are retried with exponential backoff + jitter; after
      ``max_attempts`` consecutive failures, or at once for a terminal error, the pipeline is
      ``failed`` and ignores wake-ups until :meth:`resume`; other pipelines are unaffected.
    * After every commit the manager publishes metrics and tells commit listeners (``after``
      triggers) from the committing pipeline's thread.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from odibi_stream.config.models import PipelineConfig
from odibi_stream.exceptions import LeaseLost, is_retryable
from odibi_stream.triggers.base import FORCED_REASONS, REASON_CATCH_UP

log = logging.getLogger(__name__)

BACKOFF_BASE = 0.5
BACKOFF_CAP = 30.0


class BatchRunner(Protocol):
    """What the manager needs of ``odibi_stream.runtime.runner.PipelineRunner``."""

    name: str
    config: PipelineConfig

    def run_batch(self, *, force: bool = False) -> Any: ...

    def has_new_data(self) -> bool: ...

    def status(self) -> dict[str, Any]: ...


RunnerFactory = Callable[[threading.Event], BatchRunner]
CommitListener = Callable[[str], None]


def backoff_delay(attempt: int, base: float = BACKOFF_BASE, cap: float = BACKOFF_CAP) -> float:
    """Full-jitter exponential backoff: uniform in [0.5, 1.0] x min(cap, base * 2^(attempt-1))."""
    return min(cap, base * (2 ** max(0, attempt - 1))) * random.uniform(0.5, 1.0)


def publish(pipeline: str, result: Any, status: str, error: BaseException | None, snapshot: dict[str, Any]) -> None:
    """The one place that feeds ``odibi_stream.observability.metrics``."""
    try:
        from odibi_stream.observability import metrics
    except ImportError:  # metrics are optional for embedding; the runtime works without them
        return
    try:
        metrics.record_batch(pipeline, result, status, error)
        metrics.record_status(pipeline, snapshot)
    except Exception:
        log.exception("metrics update failed: pipeline=%s", pipeline)


class PipelineWorker:
    """The thread that runs one pipeline's batches serially. Created by :class:`StreamManager`."""

    def __init__(
        self,
        manager: StreamManager,
        factory: RunnerFactory,
        *,
        continuous: bool,
        poll_seconds: float,
        initial_wake: bool,
    ) -> None:
        self.manager = manager
        self.stop = threading.Event()
        self.runner = factory(self.stop)
        self.name = self.runner.name
        self.continuous = continuous
        self.poll = poll_seconds
        self.max_attempts = self.runner.config.max_attempts
        self._signal = threading.Event()
        self._lock = threading.Lock()
        self._data = initial_wake or continuous
        self._forced = 0
        self.paused = False
        self.failed = False
        self.lease_lost = False
        self.busy = False
        self.degraded = False
        self.last_batch: Any = None
        self.last_error: str | None = None
        self.batches = 0
        self.wakeups = 0
        self.snapshot: dict[str, Any] = {}
        self.thread = threading.Thread(target=self._main, name=f"odibi-runner-{self.name}", daemon=True)
        if self._data:
            self._signal.set()

    # ------------------------------------------------------------------ requests
    def wake(self, reason: str) -> None:
        """Record a wake-up (never blocks)."""
        with self._lock:
            self.wakeups += 1
            if reason == REASON_CATCH_UP:
                self._forced += 1
            elif reason in FORCED_REASONS:
                self._forced = max(self._forced, 1)
            else:
                self._data = True
        self._signal.set()

    def set_paused(self, paused: bool) -> None:
        """Pause, or resume (clearing ``failed`` and re-checking for data)."""
        with self._lock:
            self.paused = paused
            if not paused:
                self.failed = False
                self.last_error = None
                self._data = True
        self._signal.set()

    @property
    def state(self) -> str:
        """running | idle | paused | failed | waiting_lease."""
        if self.lease_lost:
            return "waiting_lease"
        if self.failed:
            return "failed"
        if self.paused:
            return "paused"
        return "running" if self.busy else "idle"

    # ------------------------------------------------------------------ thread
    def _main(self) -> None:
        self._refresh()
        while not self.stop.is_set():
            signalled = self._signal.wait(self.poll if self.continuous else None)
            if self.stop.is_set():
                break
            with self._lock:
                self._signal.clear()
                forced, data = self._forced, self._data
                self._forced, self._data = 0, False
                blocked = self.paused or self.failed
            if blocked:
                continue
            if not signalled and self.continuous:
                data = self._probe()
            if forced or data:
                self._cycle(forced)

    def _probe(self) -> bool:
        try:
            return self.runner.has_new_data()
        except Exception as exc:
            log.warning("has_new_data failed (will retry): pipeline=%s: %s", self.name, exc)
            return False

    def _cycle(self, forced: int) -> None:
        """``forced`` forced batches, then batches until caught up."""
        for _ in range(forced):
            ok, _result = self._attempt(force=True)
            if not ok or self.stop.is_set():
                return
        while not self.stop.is_set():
            ok, result = self._attempt(force=False)
            if not ok or result is None:
                return

    def _attempt(self, *, force: bool) -> tuple[bool, Any]:
        """One batch with retries; returns (ok, result-or-None)."""
        attempt = 0
        while not self.stop.is_set():
            attempt += 1
            try:
                result = self._run_one(force)
            except LeaseLost as exc:
                self._lost(exc)
                return False, None
            except Exception as exc:
                if not self._handle_failure(exc, attempt):
                    return False, None
                self.stop.wait(backoff_delay(attempt))
                continue
            self._succeeded(result)
            return True, result
        return False, None

    def _run_one(self, force: bool) -> Any:
        if not self.manager.acquire_slot(self.stop):
            return None
        self.busy = True
        try:
            return self.runner.run_batch(force=force)
        finally:
            self.busy = False
            self.manager.release_slot()

    def _succeeded(self, result: Any) -> None:
        self.degraded = False
        if result is None:
            return
        self.last_error = None
        self.batches += 1
        self.last_batch = result
        self._refresh()
        publish(self.name, result, "committed", None, self.describe_state())
        self.manager.notify_commit(self.name)

    def _handle_failure(self, exc: BaseException, attempt: int) -> bool:
        """Record a failure; True if the batch should be retried."""
        self.last_error = f"{type(exc).__name__}: {exc}"
        retry = is_retryable(exc) and attempt < self.max_attempts
        if retry:
            self.degraded = True
            log.warning("batch failed (attempt %d/%d, retrying): pipeline=%s: %s",
                        attempt, self.max_attempts, self.name, self.last_error)
        else:
            self.degraded = False
            self.failed = True
            log.error("pipeline failed after %d attempt(s): pipeline=%s: %s", attempt, self.name, self.last_error)
        publish(self.name, None, "retry" if retry else "failed", exc, self.describe_state())
        return retry

    def _lost(self, exc: LeaseLost) -> None:
        self.lease_lost = True
        self.last_error = f"{type(exc).__name__}: {exc}"
        log.warning("lease lost during a batch: pipeline=%s", self.name)
        self.manager.report_lease_lost(self.name)

    def _refresh(self) -> None:
        try:
            self.snapshot = self.runner.status()
        except Exception as exc:  # status is informative only
            log.warning("status refresh failed: pipeline=%s: %s", self.name, exc)

    def describe_state(self) -> dict[str, Any]:
        """Thread-safe status snapshot (no runner calls)."""
        return {
            "state": self.state,
            "degraded": self.degraded,
            "last_error": self.last_error,
            "batches": self.batches,
            "wakeups": self.wakeups,
            "lag": self.snapshot.get("lag", {}),
            "watermarks": self.snapshot.get("watermarks", {}),
            "last_committed": self.snapshot.get("last_committed"),
        }


class StreamManager:
    """Owns every pipeline worker of a daemon.

    Args:
        max_concurrent_batches: Batches allowed to run at once across pipelines.
        on_lease_lost: Called (from a runner thread) when a batch hit ``LeaseLost``.
    """

    def __init__(self, max_concurrent_batches: int = 4, on_lease_lost: Callable[[str], None] | None = None) -> None:
        self._slots = threading.BoundedSemaphore(max_concurrent_batches)
        self._workers: dict[str, PipelineWorker] = {}
        self._listeners: list[CommitListener] = []
        self._lock = threading.Lock()
        self._accepting = True
        self._on_lease_lost = on_lease_lost

    # ------------------------------------------------------------------ membership
    def add(
        self,
        factory: RunnerFactory,
        *,
        continuous: bool = False,
        poll_seconds: float = 0.5,
        initial_wake: bool = False,
    ) -> PipelineWorker:
        """Build a runner through ``factory(stop_event)`` and start its thread."""
        worker = PipelineWorker(
            self, factory, continuous=continuous, poll_seconds=poll_seconds, initial_wake=initial_wake
        )
        with self._lock:
            if worker.name in self._workers:
                raise KeyError(f"pipeline {worker.name!r} is already running")
            self._workers[worker.name] = worker
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

    @staticmethod
    def _stop_workers(workers: list[PipelineWorker], grace_seconds: float) -> bool:
        for w in workers:
            w.stop.set()
            w._signal.set()
        deadline = time.monotonic() + grace_seconds
        for w in workers:
            if w.thread is not threading.current_thread():
                w.thread.join(max(0.0, deadline - time.monotonic()))
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

    def wake(self, name: str, reason: str) -> None:
        """Wake ``name`` (ignored while draining or if not running here)."""
        with self._lock:
            worker = self._workers.get(name) if self._accepting else None
        if worker is not None:
            worker.wake(reason)

    def waker(self, name: str) -> Callable[[str], None]:
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

    # ------------------------------------------------------------------ worker callbacks
    def notify_commit(self, name: str) -> None:
        """Tell commit listeners that ``name`` committed (called by workers)."""
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(name)
            except Exception:
                log.exception("commit listener failed")

    def report_lease_lost(self, name: str) -> None:
        """Forward a worker's LeaseLost to the owner of leases."""
        if self._on_lease_lost is not None:
            self._on_lease_lost(name)

    def acquire_slot(self, stop: threading.Event) -> bool:
        """Take a concurrency slot; False if ``stop`` was set while waiting."""
        while not stop.is_set():
            if self._slots.acquire(timeout=0.2):
                return True
        return False

    def release_slot(self) -> None:
        """Give a slot back."""
        self._slots.release()
