"""Exact offset-range reads with one consumer kept across batches (confluent-kafka).

Between two batches the runtime writes the batch it just read. A consumer created per read
would start fetching only when the next read begins; the consumer kept here stays assigned
where the previous range ended, so librdkafka's fetcher thread fills its local queue with the
next batch while the sink writes (bounded by ``queued.max.messages.kbytes``, 64 MiB by default).

An assigned consumer cannot be polled for its log lines without taking its records, and
librdkafka queues those lines (reconnect errors, in an outage) until the application polls
(see :mod:`odibi_stream.clients.kafka_logs`). So the fetcher registers with the log pump, which
closes a consumer left idle for :data:`IDLE_CLOSE_SECONDS`: prefetching matters between
back-to-back batches, not across idle minutes.

Exactly-once rests on one rule: a partition's records are reused only when the new range
starts exactly where the previous read of it ended. Records delivered past a range's end are
kept (in order) for the next read; any other start — a re-read after a failed batch, a replan,
a restart — re-assigns the partitions at the planned offsets and drops what was kept.
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from odibi_stream.clients import kafka_logs
from odibi_stream.clients.kafka import partition_key, split_key, to_connector_error
from odibi_stream.connectors.kafka_decode import Decoded
from odibi_stream.exceptions import SourceError

_FETCH_BATCH = 10_000
# Records (and bytes) kept past range ends; beyond either they are dropped and the next read
# re-assigns.
_CARRY_LIMIT = 100_000
_CARRY_BYTES = 64 << 20
IDLE_CLOSE_SECONDS = 5.0


@dataclass
class _Reading:
    """One :meth:`RangeFetcher.fetch` call's progress."""

    wanted: dict[str, tuple[int, int]]
    out: dict[str, Decoded]
    pending: set[str] = field(init=False)  # partitions whose range end was not reached yet
    nxt: dict[str, int] = field(init=False)  # partition -> offset after the last one handed out

    def __post_init__(self) -> None:
        self.pending = set(self.wanted)
        self.nxt = {k: s for k, (s, _) in self.wanted.items()}


class RangeFetcher:
    """Reads ``{partition: (start, end)}`` ranges exactly, keeping its consumer between reads.

    Lifecycle: the Kafka source creates one and calls :meth:`close` when it is closed; the
    consumer itself is created by the first :meth:`fetch` and closed again by the log pump
    (:meth:`serve_queue`) after :data:`IDLE_CLOSE_SECONDS` without a read. :meth:`fetch` is
    called by one thread at a time (the pipeline's).
    """

    def __init__(
        self, conf: dict[str, Any], node: str, read_timeout: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._conf, self._node, self._read_timeout, self._clock = conf, node, read_timeout, clock
        self._lock = threading.Lock()  # fetch vs the pump's idle close
        self._consumer: Consumer | None = None
        self._idle_since = 0.0
        self._pumped = False
        self._ends: dict[str, int] = {}  # assigned partition -> offset handed out up to
        self._carry: dict[str, list[Any]] = {}  # records delivered at or past that offset
        self._carried = self._carried_bytes = 0
        self._overflow = False
        self.reassigned = 0  # how many reads could not continue where the last one ended
        self.dropped = 0  # how many times records kept past range ends overflowed

    @property
    def connected(self) -> bool:
        """Whether a consumer is open (and prefetching)."""
        return self._consumer is not None

    def close(self) -> None:
        """Close the consumer (idempotent); what was fetched ahead is dropped."""
        with self._lock:
            self._close()

    def _close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
        self._consumer = None
        self._forget()

    def _forget(self) -> None:
        self._ends, self._carry, self._carried, self._carried_bytes, self._overflow = {}, {}, 0, 0, False

    def serve_queue(self) -> bool:
        """The log pump's call, every second: close a consumer idle for too long."""
        if not self._lock.acquire(blocking=False):
            return False  # reading: consume() serves the log queue meanwhile
        try:
            if self._consumer is not None and self._clock() - self._idle_since >= IDLE_CLOSE_SECONDS:
                self._close()
            return True
        finally:
            self._lock.release()

    def fetch(self, wanted: dict[str, tuple[int, int]], out: dict[str, Decoded]) -> None:
        """Add exactly the records of each ``wanted`` range to ``out[partition]``.

        Raises:
            SourceError: no progress for ``read_timeout`` seconds (retryable) or a broker
                error; the consumer is closed then, and the next read starts afresh.
        """
        with self._lock:
            try:
                self._position(wanted)
                self._read(wanted, out)
            except KafkaException as exc:
                self._close()
                raise to_connector_error(exc, f"node {self._node}: read", SourceError) from exc
            except BaseException:
                self._close()
                raise
            for key, (_, end) in wanted.items():
                self._ends[key] = end
            if self._overflow:  # kept records were dropped: positions no longer match the queue
                self._ends, self._overflow = {}, False
            self._idle_since = self._clock()

    def _position(self, wanted: dict[str, tuple[int, int]]) -> None:
        if self._consumer is not None and all(self._ends.get(k) == s for k, (s, _) in wanted.items()):
            return
        if self._consumer is None:
            self._consumer = Consumer(self._conf)
            if not self._pumped:  # once: a consumer is re-created after every idle close
                kafka_logs.install_rate_limit()
                kafka_logs.PUMP.add(self)
                self._pumped = True
        else:
            self.reassigned += 1
        # Partitions read before stay assigned where they ended, so they keep prefetching.
        starts = {**self._ends, **{k: s for k, (s, _) in wanted.items()}}
        self._forget()
        self._consumer.assign([TopicPartition(*split_key(k), s) for k, s in starts.items()])
        self._ends = starts

    def _read(self, wanted: dict[str, tuple[int, int]], out: dict[str, Decoded]) -> None:
        consumer = self._consumer
        assert consumer is not None
        reading = _Reading(wanted, out)
        for key in list(wanted):
            kept = self._carry.pop(key, [])
            self._carried -= len(kept)
            self._carried_bytes -= sum(len(m.value() or b"") for m in kept)
            self._take(kept, reading)
        deadline = time.monotonic() + self._read_timeout
        while reading.pending:
            # Never ask for more messages than offsets remain: consume() returns as soon as
            # it has that many, instead of waiting out its timeout for a full batch.
            remaining = sum(wanted[k][1] - reading.nxt[k] for k in reading.pending)
            msgs = consumer.consume(num_messages=max(1, min(_FETCH_BATCH, remaining)), timeout=0.5)
            progressed = self._take(msgs, reading)
            reading.pending -= self._reached_end(consumer, wanted, reading.pending)
            if progressed:
                deadline = time.monotonic() + self._read_timeout
            elif reading.pending and time.monotonic() > deadline:
                raise SourceError(
                    f"node {self._node}: no progress reading {sorted(reading.pending)} for {self._read_timeout:.0f}s",
                    retryable=True,
                    hint="is the broker reachable?",
                )

    def _take(self, msgs: list[Any], reading: _Reading) -> bool:
        """Hand out ``msgs`` that fall in their partition's range; keep those past it."""
        if not msgs:
            return False
        if any([m.error() for m in msgs]):
            return self._take_each(msgs, reading)
        # The common case, one C call per message and field: consume() returns runs of one
        # partition, each in offset order, so a run splits at one point into taken and kept.
        topics = [m.topic() for m in msgs]
        parts = [m.partition() for m in msgs]
        offsets = [m.offset() for m in msgs]
        cuts = [i for i in range(1, len(msgs)) if parts[i] != parts[i - 1] or topics[i] != topics[i - 1]]
        for a, b in zip([0, *cuts], [*cuts, len(msgs)], strict=True):
            key = partition_key(topics[a], parts[a])
            start, end = reading.wanted.get(key, (-1, -1))
            lo = bisect_left(offsets, start, a, b)  # below the start: never handed out twice
            split = bisect_left(offsets, end, lo, b)
            if split > lo:
                reading.out[key].add_many(msgs[lo:split], (topics[a], parts[a], offsets[lo:split]))
                reading.nxt[key] = offsets[split - 1] + 1
                if offsets[split - 1] >= end - 1:
                    reading.pending.discard(key)
            for msg in msgs[split:b]:
                self._keep(key, msg)
            if split < b:  # past the end: the range is complete
                reading.pending.discard(key)
        return True

    def _take_each(self, msgs: list[Any], reading: _Reading) -> bool:
        """:meth:`_take` one message at a time (batches holding EOF or error events)."""
        progressed = False
        for msg in msgs:
            key = partition_key(msg.topic(), msg.partition())
            start, end = reading.wanted.get(key, (-1, -1))
            err = msg.error()
            if err is not None:
                if err.code() != KafkaError._PARTITION_EOF:
                    raise KafkaException(err)
                # EOF at or past the end: everything below it was delivered or was a marker.
                if key in reading.pending and msg.offset() >= end:
                    reading.pending.discard(key)
                continue
            progressed = True
            offset = msg.offset()
            if offset >= end:  # past this range (or a partition not read now): the next read's
                self._keep(key, msg)
                continue
            reading.nxt[key] = offset + 1
            if offset >= start:  # below it cannot happen by the reuse rule; never hand out twice
                reading.out[key].add_many([msg])
            if offset >= end - 1:
                reading.pending.discard(key)
        return progressed

    def _keep(self, key: str, msg: Any) -> None:
        if self._overflow:
            return
        size = len(msg.value() or b"")
        if self._carried >= _CARRY_LIMIT or self._carried_bytes + size > _CARRY_BYTES:
            self._carry, self._carried, self._carried_bytes, self._overflow = {}, 0, 0, True
            self.dropped += 1
            return
        self._carry.setdefault(key, []).append(msg)
        self._carried += 1
        self._carried_bytes += size

    @staticmethod
    def _reached_end(consumer: Consumer, wanted: dict[str, tuple[int, int]], pending: set[str]) -> set[str]:
        if not pending:
            return set()
        done: set[str] = set()
        for tp in consumer.position([TopicPartition(*split_key(k)) for k in pending]):
            key = partition_key(tp.topic, tp.partition)
            if tp.offset >= 0 and tp.offset >= wanted[key][1]:
                done.add(key)
        return done
