"""librdkafka's logs and error events, drained continuously into our logging.

With a Python ``logger`` configured, librdkafka queues its log lines (and error events) on the
client's main queue and hands them over only when the application polls that client. Our
long-lived clients — the source's metadata consumer, a trigger's probe, a sink's producer — are
not polled while idle, so during a broker outage the queue grew (RSS +1.7 MB/min) and thousands
of lines burst out at shutdown. Here:

* :func:`consumer` / :func:`producer` build clients that a single background thread (the
  *pump*) polls with ``poll(0)`` every :data:`PUMP_INTERVAL` seconds, so logs reach our logging
  as they happen and the queue stays empty. The pump holds only weak references (a dropped
  client is forgotten) and polls a client under that client's own lock, which ``close()`` takes
  too — a client is never polled while (or after) it closes. Clients the pump serves must not
  be assigned partitions (a ``poll`` would consume their messages): metadata, watermark,
  commit and produce calls only. The one assigned consumer, the Kafka source's range fetcher,
  registers itself instead: its ``serve_queue`` closes the consumer once it is idle.
* :class:`RateLimit` is the filter on the ``odibi_stream.kafka.client`` logger: one line per
  distinct message (digits ignored) per :data:`LOG_WINDOW` seconds and at most
  :data:`LOG_BURST` lines per window overall; the next line that passes says how many lines
  were suppressed before it.

Lifecycle: clients are created through these factories by the Kafka connectors and closed by
them as before; the pump thread starts with the first client and is a daemon thread.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from odibi_stream.clients.kafka import CLIENT_LOG

log = logging.getLogger(__name__)

PUMP_INTERVAL = 1.0
LOG_WINDOW = 60.0
LOG_BURST = 30


class RateLimit(logging.Filter):
    """Passes one record per distinct message per window, at most ``burst`` per window.

    Args:
        window: Seconds of a window.
        burst: Records passed per window in total.
        clock: Monotonic seconds (tests pass a fake).
    """

    def __init__(
        self, window: float = LOG_WINDOW, burst: int = LOG_BURST, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self.window, self.burst, self.clock = window, burst, clock
        self._lock = threading.Lock()
        self._start = clock()
        self._passed = 0
        self._last: dict[str, float] = {}
        self._suppressed = 0

    def filter(self, record: logging.LogRecord) -> bool:
        key = re.sub(r"\d+", "#", record.getMessage())
        now = self.clock()
        with self._lock:
            if now - self._start >= self.window:
                self._start, self._passed = now, 0
                self._last = {k: t for k, t in self._last.items() if now - t < self.window}
            if self._passed >= self.burst or now - self._last.get(key, -self.window) < self.window:
                self._suppressed += 1
                return False
            self._passed += 1
            self._last[key] = now
            suppressed, self._suppressed = self._suppressed, 0
        if suppressed:
            record.msg = f"{record.getMessage()} ({suppressed} librdkafka lines suppressed before this one)"
            record.args = None
        return True


def install_rate_limit() -> None:
    """Attach one :class:`RateLimit` to the client logger (idempotent)."""
    if not any(isinstance(f, RateLimit) for f in CLIENT_LOG.filters):
        CLIENT_LOG.addFilter(RateLimit())


class _Pump:
    """The thread that polls every registered client (see the module docstring)."""

    def __init__(self, interval: float = PUMP_INTERVAL) -> None:
        self.interval = interval
        self._clients: list[weakref.ref[Any]] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def add(self, client: Any) -> None:
        with self._lock:
            self._clients.append(weakref.ref(client))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="odibi-kafka-logs", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            time.sleep(self.interval)  # a fixed cadence, no event to wait for
            try:
                self.drain()
            except Exception:  # never let the pump die: logs would pile up again
                log.exception("draining Kafka client logs failed (continuing)")

    def drain(self) -> int:
        """Poll every live client once; returns how many were polled."""
        with self._lock:
            self._clients = [r for r in self._clients if r() is not None]
            refs = list(self._clients)
        polled = 0
        for ref in refs:
            client = ref()
            if client is not None and client.serve_queue():
                polled += 1
            del client
        return polled


PUMP = _Pump()


def _serve(client: Any, poll: Callable[[float], Any]) -> bool:
    guard: threading.Lock = client._odibi_guard
    if not guard.acquire(blocking=False):
        return False  # closing, or busy: next round
    try:
        if client._odibi_closed:
            return False
        poll(0)
        return True
    except RuntimeError:  # closed underneath (should not happen: close takes the guard)
        return False
    finally:
        guard.release()


@functools.cache
def _classes() -> tuple[type, type]:
    """The drained client classes (defined once, on first use: confluent-kafka is optional)."""
    from confluent_kafka import Consumer, Producer

    class DrainedConsumer(Consumer):  # type: ignore[misc]
        def serve_queue(self) -> bool:
            return _serve(self, super().poll)

        def close(self, *args: Any, **kwargs: Any) -> Any:
            guard: threading.Lock = self._odibi_guard  # type: ignore[attr-defined]
            with guard:
                self._odibi_closed = True
                return super().close(*args, **kwargs)

    class DrainedProducer(Producer):  # type: ignore[misc]
        def serve_queue(self) -> bool:
            return _serve(self, super().poll)

    return DrainedConsumer, DrainedProducer


def consumer(conf: dict[str, Any]) -> Any:
    """A confluent-kafka ``Consumer`` whose logs are drained continuously (never assign it)."""
    return _track(_classes()[0](conf))


def producer(conf: dict[str, Any]) -> Any:
    """A confluent-kafka ``Producer`` whose logs and delivery events are served continuously."""
    return _track(_classes()[1](conf))


def _track(client: Any) -> Any:
    client._odibi_guard = threading.Lock()
    client._odibi_closed = False
    install_rate_limit()
    PUMP.add(client)
    return client
