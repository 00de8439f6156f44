"""PipelineWorker: the thread that runs one pipeline's batches serially (see StreamManager).

Lifecycle contract: created and started by :class:`~odibi_stream.runtime.stream_manager.StreamManager`
(``add``), which owns its ``stop`` event and joins its thread (``remove``/``drain``). It waits
on one Event for wake-ups (no busy loop; ``continuous`` pipelines poll ``has_new_data`` every
``poll_seconds`` while idle), takes a concurrency slot from the manager around each batch, and
reports commits and lease losses back to the manager.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from odibi_stream.config.models import PipelineConfig
from odibi_stream.exceptions import LeaseLost, OdibiError, is_retryable
from odibi_stream.triggers.base import FORCED_REASONS, REASON_CATCH_UP

if TYPE_CHECKING:
    from odibi_stream.runtime.stream_manager import StreamManager

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
        """Record a failure; True if the batch should be retried.

        By type: a retryable error (broker or storage outage) is retried for as long as it
        lasts, with backoff capped at ``BACKOFF_CAP`` and readiness degraded, so the pipeline
        resumes by itself when the service returns; a terminal OdibiError (bad config or data)
        fails at once; anything else (unknown, maybe transient) gets ``max_attempts``.
        """
        self.last_error = f"{type(exc).__name__}: {exc}"
        terminal = isinstance(exc, OdibiError) and not exc.retryable
        retry = is_retryable(exc) or (not terminal and attempt < self.max_attempts)
        if retry:
            self.degraded = True
            log.warning("batch failed (attempt %d, retrying): pipeline=%s: %s",
                        attempt, self.name, self.last_error)
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
