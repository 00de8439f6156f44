"""BackgroundQueue: hand work off a batch's thread to one worker thread, never blocking.

Lifecycle contract: the owner builds it with a handler, calls :meth:`start`, then producers
(pipeline worker threads) call :meth:`offer` — a non-blocking put on a bounded queue; a full
queue drops the item (counted, logged with back-off). The worker thread calls ``handler(item)``
for each item in order; a handler exception is logged (redacted) and the next item follows.
:meth:`flush` waits until everything offered before it was handled; :meth:`stop` handles what
is queued (bounded by a timeout) and ends the thread. Used by stories, alerts and traces.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from odibi_stream.core.redact import redact

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class _Flush:
    done: threading.Event


class _Stop:
    pass


class BackgroundQueue(Generic[T]):
    """A bounded queue drained by one named thread (see the module docstring).

    Args:
        name: Thread name and log label.
        handler: Called on the worker thread for each item.
        capacity: Items queued at most; beyond it new items are dropped.
    """

    def __init__(self, name: str, handler: Callable[[T], None], capacity: int = 10_000) -> None:
        self.name = name
        self.handler = handler
        self.dropped = 0
        self.handled = 0
        self._queue: queue.Queue[T | _Flush | _Stop] = queue.Queue(capacity)
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)

    def start(self) -> None:
        """Start the worker thread."""
        self._thread.start()

    @property
    def running(self) -> bool:
        """True while the worker thread runs."""
        return self._thread.is_alive()

    def offer(self, item: T) -> bool:
        """Queue ``item`` without blocking; False (and counted) when the queue is full."""
        try:
            self._queue.put_nowait(item)
            return True
        except queue.Full:
            self.dropped += 1
            if self.dropped in (1, 10, 100) or self.dropped % 1000 == 0:
                log.warning("%s is behind: %d item(s) dropped so far", self.name, self.dropped)
            return False

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything offered so far is handled; False on timeout or when stopped."""
        if not self._thread.is_alive():
            return False
        done = threading.Event()
        try:
            self._queue.put(_Flush(done), timeout=timeout)
        except queue.Full:
            return False
        return done.wait(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Handle what is queued (up to ``timeout`` seconds), then end the thread."""
        if not self._thread.is_alive():
            return
        try:
            self._queue.put(_Stop(), timeout=timeout)
        except queue.Full:
            log.warning("%s: still full at shutdown; %d item(s) not handled", self.name, self._queue.qsize())
            return
        self._thread.join(timeout)

    def _main(self) -> None:
        while True:
            item = self._queue.get()
            if isinstance(item, _Stop):
                return
            if isinstance(item, _Flush):
                item.done.set()
                continue
            try:
                self.handler(item)
                self.handled += 1
            except Exception as exc:  # background work never takes a batch (or the daemon) down
                log.warning("%s: %s", self.name, redact(f"{type(exc).__name__}: {exc}"))
