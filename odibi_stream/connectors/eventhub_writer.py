"""The Event Hubs sink (``format: eventhub``): batched sends, replay-safe by message id.

Each row becomes one event: the JSON object of ``value_columns`` (default: every column but
the key) as its body, ``message_id = <writer>/<batch>/<index>`` (writer = ``<pipeline>/<node>``,
after ``options.message_id_prefix``; index = the row's position in the batch) and the
application properties ``odibi-writer``, ``odibi-batch`` and ``odibi-count``. With
``key_column`` the key is the event's partition key and picks its partition by the same hash
the service and the SDK's buffered producer use; without it rows go round robin. Events are
sent per partition in index order, in batches up to the link's size limit (1 MB on Azure).

Guarantee — honestly: Event Hubs has no transactions, so the hub sees **at least once**: a
send whose acknowledgement was lost may have landed. The sink narrows that to the unavoidable:

* Before the first write (and after any failed send) it reads the tail of every partition
  (:mod:`~odibi_stream.connectors.eventhub_scan`) and learns this writer's newest batch and
  which of its events are there. A replayed batch skips exactly those and sends the rest, so
  a crash at any point of a batch (some partitions sent, some not) leaves every row in the hub
  once after the replay.
* A failed send is never re-sent blindly (the SDK's ``send_batch`` would, once): the write
  re-scans the hub and sends what is still missing, once, on fresh connections (the first
  send after an idle period may meet a connection the service closed); if that fails too the
  write fails and the runtime retries the batch, which re-scans again. What remains is the
  window the service itself leaves open — an event stored whose acknowledgement never came
  *and* that the scan did not see yet — so readers that must be exact de-duplicate by message
  id (deterministic per row), which makes the pipeline exactly-once end to end for them.

Errors: outages are retryable :class:`SinkError` (the retry re-scans, so it is safe); an event
over the size limit, a missing column or refused credentials are terminal.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable
from typing import Any

import orjson
import pyarrow as pa
from azure.eventhub import EventData, EventDataBatch, EventHubConsumerClient, EventHubProducerClient

from odibi_stream.connectors.base import BatchKey, SinkResult
from odibi_stream.connectors.eventhub import EventHubSinkSpec
from odibi_stream.connectors.eventhub_client import (
    Management,
    close_quietly,
    connector_error,
    consumer_client,
    is_sdk_error,
    producer_client,
    send_once,
)
from odibi_stream.connectors.eventhub_decode import PARTITION_KEY
from odibi_stream.connectors.eventhub_scan import COUNT, WRITER, WriterMark, scan_hub
from odibi_stream.engines.base import Engine, Frame
from odibi_stream.exceptions import SinkError

log = logging.getLogger("odibi_stream.connectors.eventhub")

Event = tuple[int, str, bytes, str | None]
"""(index in the batch, partition id, body, partition key)."""


def _key_hasher() -> Callable[[str], int]:
    try:  # the service's hash, as the SDK's buffered producer computes it client-side
        from azure.eventhub._buffered_producer._partition_resolver import generate_hash_code

        return lambda key: abs(int(generate_hash_code(key)))
    except ImportError:  # a future SDK: a stable hash keeps keys together all the same
        return lambda key: zlib.crc32(key.encode("utf-8"))


class EventHubSink:
    """Idempotent-on-replay sink to one event hub (opened from an :class:`EventHubSinkSpec`)."""

    def __init__(self, spec: EventHubSinkSpec) -> None:
        self.node = spec.node
        self.target = spec.target
        self.options = spec.options
        self.what = f"node {spec.node} ({spec.target.describe()})"
        self._producer: EventHubProducerClient | None = None
        self._reader: EventHubConsumerClient | None = None
        self._mgmt: Management | None = None
        self._hash = _key_hasher()
        self._marks: dict[str, WriterMark] = {}

    def writer(self, key: BatchKey) -> str:
        """The writer identity of ``key``'s pipeline and node."""
        return f"{self.options.message_id_prefix}{key.pipeline}/{key.node}"

    # -- idempotency -------------------------------------------------------------------------
    def already_written(self, key: BatchKey) -> bool:
        """True if every event of batch ``key`` (or a later batch) of its writer is in the hub."""
        return self._mark(self.writer(key)).covers(key.batch)

    def _mark(self, writer: str) -> WriterMark:
        if writer not in self._marks:
            reader, mgmt = self._scanner()
            try:
                group, timeout = self.options.consumer_group, self.options.read_timeout
                self._marks[writer] = scan_hub(reader, mgmt, group, writer, timeout, self.what)
            except Exception as exc:
                if not is_sdk_error(exc) and not hasattr(exc, "condition"):
                    raise
                raise connector_error(
                    exc, f"{self.what}: scan the hub for written batches", SinkError
                ) from exc
        return self._marks[writer]

    def _partitions(self) -> list[str]:
        """The hub's partition ids in numeric order (rows are assigned by position in it)."""
        _, mgmt = self._scanner()
        try:
            return sorted(mgmt.partition_ids(), key=lambda p: (len(p), p))
        except Exception as exc:
            if not is_sdk_error(exc) and not hasattr(exc, "condition"):
                raise
            raise connector_error(exc, f"{self.what}: read the partition ids", SinkError) from exc

    def _scanner(self) -> tuple[EventHubConsumerClient, Management]:
        if self._reader is None:
            self._reader = consumer_client(self.target, self.options.consumer_group)
            self._mgmt = Management(self._reader)
        assert self._mgmt is not None
        return self._reader, self._mgmt

    # -- writing -----------------------------------------------------------------------------
    def write(self, engine: Engine, frame: Frame, key: BatchKey) -> SinkResult:
        """Send ``frame`` as batch ``key`` (what the hub already holds of it is skipped).

        A failed send is followed by one re-scan and one more attempt with fresh connections
        (the first send after an idle period may meet a connection the service closed); the
        re-scan tells exactly what the failed attempt left in the hub.

        Raises:
            SinkError: retryable for outages, terminal for bad rows or credentials.
        """
        writer = self.writer(key)
        detail: dict[str, Any] = {"hub": self.target.hub, "batch": key.batch}
        table: pa.Table | None = None
        for attempt in (1, 2):
            mark = self._mark(writer)
            if mark.covers(key.batch):
                return SinkResult(rows=0, skipped=True, detail=detail)
            table = engine.to_arrow(frame) if table is None else table
            done = mark.written(key.batch)
            events = [e for e in self._events(table, self._partitions()) if e[0] not in done]
            if done:
                log.info(
                    "%s: batch %d is partly in the hub already (%d events); sending the other %d",
                    self.what,
                    key.batch,
                    len(done),
                    len(events),
                )
            try:
                self._send(events, writer, key.batch, table.num_rows)
            except SinkError as exc:
                self._marks.pop(writer, None)  # what landed is unknown: re-scan before sending
                self._reset_producer()
                if not exc.retryable or attempt == 2:
                    raise
                log.warning(
                    "%s: batch %d: %s; re-scanning the hub and trying once more",
                    self.what,
                    key.batch,
                    exc,
                )
                continue
            except BaseException:
                self._marks.pop(writer, None)
                raise
            self._marks[writer] = WriterMark(key.batch, set(), 0)  # all of it: complete
            return SinkResult(
                rows=len(events), skipped=False, detail={**detail, "resumed": bool(done)}
            )
        raise AssertionError("unreachable")

    def _reset_producer(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            close_quietly(producer, background=True)

    def _events(self, table: pa.Table, partitions: list[str]) -> list[Event]:
        names = table.column_names
        key_column = self.options.key_column
        if key_column is not None and key_column not in names:
            raise SinkError(
                f"{self.what}: key_column {key_column!r} is not a column", retryable=False
            )
        value_names = list(self.options.value_columns or [n for n in names if n != key_column])
        missing = [n for n in value_names if n not in names]
        if missing:
            raise SinkError(
                f"{self.what}: value_columns not in the frame: {missing}", retryable=False
            )
        keys = table.column(key_column).to_pylist() if key_column else [None] * table.num_rows
        rows = table.select(value_names).to_pylist()
        count = len(partitions)
        slots: dict[str, int] = {}
        out: list[Event] = []
        for i, (k, row) in enumerate(zip(keys, rows, strict=True)):
            text = None if k is None else str(k)
            if text is None:
                slot = i % count
            elif (slot := slots.get(text, -1)) < 0:
                slot = slots[text] = self._hash(text) % count
            out.append((i, partitions[slot], orjson.dumps(row, default=str), text))
        return out

    def _send(self, events: list[Event], writer: str, batch: int, total: int) -> None:
        producer = self._client()
        by_partition: dict[str, list[Event]] = {}
        for event in events:
            by_partition.setdefault(event[1], []).append(event)
        try:
            for part in sorted(by_partition, key=lambda p: (len(p), p)):
                self._send_partition(producer, part, by_partition[part], writer, batch, total)
        except SinkError:
            raise
        except Exception as exc:
            if not is_sdk_error(exc) and not hasattr(exc, "condition"):
                raise
            raise connector_error(exc, f"{self.what}: send batch {batch}", SinkError) from exc

    def _send_partition(
        self,
        producer: EventHubProducerClient,
        part: str,
        events: list[Event],
        writer: str,
        batch: int,
        total: int,
    ) -> None:
        current: EventDataBatch = producer.create_batch(partition_id=part)
        for index, _, body, key in events:
            event = EventData(body)
            event.message_id = f"{writer}/{batch}/{index}"
            event.properties = {
                WRITER.decode(): writer,
                "odibi-batch": batch,
                COUNT.decode(): total,
            }
            if key is not None:
                raw = event.raw_amqp_message
                raw.annotations = {**(raw.annotations or {}), PARTITION_KEY: key}
            try:
                current.add(event)
            except ValueError:
                if len(current) == 0:
                    raise SinkError(
                        f"{self.what}: row {index} of batch {batch} is {len(body)} bytes, over the hub's "
                        f"{current.max_size_in_bytes}-byte event limit",
                        retryable=False,
                        hint="write fewer columns (value_columns) or smaller rows",
                    ) from None
                send_once(producer, current, part)
                current = producer.create_batch(partition_id=part)
                current.add(event)
        if len(current):
            send_once(producer, current, part)

    def _client(self) -> EventHubProducerClient:
        if self._producer is None:
            self._producer = producer_client(self.target)
        return self._producer

    def close(self) -> None:
        """Close the producer, the scan client and its management link (idempotent)."""
        producer, self._producer = self._producer, None
        reader, self._reader = self._reader, None
        mgmt, self._mgmt = self._mgmt, None
        for closable in (mgmt, producer, reader):
            if closable is None:
                continue
            try:
                closable.close()
            except Exception as exc:  # a broken client has nothing left to release
                log.debug("%s: close failed: %s", self.what, exc)
