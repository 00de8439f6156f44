"""Counting and (rate-limited) logging of refused requests.

Lifecycle contract:
    * One :class:`Rejections` per server, shared by its listeners' routers and the connection
      layer; :meth:`Rejections.note` is thread-safe and cheap, so a flood of refused requests
      costs a counter increment and at most one log line per reason per ``interval``.
    * Log lines name the reason and the count, never the refused values (hosts, origins, names).
"""

from __future__ import annotations

import threading
import time
from collections import Counter

from odibi_stream.observability.logs import get_logger

log = get_logger("odibi_stream.server")

LOG_INTERVAL_SECONDS = 60.0


class Rejections:
    """Thread-safe counters of refused requests by reason, with rate-limited warnings."""

    def __init__(self, interval: float = LOG_INTERVAL_SECONDS) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._logged_at: dict[str, float] = {}
        self._interval = interval

    def note(self, reason: str, detail: str) -> None:
        """Count one refusal; log it if this reason was not logged within the interval."""
        now = time.monotonic()
        with self._lock:
            self._counts[reason] += 1
            total = self._counts[reason]
            last = self._logged_at.get(reason)
            if last is not None and now - last < self._interval:
                return
            self._logged_at[reason] = now
        log.warning("control plane refused a request (%s: %s); %d so far", reason, detail, total)

    def counts(self) -> dict[str, int]:
        """A snapshot of the counters."""
        with self._lock:
            return dict(self._counts)
