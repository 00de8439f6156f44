"""What the tail of an event hub proves a writer already wrote (the sink's replay check).

Every event the sink writes carries ``message_id = <writer>/<batch>/<index>`` and the
application properties ``odibi-writer``, ``odibi-batch`` and ``odibi-count`` (events in the
whole batch). Within one partition a writer's events are ordered by batch (the runtime writes
batches one after another; a replay of batch N only completes N), so reading a partition
backwards — windows of 500 events, doubling — until one of the writer's events of an older
batch (or the partition's beginning) shows up finds every event of the writer's newest batch
there. Across partitions, the newest batch wins and its indices are united:
:class:`WriterMark` says which batch is the newest and whether all of it is in the hub.

Receivers here are non-exclusive (no owner level): the scan must not pre-empt the hub's real
consumers. A consumer group whose partitions an exclusive reader holds refuses them; the
sink's ``consumer_group`` option picks another one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from azure.eventhub import EventHubConsumerClient

from odibi_stream.connectors.eventhub_client import Management, Received, as_message
from odibi_stream.connectors.eventhub_receiver import PartitionReceiver, SequenceGap

WINDOW = 500
"""Events read per step when scanning a partition backwards."""
WRITER = b"odibi-writer"
BATCH = b"odibi-batch"
COUNT = b"odibi-count"


@dataclass
class WriterMark:
    """The newest batch of one writer found in the hub, and which of its events are there."""

    batch: int = -1
    indices: set[int] = field(default_factory=set)
    count: int | None = None

    @property
    def complete(self) -> bool:
        """True when every event of :attr:`batch` is in the hub."""
        return self.batch >= 0 and self.count is not None and len(self.indices) >= self.count

    def covers(self, batch: int) -> bool:
        """True if all of ``batch`` is in the hub (an older batch, or the newest one complete)."""
        return batch < self.batch or (batch == self.batch and self.complete)

    def written(self, batch: int) -> set[int]:
        """Indices of ``batch`` already in the hub (empty unless it is the newest batch)."""
        return set(self.indices) if batch == self.batch else set()

    def merge(self, other: WriterMark) -> WriterMark:
        """The mark over two disjoint sets of partitions."""
        if other.batch > self.batch:
            return other
        if other.batch == self.batch >= 0:
            count = self.count if self.count is not None else other.count
            return WriterMark(self.batch, self.indices | other.indices, count)
        return self


def _value(props: dict[Any, Any], key: bytes) -> Any:
    value = props.get(key, props.get(key.decode()))
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def identity(event: Received, writer: str) -> tuple[int, int, int | None] | None:
    """(batch, index, count) of an event ``writer`` wrote, else None."""
    msg = as_message(event)
    props = msg.application_properties or {}
    if _value(props, WRITER) != writer:
        return None
    message_id = msg.properties.message_id if msg.properties is not None else None
    if isinstance(message_id, bytes):
        message_id = message_id.decode("utf-8", "replace")
    try:
        batch = int(_value(props, BATCH))
        index = int(str(message_id).rsplit("/", 1)[1])
    except (TypeError, ValueError, IndexError):
        return None
    count = _value(props, COUNT)
    return batch, index, None if count is None else int(count)


def newest_in(events: Iterable[Received], writer: str, mark: WriterMark) -> tuple[WriterMark, bool]:
    """Fold ``events`` (one window, read forwards) into ``mark`` found in later windows.

    Returns the new mark and True once an event of an older batch proves the mark final.
    """
    ours = [found for found in (identity(e, writer) for e in events) if found is not None]
    batch, indices, count = mark.batch, set(mark.indices), mark.count
    for b, index, c in reversed(ours):
        if batch < 0:
            batch = b
        if b == batch:
            indices.add(index)
            count = c if c is not None else count
        elif b < batch:
            return WriterMark(batch, indices, count), True
    return WriterMark(batch, indices, count), False


def scan_partition(
    client: EventHubConsumerClient,
    group: str,
    partition: str,
    first: int,
    end: int,
    writer: str,
    timeout: float,
    what: str,
) -> WriterMark:
    """The writer's newest batch in one partition whose events are ``[first, end)``."""
    mark = WriterMark()
    stop, window = end, WINDOW
    while stop > first:
        start = max(first, stop - window)
        receiver = PartitionReceiver(
            client, group, partition, start, owner_level=None, prefetch=min(window, 2000)
        )
        try:
            events = _take(receiver, stop, timeout, what)
        finally:
            receiver.close()
        mark, final = newest_in(events, writer, mark)
        if final:
            return mark
        stop, window = start, window * 2
    return mark


def _take(receiver: PartitionReceiver, stop: int, timeout: float, what: str) -> list[Received]:
    out: list[Received] = []
    while receiver.next_seq < stop:
        try:
            out += receiver.take(stop, timeout, what)
        except SequenceGap as gap:  # trimmed while scanning: what is gone cannot be a duplicate
            out += gap.taken
            receiver.skip_to(min(gap.found, stop))
    return out


def scan_hub(
    client: EventHubConsumerClient,
    mgmt: Management,
    group: str,
    writer: str,
    timeout: float,
    what: str,
) -> WriterMark:
    """The writer's newest batch across every partition of the hub."""
    infos = mgmt.partitions(mgmt.partition_ids())
    mark = WriterMark()
    for part, info in infos.items():
        mark = mark.merge(
            scan_partition(client, group, part, info.first, info.end, writer, timeout, what)
        )
    return mark
