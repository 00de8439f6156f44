"""PipelineWorker: the thread that runs one pipeline's batches serially.

Lifecycle contract: created by the :class:`~odibi_stream.service.stream_manager.StreamManager`,
which passes itself as the worker's :class:`WorkerHost` (the narrow interface a worker may call:
concurrency slots, commit and lease-loss notifications) and owns the worker's ``stop`` event and
thread. The worker builds its runner in its own thread (so a slow open never blocks the
manager), waits on one Event for wake-ups (no busy loop; ``continuous`` pipelines probe
``has_new_data`` every ``poll_seconds`` while idle), takes a slot around each batch, and closes
its runner when the thread ends. No exception ends the thread: every failure is recorded in
``last_error`` and handled by type (retry with backoff, ``failed``, or lease loss).
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Protocol, TypeVar

from odibi_stream.config.options.triggers import CONTINUOUS_POLL_SECONDS
from odibi_stream.core.clock import SYSTEM_CLOCK, Clock
from odibi_stream.core.resources import out_of_space
from odibi_stream.core.wake import WakeReason
from odibi_stream.exceptions import LeaseLost, OdibiError, is_retryable, root_cause
from odibi_stream.runtime.failure import failure_detail
from odibi_stream.runtime.report import BatchReport

log = logging.getLogger(__name__)

BACKOFF_BASE = 0.5
BACKOFF_CAP = 30.0


class BatchRunner(Protocol):
    """What a worker needs of ``odibi_stream.runtime.runner.PipelineRunner``."""

    name: str

    def run_batch(self, *, force: bool = False) -> BatchReport | None: ...

    def has_new_data(self) -> bool: ...

    def status(self) -> dict[str, Any]: ...

    def close(self) -> None: ...


class WorkerHost(Protocol):
    """What a worker may ask of the manager that owns it."""

    def acquire_slot(self, stop: threading.Event) -> bool:
        """Take a concurrency slot; False if ``stop`` was set while waiting."""
        ...

    def release_slot(self) -> None:
        """Give a slot back."""
        ...

    def committed(self, name: str, report: BatchReport) -> None:
        """A batch of ``name`` committed (metrics, ``after`` triggers)."""
        ...

    def batch_failed(self, name: str, error: BaseException, retrying: bool) -> None:
        """A batch attempt of ``name`` failed (metrics); ``retrying`` says what happens next."""
        ...

    def lease_lost(self, name: str) -> None:
        """A batch of ``name`` hit LeaseLost: hand the pipeline back to lease orchestration."""
        ...


RunnerFactory = Callable[[threading.Event], BatchRunner]
T = TypeVar("T")


def backoff_delay(attempt: int, base: float = BACKOFF_BASE, cap: float = BACKOFF_CAP) -> float:
    """Full-jitter exponential backoff: uniform in [0.5, 1.0] x min(cap, base * 2^(attempt-1))."""
    return min(cap, base * (2 ** max(0, attempt - 1))) * random.uniform(0.5, 1.0)


class PipelineWorker:
    """The thread that runs one pipeline's batches serially (see the module docstring).

    Args:
        name: Pipeline name.
        host: The owning manager.
        factory: Builds the runner around the worker's ``stop`` event (in the worker's thread).
        max_attempts: Attempts for unexpected (non-retryable, non-terminal) errors.
        continuous: Probe for data every ``poll_seconds`` while idle.
        initial_wake: Run (if there is data) as soon as the thread starts.
        clock: Where backoff waits happen.
    """

    def __init__(
        self,
        name: str,
        host: WorkerHost,
        factory: RunnerFactory,
        *,
        max_attempts: int = 5,
        continuous: bool = False,
        poll_seconds: float = CONTINUOUS_POLL_SECONDS,
        initial_wake: bool = False,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.name = name
        self.host = host
        self.factory = factory
        self.max_attempts = max_attempts
        self.continuous = continuous
        self.poll = poll_seconds
        self.clock = clock
        self.stop = threading.Event()
        self.runner: BatchRunner | None = None
        self.signal = threading.Event()
        self._lock = threading.Lock()
        self._data = initial_wake or continuous
        self._forced = 0
        self.paused = False
        self.failed = False
        self.lease_lost = False
        self.busy = False
        self.degraded = False
        self.last_batch: BatchReport | None = None
        self.last_error: str | None = None
        self.error: dict[str, Any] | None = None
        self.problem: str | None = None  # e.g. the lease cannot be renewed (see note_problem)
        self.batches = 0
        self.wakeups = 0
        self.snapshot: dict[str, Any] = {}
        self._calls: list[tuple[Callable[[BatchRunner], Any], Future[Any]]] = []
        self.thread = threading.Thread(target=self._main, name=f"odibi-runner-{name}", daemon=True)
        if self._data:
            self.signal.set()

    # ------------------------------------------------------------------ requests
    def wake(self, reason: WakeReason) -> None:
        """Record a wake-up (never blocks)."""
        with self._lock:
            self.wakeups += 1
            if reason is WakeReason.CATCH_UP:
                self._forced += 1
            elif reason.forced:
                self._forced = max(self._forced, 1)
            else:
                self._data = True
        self.signal.set()

    def set_paused(self, paused: bool) -> None:
        """Pause, or resume (clearing ``failed`` and re-checking for data)."""
        with self._lock:
            self.paused = paused
            if not paused:
                self.failed = False
                self.last_error = None
                self.error = None
                self._data = True
        self.signal.set()

    def clear_failure(self) -> None:
        """Forget a terminal failure and look for data again (``retry``); a pause is kept."""
        with self._lock:
            self.failed = False
            self.last_error = None
            self.error = None
            self._data = True
        self.signal.set()

    def call(self, fn: Callable[[BatchRunner], T]) -> Future[T]:
        """Run ``fn(runner)`` on the worker's thread between batches (operator repairs).

        The runner is not thread-safe, so anything that changes what it holds in memory (a
        skipped batch) runs where its batches run. The future fails with RuntimeError if the
        thread is gone (its pipeline could not be opened).
        """
        future: Future[T] = Future()
        if not self.thread.is_alive() or self.runner is None:
            future.set_exception(RuntimeError(f"pipeline {self.name} has no running worker"))
            return future
        with self._lock:
            self._calls.append((fn, future))
        self.signal.set()
        return future

    def _run_calls(self, runner: BatchRunner) -> None:
        with self._lock:
            calls, self._calls = self._calls, []
        for fn, future in calls:
            try:
                future.set_result(fn(runner))
            except Exception as exc:
                future.set_exception(exc)

    def request_stop(self) -> None:
        """Ask the thread to end after the in-flight batch (see the manager's drain)."""
        self.stop.set()
        self.signal.set()

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
        self.runner = self._open()
        if self.runner is None:
            return
        try:
            self._refresh()
            self._loop(self.runner)
        finally:
            self.runner.close()

    def _open(self) -> BatchRunner | None:
        """Build the runner; an outage while opening (broker down, disk full) is retried."""
        attempt = 0
        while not self.stop.is_set():
            attempt += 1
            try:
                return self.factory(self.stop)
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as exc:  # opening failed (bad credentials, missing table, a panic)
                retry = is_retryable(exc) or out_of_space(exc)
                self._record_failure(exc, attempt=attempt if retry else self.max_attempts, retry=retry)
                if not retry:
                    return None
                self.clock.wait(self.stop, backoff_delay(attempt))
        return None

    def _loop(self, runner: BatchRunner) -> None:
        while not self.stop.is_set():
            signalled = self.signal.wait(self.poll if self.continuous else None)
            if self.stop.is_set():
                break
            self._run_calls(runner)
            with self._lock:
                self.signal.clear()
                forced, data = self._forced, self._data
                self._forced, self._data = 0, False
                blocked = self.paused or self.failed
            if blocked:
                continue
            if not signalled and self.continuous:
                data = self._probe(runner)
            if forced or data:
                self._guarded_cycle(forced)

    def _guarded_cycle(self, forced: int) -> None:
        """:meth:`_cycle`, surviving any error outside a batch attempt (a bug in a callback)."""
        try:
            self._cycle(forced)
        except Exception as exc:  # no exception ends the worker thread
            log.exception("pipeline %s: unexpected error outside a batch (continuing)", self.name)
            self.last_error = f"{type(exc).__name__}: {exc}"
            self.degraded = True
            self.clock.wait(self.stop, BACKOFF_CAP)
            with self._lock:
                self._data = True  # look again once the wait is over
            self.signal.set()

    def _probe(self, runner: BatchRunner) -> bool:
        try:
            return runner.has_new_data()
        except Exception as exc:
            log.warning("has_new_data failed (will retry): pipeline=%s: %s", self.name, exc)
            return False

    def _cycle(self, forced: int) -> None:
        """``forced`` forced batches, then batches until caught up."""
        for _ in range(forced):
            ok, _report = self._attempt(force=True)
            if not ok or self.stop.is_set():
                return
        while not self.stop.is_set():
            ok, report = self._attempt(force=False)
            if not ok or report is None or self.paused:
                return

    def _attempt(self, *, force: bool) -> tuple[bool, BatchReport | None]:
        """One batch with retries; returns (ok, report-or-None)."""
        attempt = 0
        while not self.stop.is_set():
            attempt += 1
            try:
                report = self._run_one(force)
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as exc:  # incl. pyo3's PanicException (a Rust panic in delta-rs)
                if isinstance(root_cause(exc), LeaseLost):
                    self._lost(exc)
                    return False, None
                if not self._handle_failure(exc, attempt):
                    return False, None
                self.clock.wait(self.stop, backoff_delay(attempt))
                continue
            self._succeeded(report)
            return True, report
        return False, None

    def _run_one(self, force: bool) -> BatchReport | None:
        assert self.runner is not None
        if not self.host.acquire_slot(self.stop):
            return None
        self.busy = True
        try:
            return self.runner.run_batch(force=force)
        finally:
            self.busy = False
            self.host.release_slot()

    def _succeeded(self, report: BatchReport | None) -> None:
        self.degraded = False
        if report is None:
            return
        self.last_error = None
        self.error = None
        self.batches += 1
        self.last_batch = report
        self._refresh()
        self.host.committed(self.name, report)

    def _handle_failure(self, exc: BaseException, attempt: int) -> bool:
        """Record a failure; True if the batch should be retried.

        By type: a retryable error (broker or storage outage) is retried for as long as it
        lasts, with backoff capped at ``BACKOFF_CAP`` and readiness degraded, so the pipeline
        resumes by itself when the service returns; a terminal OdibiError (bad config or data)
        fails at once; anything else (unknown, maybe transient) gets ``max_attempts``.
        """
        cause = root_cause(exc)
        # A full disk (checkpoint root or a sink's target) is an outage like a dead broker:
        # native writers report it as a generic error, so it is recognised by its errno.
        outage = is_retryable(exc) or out_of_space(exc)
        terminal = isinstance(cause, OdibiError) and not cause.retryable
        retry = outage or (not terminal and attempt < self.max_attempts)
        self._record_failure(exc, attempt, retry)
        return retry

    def _record_failure(self, exc: BaseException, attempt: int, retry: bool) -> None:
        self.last_error = f"{type(root_cause(exc)).__name__}: {exc}"
        self.error = failure_detail(exc)
        self.degraded = retry
        self.failed = not retry
        hint = f" (hint: {self.error['hint']})" if self.error.get("hint") else ""
        if retry:
            log.warning("batch failed (attempt %d, retrying): pipeline=%s: %s%s", attempt, self.name,
                        self.last_error, hint)
        else:
            log.error("pipeline failed after %d attempt(s): pipeline=%s: %s%s", attempt, self.name,
                      self.last_error, hint)
        self.host.batch_failed(self.name, exc, retry)

    def _lost(self, exc: BaseException) -> None:
        self.lease_lost = True
        self.last_error = f"{type(root_cause(exc)).__name__}: {exc}"
        self.error = failure_detail(exc)
        log.warning("lease lost during a batch: pipeline=%s", self.name)
        try:
            self.host.lease_lost(self.name)
        except Exception:  # the lease orchestration retries by itself; this thread carries on
            log.exception("pipeline %s: handing back the lost lease failed", self.name)

    def note_problem(self, problem: str | None) -> None:
        """Show (or, with None, clear) a problem outside batches, e.g. a lease renewal failing."""
        self.problem = problem

    def _refresh(self) -> None:
        if self.runner is None:
            return
        try:
            self.snapshot = self.runner.status()
        except Exception as exc:  # status is informative only
            log.warning("status refresh failed: pipeline=%s: %s", self.name, exc)

    def describe_state(self) -> dict[str, Any]:
        """Thread-safe status snapshot (no runner calls)."""
        return {
            "state": self.state,
            "degraded": self.degraded or self.problem is not None,
            "last_error": self.problem or self.last_error,
            "error": self.error,
            "busy": self.busy,
            "batches": self.batches,
            "wakeups": self.wakeups,
            "lag": self.snapshot.get("lag", {}),
            "watermarks": self.snapshot.get("watermarks", {}),
            "last_committed": self.snapshot.get("last_committed"),
        }
