"""Time as an injectable dependency: wall clock, monotonic clock and waiting.

Leases (expiry), retry backoff, schedules (missed ticks), the files source's settle rule and
batch timestamps all ask a :class:`Clock` instead of the ``time``/``datetime`` modules, so
tests drive them with a :class:`ManualClock` — advancing time instantly and
deterministically — instead of sleeping.

Lifecycle contract: a clock is created once (``SYSTEM_CLOCK`` in production) and shared by
every component of a process; every method is thread-safe. ``wait`` is the only blocking call:
it returns early (True) when ``event`` is set, like :meth:`threading.Event.wait`.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Protocol, runtime_checkable


def utc_now() -> datetime:
    """The current wall-clock time as an aware UTC datetime."""
    return datetime.now(timezone.utc)


@runtime_checkable
class Clock(Protocol):
    """Where components get the time from and how they wait."""

    def now(self) -> datetime:
        """Wall-clock time, aware UTC (timestamps, lease expiry, schedules)."""
        ...

    def time(self) -> float:
        """Wall-clock time as POSIX seconds (compared with file mtimes)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards (deadlines, durations)."""
        ...

    def wait(self, event: threading.Event, timeout: float | None) -> bool:
        """Block until ``event`` is set (True) or ``timeout`` seconds pass (False)."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        """See :meth:`Clock.now`."""
        return utc_now()

    def time(self) -> float:
        """See :meth:`Clock.time`."""
        return time.time()

    def monotonic(self) -> float:
        """See :meth:`Clock.monotonic`."""
        return time.monotonic()

    def wait(self, event: threading.Event, timeout: float | None) -> bool:
        """See :meth:`Clock.wait`."""
        return event.wait(timeout)


SYSTEM_CLOCK = SystemClock()
"""The process's real clock (the default everywhere a clock is optional)."""


class ManualClock:
    """A clock that moves only when told to (tests).

    ``wait`` blocks until the event is set or :meth:`advance` moves time past the deadline, so
    a component waiting 30 s of backoff resumes the moment a test advances 30 s.

    Args:
        start: Initial wall-clock time (default 2026-01-01T00:00:00Z).
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=timezone.utc)
        self._mono = 1000.0
        self._cond = threading.Condition()
        self.waiters = 0
        """Threads currently blocked in :meth:`wait` (tests poll it to know a component is idle)."""
        self.requested: list[float] = []
        """Every finite timeout passed to :meth:`wait`, in call order (tests assert on delays)."""

    def now(self) -> datetime:
        """See :meth:`Clock.now`."""
        with self._cond:
            return self._now

    def time(self) -> float:
        """See :meth:`Clock.time`."""
        return self.now().timestamp()

    def monotonic(self) -> float:
        """See :meth:`Clock.monotonic`."""
        with self._cond:
            return self._mono

    def advance(self, seconds: float) -> None:
        """Move both clocks forward and wake waiters whose deadline passed."""
        with self._cond:
            self._now += timedelta(seconds=seconds)
            self._mono += seconds
            self._cond.notify_all()

    def set(self, when: datetime) -> None:
        """Jump the wall clock to ``when`` (the monotonic clock moves by the same amount)."""
        with self._cond:
            delta = (when - self._now).total_seconds()
            self._now = when
            self._mono += max(0.0, delta)
            self._cond.notify_all()

    def wait(self, event: threading.Event, timeout: float | None) -> bool:
        """Block until ``event`` is set or manual time passes ``timeout``.

        The event is polled in short real-time slices because ``threading.Event`` offers no
        hook to wake this condition; time itself only moves through :meth:`advance`.
        """
        with self._cond:
            deadline = None if timeout is None else self._mono + timeout
            if timeout is not None:
                self.requested.append(timeout)
            self.waiters += 1
            try:
                while not event.is_set():
                    if deadline is not None and self._mono >= deadline:
                        return False
                    self._cond.wait(0.01)
                return True
            finally:
                self.waiters -= 1
