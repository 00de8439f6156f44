"""The opened Event Hubs source: planning from partition positions, exact range reads.

See :mod:`odibi_stream.connectors.eventhub` for positions, options and guarantees. Created by
:meth:`EventHubSourceSpec.open`, closed by the runner; it connects on first use (opening never
touches the network, so a namespace that is down makes batches retry instead of failing the
pipeline's start).

Clients, all closed by :meth:`EventHubSource.close`: one consumer client, one kept-open
management link (partition ids and positions for planning and lag), one receiver per partition
kept across batches (see :mod:`~odibi_stream.connectors.eventhub_receiver`) and a small thread
pool that reads partitions in parallel.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from azure.eventhub import EventHubConsumerClient

from odibi_stream.connectors.base import Position
from odibi_stream.connectors.budget import share_budget
from odibi_stream.connectors.eventhub import EventHubSourceSpec
from odibi_stream.connectors.eventhub_client import (
    Management,
    PartitionInfo,
    Received,
    connector_error,
    consumer_client,
    is_sdk_error,
)
from odibi_stream.connectors.eventhub_decode import EventRows, to_table
from odibi_stream.connectors.eventhub_receiver import (
    PartitionReceiver,
    SequenceGap,
    first_sequence_at,
)
from odibi_stream.engines.base import Engine, ReadResult
from odibi_stream.exceptions import ConfigError, SourceError

log = logging.getLogger("odibi_stream.connectors.eventhub")

_MAX_READERS = 8


class EventHubSource:
    """Source over one event hub (opened from an :class:`EventHubSourceSpec`)."""

    def __init__(self, spec: EventHubSourceSpec) -> None:
        self.node = spec.node
        self.target = spec.target
        self.options = spec.options
        self.max_records = spec.max_records
        self.what = f"node {spec.node} ({spec.target.describe()})"
        level = spec.options.owner_level
        # "auto": the open time, so a reader opened later (a restart, a takeover) outranks us.
        self.owner_level: int | None = (
            time.time_ns() // 1_000_000
            if level == "auto"
            else (None if level is None else int(level))
        )
        self._lock = threading.Lock()
        self._client: EventHubConsumerClient | None = None
        self._mgmt: Management | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._receivers: dict[str, PartitionReceiver] = {}
        self._closed = False

    # -- lifecycle ---------------------------------------------------------------------------
    def close(self) -> None:
        """Close receivers, the management link and the client (idempotent)."""
        with self._lock:
            self._closed = True
            receivers, self._receivers = list(self._receivers.values()), {}
            pool, self._pool = self._pool, None
            mgmt, self._mgmt = self._mgmt, None
            client, self._client = self._client, None
        for receiver in receivers:
            receiver.close()
        if pool is not None:
            pool.shutdown(wait=True)
        if mgmt is not None:
            mgmt.close()
        if client is not None:
            try:
                client.close()
            except Exception as exc:  # nothing is left to release on a broken client
                log.debug("%s: closing the consumer client failed: %s", self.what, exc)

    def _hub(self) -> tuple[EventHubConsumerClient, Management]:
        with self._lock:
            if self._closed:
                raise SourceError(f"{self.what}: the source is closed", retryable=False)
            if self._client is None:
                self._client = consumer_client(self.target, self.options.consumer_group)
                self._mgmt = Management(self._client)
            assert self._mgmt is not None
            return self._client, self._mgmt

    def positions(self) -> dict[str, PartitionInfo]:
        """Fresh positions of every partition of the hub (ids sorted numerically).

        Raises:
            SourceError: the namespace is unreachable (retryable) or refuses us (terminal).
        """
        _, mgmt = self._hub()
        try:
            ids = sorted(mgmt.partition_ids(), key=_partition_order)
            return mgmt.partitions(ids)
        except Exception as exc:
            if not is_sdk_error(exc) and not hasattr(exc, "condition"):
                raise
            raise connector_error(
                exc, f"{self.what}: read partition positions", SourceError
            ) from exc

    # -- Source protocol ---------------------------------------------------------------------
    def initial_state(self) -> Position:
        """Next sequence numbers per ``starting`` for the partitions that exist now."""
        starting = self.options.starting
        if starting == "earliest":
            return {"next": {}}
        infos = self.positions()
        if starting == "latest":
            return {"next": {p: info.end for p, info in infos.items()}}
        if isinstance(starting, dict):
            unknown = sorted(set(starting) - set(infos), key=_partition_order)
            if unknown:
                raise ConfigError(
                    f"{self.what}: starting names partition(s) {unknown} that the hub does not have",
                    hint=f"its partitions are {sorted(infos, key=_partition_order)}",
                )
            return {"next": dict(starting)}
        assert isinstance(starting, datetime)
        return {"next": {p: self._sequence_at(info, starting) for p, info in infos.items()}}

    def _sequence_at(self, info: PartitionInfo, moment: datetime) -> int:
        if info.first >= info.end or info.last_enqueued_ms < moment.timestamp() * 1000:
            return info.end  # nothing enqueued at or after the moment (yet)
        client, _ = self._hub()
        return first_sequence_at(
            client,
            self.options.consumer_group,
            info.partition,
            moment,
            owner_level=self.owner_level,
            timeout=self.options.read_timeout,
            what=self.what,
        )

    def fold(self, state: Position, rng: Position) -> Position:
        """Advance every partition of ``rng`` to its end (pure)."""
        nxt = dict(state.get("next", {}))
        for part, (_, end) in rng.get("partitions", {}).items():
            nxt[part] = int(end)
        return {"next": nxt}

    def plan(self, state: Position) -> Position | None:
        """Next range: per partition (committed, min(last enqueued, budget share)].

        Raises:
            SourceError: events were lost and ``on_data_loss`` is ``fail`` (terminal), or the
                namespace is unreachable (retryable).
        """
        infos = self.positions()
        nxt: Mapping[str, int] = state.get("next", {})
        starts: dict[str, int] = {}
        loss: dict[str, dict[str, int]] = {}
        for part, info in infos.items():
            start = int(nxt.get(part, info.first))
            if start < info.first or start > info.end:
                start = self._data_loss(part, start, info, loss)
            starts[part] = start
        backlog = {part: infos[part].end - start for part, start in starts.items()}
        if not loss and not any(n > 0 for n in backlog.values()):
            return None
        take = share_budget(backlog, self.max_records)
        rng: Position = {"partitions": {p: [s, s + take[p]] for p, s in starts.items()}}
        if loss:
            rng["data_loss"] = loss
            rng["lost"] = sum(gap["to"] - gap["from"] for gap in loss.values())
        return rng

    def _data_loss(
        self, part: str, start: int, info: PartitionInfo, loss: dict[str, dict[str, int]]
    ) -> int:
        if start < info.first:
            what = (
                f"events {start}..{info.first - 1} of partition {part} ({info.first - start} events) "
                f"are no longer in the hub (retention; the earliest available is {info.first})"
            )
            gap = {"from": start, "to": info.first}
        else:
            what = (
                f"next sequence number {start} of partition {part} is beyond its end {info.end} "
                "(was the hub deleted and recreated?)"
            )
            gap = {"from": info.first, "to": info.first}
        if self.options.on_data_loss == "fail":
            raise SourceError(
                f"{self.what}: {what}",
                retryable=False,
                hint="set options.on_data_loss: skip_and_report to continue from the earliest event, "
                "or reset the checkpoint (odibi-stream checkpoint reset)",
            )
        log.warning(
            "%s: %s; continuing at %d (on_data_loss: skip_and_report)",
            self.what,
            what,
            info.first,
            extra={"node": self.node, "partition": part, "events_lost": gap["to"] - gap["from"]},
        )
        loss[part] = gap
        return info.first

    def read(self, engine: Engine, rng: Position) -> ReadResult:
        """Read exactly the events of ``rng`` as one frame plus rejects (undecodable bodies).

        Raises:
            SourceError: no progress for ``read_timeout_seconds`` or an outage (retryable), a
                stolen partition or events lost under ``on_data_loss: fail`` (terminal).
        """
        wanted = {
            p: (int(s), int(e))
            for p, (s, e) in rng.get("partitions", {}).items()
            if int(e) > int(s)
        }
        got: dict[str, list[Received]] = {}
        if wanted:
            pool = self._readers()
            futures = {
                p: pool.submit(self._read_partition, p, s, e) for p, (s, e) in wanted.items()
            }
            errors: list[BaseException] = []
            for part, future in futures.items():
                try:
                    got[part] = future.result()
                except BaseException as exc:  # every partition finishes before we raise
                    errors.append(exc)
            if errors:
                raise errors[0]
        rows = EventRows(hub=self.target.hub)
        for part in sorted(got, key=_partition_order):
            rows.add_events(part, got[part])
        table, rejects = to_table(rows, self.options.value_format, self.options.schema or {})
        return ReadResult(frame=engine.from_arrow(table), rejects=rejects, rows=table.num_rows)

    def _readers(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    _MAX_READERS, thread_name_prefix=f"odibi-eh-{self.node}"
                )
            return self._pool

    def _read_partition(self, part: str, start: int, end: int) -> list[Received]:
        receiver = self._receiver(part, start)
        try:
            out: list[Received] = []
            anomalies = 0
            while receiver.next_seq < end:
                try:
                    out += receiver.take(end, self.options.read_timeout, self.what)
                except SequenceGap as gap:
                    out += gap.taken
                    if self.positions()[part].first <= gap.expected and anomalies < 3:
                        # The hub still has the event: a delivery anomaly, not retention.
                        anomalies += 1
                        log.warning(
                            "%s: %s, though the hub still holds it; re-attaching", self.what, gap
                        )
                        receiver.reattach()
                        continue
                    self._gap(gap, end)
                    receiver.skip_to(min(gap.found, end))
            return out
        except BaseException:
            self._drop_receiver(part, receiver)  # its position is unknown now
            raise

    def _gap(self, gap: SequenceGap, end: int) -> None:
        lost = min(gap.found, end) - gap.expected
        what = (
            f"events {gap.expected}..{gap.expected + lost - 1} of partition {gap.partition} "
            f"({lost} events) were trimmed by retention after this batch was planned"
        )
        if self.options.on_data_loss == "fail":
            raise SourceError(
                f"{self.what}: {what}",
                retryable=False,
                hint="set options.on_data_loss: skip_and_report to continue, or reset the checkpoint",
            )
        log.warning(
            "%s: %s; skipping them (on_data_loss: skip_and_report)",
            self.what,
            what,
            extra={"node": self.node, "partition": gap.partition, "events_lost": lost},
        )

    def _receiver(self, part: str, start: int) -> PartitionReceiver:
        client, _ = self._hub()
        with self._lock:
            current = self._receivers.get(part)
            if current is not None and current.next_seq == start:
                return current
            self._receivers.pop(part, None)
        if current is not None:
            current.close()  # a replay or rewind: drop what it prefetched
        receiver = PartitionReceiver(
            client,
            self.options.consumer_group,
            part,
            start,
            owner_level=self.owner_level,
            prefetch=self.options.prefetch,
        )
        with self._lock:
            self._receivers[part] = receiver
        return receiver

    def _drop_receiver(self, part: str, receiver: PartitionReceiver) -> None:
        with self._lock:
            if self._receivers.get(part) is receiver:
                del self._receivers[part]
        receiver.close()

    def range_size(self, rng: Position) -> dict[str, int]:
        """``{"events": n, "partitions": k}`` plus ``"lost"`` when events were skipped."""
        parts = rng.get("partitions", {})
        out = {"events": sum(int(e) - int(s) for s, e in parts.values()), "partitions": len(parts)}
        if rng.get("lost"):
            out["lost"] = int(rng["lost"])
        return out

    def lag(self, state: Position) -> dict[str, int] | None:
        """Events not yet committed per partition (``<hub>:<id>`` → n); None during an outage."""
        try:
            infos = self.positions()
        except SourceError:
            return None
        nxt: Mapping[str, int] = state.get("next", {})
        return {
            f"{self.target.hub}:{p}": max(0, i.end - max(int(nxt.get(p, i.first)), i.first))
            for p, i in infos.items()
        }

    def on_commit(self, rng: Position) -> None:
        """Nothing to acknowledge: the checkpoint holds the positions (no consumer-group store)."""


def _partition_order(part: str) -> tuple[int, str]:
    return (int(part), part) if part.isdigit() else (1 << 30, part)
