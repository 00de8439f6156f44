"""Trigger flood control: a token bucket per pipeline, excess triggers coalesced into one run.

Lifecycle contract:
    * The API router owns one :class:`TriggerThrottle` and calls :meth:`TriggerThrottle.request`
      for every ``POST /api/pipelines/{name}/trigger``; :meth:`TriggerThrottle.close` cancels the
      deferred runs when the server stops.
    * Guarantee: every accepted trigger is followed by a forced run requested at or after it:
      immediately while the bucket has tokens, otherwise by the one deferred run per pipeline
      (scheduled when the next token is due) that all later requests join (``coalesced``).
    * State exists only for pipelines the daemon accepted once, so unknown names cost nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

Cancel = Callable[[], None]
Scheduler = Callable[[float, Callable[[], None]], Cancel]


def thread_timer(delay: float, fn: Callable[[], None]) -> Cancel:
    """Run ``fn`` after ``delay`` seconds on a daemon timer thread; returns its cancel."""
    timer = threading.Timer(delay, fn)
    timer.daemon = True
    timer.name = "odibi-http-trigger"
    timer.start()
    return timer.cancel


@dataclass(frozen=True)
class Decision:
    """How a trigger request was handled.

    Attributes:
        coalesced: Joined a run that was already pending.
        deferred_seconds: When the run happens, from now (0 = requested already).
    """

    coalesced: bool
    deferred_seconds: float


@dataclass
class _Bucket:
    tokens: float
    stamp: float
    due: float | None = None
    cancel: Cancel | None = None


class TriggerThrottle:
    """Token buckets (``burst`` deep, ``per_second`` refill) in front of ``ControlPlane.trigger``.

    Args:
        burst: Triggers passed straight through in a burst.
        per_second: Sustained rate of forced runs per pipeline.
        clock: Monotonic seconds (replaceable in tests).
        schedule: Runs a callable after a delay and returns its cancel (replaceable in tests).
    """

    def __init__(self, burst: int, per_second: float, *, clock: Callable[[], float] = time.monotonic,
                 schedule: Scheduler = thread_timer) -> None:
        self.burst = float(burst)
        self.per_second = per_second
        self._clock = clock
        self._schedule = schedule
        self._lock = threading.Lock()
        self._buckets: dict[str, _Bucket] = {}
        self._closed = False

    def request(self, name: str, trigger: Callable[[str], None]) -> Decision:
        """Trigger ``name`` now, later, or join a pending run (KeyError from ``trigger`` passes)."""
        with self._lock:
            now = self._clock()
            bucket = self._buckets.get(name)
            if bucket is not None:
                self._refill(bucket, now)
                if bucket.due is not None:
                    return Decision(True, max(0.0, bucket.due - now))
                if bucket.tokens < 1.0:
                    delay = (1.0 - bucket.tokens) / self.per_second
                    bucket.due = now + delay
                    if not self._closed:
                        bucket.cancel = self._schedule(delay, lambda: self._fire(name, trigger))
                    return Decision(False, delay)
                bucket.tokens -= 1.0
        try:
            trigger(name)
        except KeyError:
            with self._lock:
                self._buckets.pop(name, None)
            raise
        if bucket is None:
            with self._lock:
                self._buckets.setdefault(name, _Bucket(self.burst - 1.0, now))
        return Decision(False, 0.0)

    def _refill(self, bucket: _Bucket, now: float) -> None:
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.stamp) * self.per_second)
        bucket.stamp = now

    def _fire(self, name: str, trigger: Callable[[str], None]) -> None:
        with self._lock:
            bucket = self._buckets.get(name)
            if bucket is None or self._closed:
                return
            self._refill(bucket, self._clock())
            bucket.tokens = max(0.0, bucket.tokens - 1.0)
            bucket.due, bucket.cancel = None, None
        try:
            trigger(name)
        except KeyError:  # removed by a reload meanwhile
            with self._lock:
                self._buckets.pop(name, None)
        except Exception as exc:  # a timer thread must not die with a traceback
            log.warning("deferred trigger failed: %s", type(exc).__name__)

    def close(self) -> None:
        """Cancel every deferred run (idempotent)."""
        with self._lock:
            self._closed = True
            cancels = [b.cancel for b in self._buckets.values() if b.cancel is not None]
        for cancel in cancels:
            cancel()
