"""The event store: hubs, partitions, sequence numbers, offsets, retention and start positions.

Each partition keeps its events as the exact bytes a receiver gets (see ``amqp_message``),
with parallel arrays of offsets and enqueued times for the offset and time selectors.
Sequence numbers start at 0 and are dense; the offset of an event is the number of payload
bytes stored before it (opaque to clients, as on the service: code that does arithmetic on
offsets sees gaps). Trimming drops a prefix, so the beginning sequence number rises above 0
like after retention. A partition's lock is held only to copy references; listeners (the
connections of receivers waiting at the end) are called after it is released.
"""

from __future__ import annotations

import bisect
import re
import threading
import time
import zlib
from array import array
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from tests.eventhub_server.amqp_message import InboundEvent, stored_payload
from tests.eventhub_server.errors import (
    ARGUMENT_ERROR,
    ARGUMENT_OUT_OF_RANGE,
    NOT_FOUND,
    ServiceError,
)

DEFAULT_CONSUMER_GROUP = "$Default"
_SELECTOR = re.compile(
    r"amqp\.annotation\.x-opt-(offset|sequence-number|enqueued-time)\s*(>=|>)\s*'([^']*)'"
)


def now_ms() -> int:
    """Wall-clock milliseconds since the epoch (the service's enqueued-time unit)."""
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class Selector:
    """A parsed ``apache.org:selector-filter:string`` start position."""

    kind: str  # "offset" | "sequence-number" | "enqueued-time"
    inclusive: bool
    value: str


def parse_selector(text: str | None) -> Selector | None:
    """The start position a receiver asked for (None: no filter, start of the stream)."""
    if not text:
        return None
    match = _SELECTOR.search(text)
    if match is None:
        raise ServiceError(ARGUMENT_ERROR, f"The selector filter '{text}' is not supported.")
    kind, op, value = match.groups()
    return Selector(kind, op == ">=", value)


@dataclass(frozen=True)
class PartitionProperties:
    """What ``$management`` reports for a partition (the service's field meanings)."""

    beginning_sequence_number: int
    last_enqueued_sequence_number: int
    last_enqueued_offset: str
    last_enqueued_time_ms: int
    is_empty: bool


@dataclass(frozen=True)
class EventSlice:
    """Stored events handed to a receiver: ``payloads[i]`` has sequence number ``first + i``."""

    first: int
    payloads: list[bytes]
    header_lengths: list[int]


class Partition:
    """One partition's log. Thread-safe; every method may be called from any connection."""

    def __init__(self, hub: str, partition_id: str) -> None:
        self.hub = hub
        self.id = partition_id
        self._lock = threading.Lock()
        self._payloads: list[bytes] = []
        self._header_lengths = array("I")
        self._offsets = array("q")
        self._times = array("q")
        self._base = 0  # sequence number of _payloads[0]
        self._next_offset = 0
        self._last: tuple[int, int, int] | None = None  # (seq, offset, time) of the newest event
        self._listeners: set[Callable[[], None]] = set()

    # -- writing ---------------------------------------------------------------------------
    def append(self, events: Iterable[InboundEvent]) -> list[int]:
        """Store events in order; returns their sequence numbers. Wakes waiting receivers."""
        seqs: list[int] = []
        with self._lock:
            enqueued = max(now_ms(), self._times[-1] if self._times else 0)
            for event in events:
                seq = self._base + len(self._payloads)
                payload = stored_payload(event, seq, self._next_offset, enqueued)
                self._payloads.append(payload)
                self._header_lengths.append(len(event.header))
                self._offsets.append(self._next_offset)
                self._times.append(enqueued)
                self._last = (seq, self._next_offset, enqueued)
                self._next_offset += len(payload)
                seqs.append(seq)
            listeners = list(self._listeners)
        for wake in listeners:
            wake()
        return seqs

    def trim(self, before_seq: int) -> int:
        """Drop every event with a sequence number below ``before_seq`` (retention)."""
        with self._lock:
            end = self._base + len(self._payloads)
            cut = max(0, min(before_seq, end) - self._base)
            del self._payloads[:cut]
            del self._header_lengths[:cut]
            del self._offsets[:cut]
            del self._times[:cut]
            self._base += cut
            return cut

    # -- reading ---------------------------------------------------------------------------
    def subscribe(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` (from the appending thread) after each append."""
        with self._lock:
            self._listeners.add(listener)

    def unsubscribe(self, listener: Callable[[], None]) -> None:
        """Stop calling ``listener``."""
        with self._lock:
            self._listeners.discard(listener)

    @property
    def end(self) -> int:
        """The sequence number the next appended event will get."""
        with self._lock:
            return self._base + len(self._payloads)

    def read(self, seq: int, max_count: int) -> EventSlice:
        """Up to ``max_count`` events from ``seq`` on (from the beginning if ``seq`` was trimmed)."""
        with self._lock:
            start = max(seq, self._base) - self._base
            stop = start + max_count
            return EventSlice(
                start + self._base, self._payloads[start:stop], self._header_lengths[start:stop].tolist()
            )

    def stored(self) -> EventSlice:
        """Every event still stored (for assertions; receivers use :meth:`read`)."""
        with self._lock:
            return EventSlice(self._base, list(self._payloads), self._header_lengths.tolist())

    def properties(self) -> PartitionProperties:
        """Beginning and last-enqueued positions; an empty partition reports -1 / "-1" / epoch."""
        with self._lock:
            if self._last is None:
                return PartitionProperties(-1, -1, "-1", 0, True)
            seq, offset, enqueued = self._last
            empty = not self._payloads
            begin = seq + 1 if empty else self._base
            return PartitionProperties(begin, seq, str(offset), enqueued, empty)

    def start_of(self, selector: Selector | None) -> int:
        """The sequence number a receiver with ``selector`` starts at (the service's rules)."""
        with self._lock:
            end = self._base + len(self._payloads)
            if selector is None:
                return self._base
            if selector.kind == "sequence-number":
                return self._start_by_sequence(selector, end)
            if selector.kind == "offset":
                return self._start_by_offset(selector, end)
            return self._start_by_time(selector)

    def _start_by_sequence(self, selector: Selector, end: int) -> int:
        try:
            wanted = int(selector.value) + (0 if selector.inclusive else 1)
        except ValueError:
            raise ServiceError(ARGUMENT_ERROR, f"Invalid sequence number '{selector.value}'.") from None
        if wanted > end:
            raise ServiceError(
                ARGUMENT_OUT_OF_RANGE,
                f"The supplied sequence number '{selector.value}' is invalid. "
                f"The last sequence number in the system is '{end - 1}'",
            )
        return max(wanted, self._base)

    def _start_by_offset(self, selector: Selector, end: int) -> int:
        if selector.value == "-1":
            return self._base
        if selector.value == "@latest":
            return end
        try:
            wanted = int(selector.value)
        except ValueError:
            raise ServiceError(ARGUMENT_ERROR, f"Invalid offset '{selector.value}'.") from None
        last_offset = self._last[1] if self._last else -1
        if wanted > last_offset:
            raise ServiceError(
                ARGUMENT_OUT_OF_RANGE,
                f"The supplied offset '{selector.value}' is invalid. "
                f"The last offset in the system is '{last_offset}'",
            )
        find = bisect.bisect_left if selector.inclusive else bisect.bisect_right
        return self._base + find(self._offsets, wanted)

    def _start_by_time(self, selector: Selector) -> int:
        try:
            wanted = int(selector.value)
        except ValueError:
            raise ServiceError(ARGUMENT_ERROR, f"Invalid enqueued time '{selector.value}'.") from None
        find = bisect.bisect_left if selector.inclusive else bisect.bisect_right
        return self._base + find(self._times, wanted)


class Hub:
    """An event hub: partitions "0".."n-1" (more can be added), consumer groups, routing."""

    def __init__(self, name: str, partitions: int, consumer_groups: Sequence[str] = ()) -> None:
        if partitions < 1:
            raise ValueError("an event hub needs at least one partition")
        self.name = name
        self.created_ms = now_ms()
        self.partitions = {str(i): Partition(name, str(i)) for i in range(partitions)}
        self.consumer_groups = {DEFAULT_CONSUMER_GROUP, *consumer_groups}
        self._round_robin = 0
        self._lock = threading.Lock()

    def add_partitions(self, total: int) -> None:
        """Grow to ``total`` partitions (Premium/Dedicated hubs can; existing ones keep data)."""
        with self._lock:
            if total < len(self.partitions):
                raise ValueError(f"cannot shrink {self.name} from {len(self.partitions)} to {total} partitions")
            # Copy on write: readers iterate the old dict without a lock.
            grown = dict(self.partitions)
            for i in range(len(grown), total):
                grown[str(i)] = Partition(self.name, str(i))
            self.partitions = grown

    def partition(self, partition_id: str) -> Partition:
        """The partition, or the service's out-of-range error."""
        try:
            return self.partitions[partition_id]
        except KeyError:
            raise ServiceError(
                ARGUMENT_OUT_OF_RANGE,
                f"The specified partition '{partition_id}' is invalid for an EventHub partition sender "
                f"or receiver. It should be between 0 and {len(self.partitions) - 1}.",
            ) from None

    def route(self, partition_key: str | None) -> Partition:
        """Where an event without an explicit partition goes: key hash, else round robin.

        The key hash is CRC-32 (stable across runs), not the service's own hash function.
        """
        partitions = self.partitions
        if partition_key is not None:
            index = zlib.crc32(partition_key.encode("utf-8")) % len(partitions)
        else:
            with self._lock:
                index = self._round_robin % len(partitions)
                self._round_robin += 1
        return partitions[str(index)]


class Namespace:
    """All hubs of one server; outlives the server's sockets (data survives stop/start)."""

    def __init__(self) -> None:
        self._hubs: dict[str, Hub] = {}
        self._lock = threading.Lock()

    def create_hub(self, name: str, partitions: int, consumer_groups: Sequence[str] = ()) -> Hub:
        """Create a hub (names are case-insensitive, as on the service); error if it exists."""
        with self._lock:
            if name.lower() in self._hubs:
                raise ValueError(f"event hub {name!r} already exists")
            hub = Hub(name, partitions, consumer_groups)
            self._hubs[name.lower()] = hub
            return hub

    def find(self, name: str) -> Hub | None:
        """The hub called ``name`` or None."""
        with self._lock:
            return self._hubs.get(name.lower())

    def hub(self, name: str, namespace_host: str = "localhost") -> Hub:
        """The hub called ``name``, or the service's not-found error."""
        found = self.find(name)
        if found is None:
            raise ServiceError(
                NOT_FOUND,
                f"The messaging entity 'sb://{namespace_host}/{name}' could not be found.",
                status=404,
            )
        return found
