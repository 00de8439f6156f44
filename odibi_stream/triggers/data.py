"""The polling data trigger: wake a pipeline when a source's probe reports new end positions.

Every ``interval`` seconds one thread asks the probe where the source's end is now (Kafka
read-committed end offsets, Event Hubs last enqueued sequence numbers, a cloud folder's
listing). When the answer differs from the previous poll — or on the first successful poll, so a
restarted daemon catches up — it calls ``wake(DATA)``. Between polls it waits on an Event: an
idle pipeline costs one cheap round trip per interval and no CPU. An outage is logged (once per
outage, not per poll) and polled again; it never stops the trigger.

The probe comes from the source (``SourceSpec.watch()`` → ``PollWatch``): this module knows no
connector.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Hashable

from odibi_stream.core.clock import SYSTEM_CLOCK, Clock
from odibi_stream.core.wake import PollWatch, Probe, WakeFn, WakeReason

log = logging.getLogger(__name__)


class PollingTrigger:
    """Polls one :class:`~odibi_stream.core.wake.PollWatch` and wakes on change.

    Args:
        watch: What to poll (the probe is opened on start, closed on stop).
        interval: Seconds between polls (default: the watch's).
        clock: Where waiting happens (a manual clock in tests).

    Attributes:
        polls: Successful polls so far. ``last``: the latest positions seen.
    """

    def __init__(self, watch: PollWatch, interval: float | None = None, clock: Clock = SYSTEM_CLOCK) -> None:
        self.watch = watch
        self.interval = watch.default_interval if interval is None else interval
        self.clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.polls = 0
        self.last: Hashable | None = None

    def start(self, wake: WakeFn) -> None:
        """Start the polling thread (called once)."""
        self._thread = threading.Thread(
            target=self._loop, args=(wake,), name=f"odibi-poll-{self.watch.name}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop polling, join the thread; the probe is closed by the thread (idempotent)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _loop(self, wake: WakeFn) -> None:
        probe: Probe | None = None
        failing = False
        first = True
        try:
            while not self._stop.is_set():
                try:
                    if probe is None:
                        probe = self.watch.open_probe()
                    ends = probe.positions()
                except Exception as exc:  # outages must not kill the trigger
                    if not failing:
                        log.warning("%s: polling failed (will retry every %.1fs): %s", self.watch.name, self.interval, exc)
                    failing = True
                else:
                    if failing:
                        log.info("%s: polling works again", self.watch.name)
                    failing = False
                    self.polls += 1
                    if first or ends != self.last:
                        self.last, first = ends, False
                        wake(WakeReason.DATA)
                self.clock.wait(self._stop, self.interval)
        finally:
            if probe is not None:
                probe.close()
