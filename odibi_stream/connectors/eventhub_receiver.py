"""Exact sequence-number ranges of one partition, from a receiver kept open across batches.

The SDK has no end position: a receiver attached at sequence number S (inclusive) streams
everything after it, prefetching up to its link credit. :class:`PartitionReceiver` hands out
exactly ``[start, end)`` in order and keeps what it prefetched past ``end`` for the next range
— which, when batches follow each other, starts exactly there. A range that starts anywhere
else (a replay after a crash, a rewind) gets a new receiver at its start; the old one and its
prefetched rest are dropped.

Duplicates are dropped by sequence number (the SDK re-attaches after a connection error from
the last event it handed over, so events it had buffered can arrive twice). A sequence number
above the next expected one means events are gone (retention trimmed them after planning):
:class:`SequenceGap` says exactly which.

Not thread-safe: one thread uses one receiver at a time (the source reads partitions in
parallel, one receiver per partition).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from datetime import datetime
from typing import Any

from azure.eventhub import EventHubConsumerClient

from odibi_stream.connectors.eventhub_client import (
    Received,
    close_quietly,
    connector_error,
    is_sdk_error,
    open_consumer,
    sequence_of,
)
from odibi_stream.exceptions import SourceError

log = logging.getLogger(__name__)

STALL_SECONDS = 10.0
"""No delivery for this long (or a third of the read timeout) while planned events exist:
the receiver is attached anew once before the read may fail as an outage."""


class SequenceGap(Exception):
    """The next event of ``partition`` is ``found`` where ``expected`` was due.

    Usually retention trimmed ``expected .. found - 1``; the caller checks the partition's
    beginning before calling it a loss. ``taken`` holds the events handed out before the gap.
    """

    def __init__(self, partition: str, expected: int, found: int) -> None:
        super().__init__(f"partition {partition}: expected sequence number {expected}, got {found}")
        self.partition = partition
        self.expected = expected
        self.found = found
        self.taken: list[Received] = []

    @property
    def lost(self) -> int:
        """How many events are missing."""
        return self.found - self.expected


class PartitionReceiver:
    """One partition of a consumer group, read in order from ``start`` (see the module doc).

    Args:
        client: The consumer client (owned by the caller).
        consumer_group: Consumer group name.
        partition: Partition id.
        start: First sequence number to hand out.
        owner_level: Owner level (epoch) to attach with; None for a non-exclusive receiver.
        prefetch: Link credit (events the service may send ahead).

    The connection has no keep-alive thread: the SDK's pings read the socket from a second
    thread, concurrently with ``receive``, and two threads processing transfers can append them
    to the buffer out of order. A connection the service dropped while idle, and a link that
    silently stops delivering (:data:`STALL_SECONDS`), is re-attached once, at ``next_seq``,
    by :meth:`take`.
    """

    def __init__(
        self,
        client: EventHubConsumerClient,
        consumer_group: str,
        partition: str,
        start: int,
        *,
        owner_level: int | None,
        prefetch: int,
    ) -> None:
        self.partition = partition
        self.next_seq = start
        self._client = client
        self._group = consumer_group
        self._owner_level = owner_level
        self._prefetch = prefetch
        self._incoming: deque[Received] = deque()
        self._consumer: Any = self._attach()

    def _attach(self) -> Any:
        self._incoming.clear()
        return open_consumer(
            self._client,
            self._group,
            self.partition,
            self.next_seq,
            self._incoming.extend,
            owner_level=self._owner_level,
            prefetch=self._prefetch,
        )

    def take(self, end: int, timeout: float, what: str) -> list[Received]:
        """Events ``next_seq .. end - 1``, in order; afterwards ``next_seq == end``.

        Args:
            end: Exclusive end sequence number (the events must exist: planned from the hub).
            timeout: Seconds without progress before giving up.
            what: Context for error messages (node, hub).

        Raises:
            SequenceGap: the next event's sequence number is above the expected one.
            SourceError: no progress for ``timeout`` seconds (retryable), or the SDK failed
                (retryable for outages, terminal for e.g. a stolen partition).
        """
        out: list[Received] = []
        deadline = time.monotonic() + timeout
        # A link that stops delivering while the planned events exist (credit lost between
        # the SDK and the service, a half-open connection) is attached anew once, early,
        # before the read counts as an outage.
        stall = min(STALL_SECONDS, timeout / 3)
        stall_at: float | None = time.monotonic() + stall
        reattached = False
        while self.next_seq < end:
            if not self._incoming:
                try:
                    self._receive(min(end - self.next_seq, self._prefetch), what)
                except SourceError as exc:
                    if not exc.retryable or reattached:
                        raise
                    reattached = True  # e.g. the service closed the idle connection: once more
                    close_quietly(self._consumer)
                    self._consumer = self._attach()
                    continue
            try:
                progressed = self._drain(out, end)
            except SequenceGap as gap:
                gap.taken = out
                raise
            now = time.monotonic()
            if progressed:
                deadline = now + timeout
                stall_at = None if stall_at is None else now + stall
            elif stall_at is not None and now > stall_at:
                log.warning("%s: partition %s: no events for %.0fs at sequence number %d; "
                            "attaching anew", what, self.partition, stall, self.next_seq)
                stall_at = None
                self.reattach()
            elif now > deadline:
                raise SourceError(
                    f"{what}: partition {self.partition}: no events for {timeout:.0f}s while "
                    f"reading sequence numbers {self.next_seq}..{end - 1}",
                    retryable=True,
                    hint="is the Event Hubs namespace reachable?",
                )
        return out

    def _receive(self, wanted: int, what: str) -> None:
        try:
            # One connection iteration: up to the link credit of frames, then whatever is
            # buffered (at most ``wanted``) goes to ``_incoming``.
            self._consumer.receive(batch=True, max_batch_size=max(1, wanted), max_wait_time=None)
        except Exception as exc:
            if not is_sdk_error(exc) and not hasattr(exc, "condition"):
                raise
            raise connector_error(
                exc, f"{what}: receive partition {self.partition}", SourceError
            ) from exc

    def _drain(self, out: list[Received], end: int) -> bool:
        progressed = False
        incoming = self._incoming
        while incoming and self.next_seq < end:
            event = incoming[0]
            seq = sequence_of(event)
            if seq is None or seq < self.next_seq:
                incoming.popleft()  # a duplicate after an SDK re-attach
                continue
            if seq > self.next_seq:
                raise SequenceGap(self.partition, self.next_seq, seq)
            incoming.popleft()
            out.append(event)
            self.next_seq += 1
            progressed = True
        return progressed

    def skip_to(self, seq: int) -> None:
        """Accept a gap: continue at ``seq`` (the events before it are gone)."""
        self.next_seq = seq

    def reattach(self) -> None:
        """Drop what was received and attach anew at ``next_seq``."""
        close_quietly(self._consumer)
        self._consumer = self._attach()

    def close(self) -> None:
        """Detach and close the connection (idempotent; errors logged)."""
        consumer, self._consumer = self._consumer, None
        self._incoming.clear()
        if consumer is not None:
            close_quietly(consumer)


def first_sequence_at(
    client: EventHubConsumerClient,
    consumer_group: str,
    partition: str,
    moment: datetime,
    *,
    owner_level: int | None,
    timeout: float,
    what: str,
) -> int:
    """Sequence number of the first event enqueued at or after ``moment``.

    The caller checked that such an event exists (the partition's last enqueued time is not
    earlier). One short-lived receiver attaches at the time and reads one event.

    Raises:
        SourceError: no event arrived within ``timeout`` (retryable) or the SDK failed.
    """
    incoming: deque[Received] = deque()
    consumer = open_consumer(
        client,
        consumer_group,
        partition,
        moment,
        incoming.extend,
        owner_level=owner_level,
        prefetch=1,
    )
    try:
        deadline = time.monotonic() + timeout
        while not incoming:
            if time.monotonic() > deadline:
                raise SourceError(
                    f"{what}: partition {partition}: no event at or after {moment.isoformat()} "
                    f"within {timeout:.0f}s",
                    retryable=True,
                    hint="is the Event Hubs namespace reachable?",
                )
            try:
                consumer.receive(batch=True, max_batch_size=1, max_wait_time=None)
            except Exception as exc:
                if not is_sdk_error(exc) and not hasattr(exc, "condition"):
                    raise
                raise connector_error(
                    exc, f"{what}: find the start of partition {partition}", SourceError
                ) from exc
        seq = sequence_of(incoming[0])
        assert seq is not None
        return seq
    finally:
        close_quietly(consumer)
