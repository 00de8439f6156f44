"""A polling data-arrival trigger: ask a cheap probe every few seconds, wake when it says yes.

Used for ``kafka`` and ``eventhub`` pipelines until their dedicated triggers land. Without a
probe, every interval is a data wake-up and the runner's own planning (cheap end-offset queries,
on the runner's thread, since runners are not thread-safe) decides whether a batch runs. It waits
on an Event between probes, so an idle pipeline costs one plan per interval and no busy loop.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from odibi_stream.triggers.base import REASON_DATA, WakeFn

log = logging.getLogger(__name__)


class PollingTrigger:
    """Calls ``wake("data")`` every ``interval`` s when ``probe()`` says so (or always).

    Args:
        probe: Cheap, side-effect free, thread-safe "is there new data?" check, or None to let
            the runner's own planning (on its thread) be the probe. Exceptions are logged and
            the probe is tried again next interval (a broker outage must not kill the trigger).
        interval: Seconds between probes.
    """

    def __init__(self, probe: Callable[[], bool] | None = None, interval: float = 1.0) -> None:
        self.probe = probe
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, wake: WakeFn) -> None:
        """Start the probing thread."""
        self._thread = threading.Thread(target=self._loop, args=(wake,), name="odibi-poll", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop probing and join the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _loop(self, wake: WakeFn) -> None:
        while not self._stop.wait(self.interval):
            try:
                if self.probe is None or self.probe():
                    wake(REASON_DATA)
            except Exception as exc:  # the probe talks to external systems; keep polling
                log.warning("data probe failed (will retry): %s", exc)
