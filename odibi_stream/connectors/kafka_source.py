"""The Kafka source (``format: kafka``): per-partition offset ranges read with assign + seek.

Positions (see :mod:`odibi_stream.connectors.base`):
    * range = ``{"partitions": {"topic:p": [start, end]}}`` (end exclusive, every known
      partition listed, empty ones as ``[x, x]``) plus ``"data_loss": {"topic:p": [from, to]}``
      when offsets were skipped under ``on_data_loss: skip_with_report``;
    * state = ``{"offsets": {"topic:p": next_offset}}``.

Options (``read.options``):
    * ``pattern``: regex over topic names, instead of ``topic`` (which may be a comma list).
    * ``starting``: ``earliest`` (default) | ``latest`` | ``{"topic:p" or "p": offset}``; applies
      to partitions known when the pipeline first starts. Partitions found later (a topic grew,
      a new topic matched the pattern) always start from their earliest offset, so nothing
      produced to them is missed. ``latest`` is pinned by the first committed batch; until then
      a restart re-resolves it.
    * ``on_data_loss``: ``fail`` (default) | ``skip_with_report``: what to do when the next
      offset to read is no longer on the broker (retention or a recreated topic). ``fail`` raises
      a terminal :class:`SourceError` naming topic, partition and offsets; ``skip_with_report``
      continues from the earliest available offset and records the gap in the range.
    * ``value_format``: ``json`` (default) | ``string`` | ``bytes``; ``schema``: optional fixed
      JSON schema (column → type name); ``key_column``: name of the key column (default ``key``).
    * ``group_id``: consumer group for acknowledging positions (default ``odibi-<pipeline>-<node>``);
      the checkpoint, not the group, is the truth.
    * ``client``: extra librdkafka settings; ``read_timeout_seconds`` (default 60): how long a read
      may make no progress before it fails as a (retryable) outage.

Engines: on an engine with its own Kafka reader (``read_kafka``, the Spark engine) the planned
ranges are read by that engine and decoded here to the same columns and rejects.

Reads use ``isolation.level=read_committed`` and planning uses read-committed end offsets, so
aborted transactional records never appear and every planned offset is decided. Offsets have
gaps (transaction markers, compaction), so a read stops per partition when its position reaches
the range end, not after end - start messages.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from odibi_stream.clients.kafka import (
    METADATA_TIMEOUT,
    client_config,
    jvm_client_options,
    list_partitions,
    parse_topics,
    partition_key,
    split_key,
    to_connector_error,
)
from odibi_stream.config.models import ReadConfig
from odibi_stream.connectors.base import Position
from odibi_stream.connectors.kafka_decode import (
    Decoded,
    check_value_format,
    decoded_from_arrow,
    to_table,
)
from odibi_stream.core.arrow_types import parse_schema
from odibi_stream.core.redact import redact
from odibi_stream.engines.base import Engine, ReadResult
from odibi_stream.exceptions import ConfigError, SourceError

log = logging.getLogger(__name__)

_FETCH_BATCH = 10_000
_DATA_LOSS_POLICIES = ("fail", "skip_with_report")


class KafkaSource:
    """Source over one or more Kafka topics.

    Args:
        node: Node name.
        connection_options: The connection's librdkafka settings (``bootstrap.servers``, SASL...).
        read: The node's read config (``format: kafka``).
        pipeline: Pipeline name (default consumer group id).
        max_records_per_batch: Cap on offsets per batch across all partitions; defaults to
            ``read.incremental.max_records_per_batch``.

    Raises:
        ConfigError: invalid topic selection or options.
    """

    def __init__(
        self,
        node: str,
        connection_options: Mapping[str, Any],
        read: ReadConfig,
        *,
        pipeline: str = "pipeline",
        max_records_per_batch: int | None = None,
    ) -> None:
        self.node = node
        opts = dict(read.options)
        self.topics, self.pattern = parse_topics(read.topic, opts.get("pattern"))
        self.value_format = check_value_format(str(opts.get("value_format", "json")))
        self.schema = parse_schema(opts.get("schema"))
        self.key_column = str(opts.get("key_column", "key"))
        self.starting: Any = opts.get("starting", "earliest")
        self.on_data_loss = str(opts.get("on_data_loss", "fail"))
        if self.on_data_loss not in _DATA_LOSS_POLICIES:
            raise ConfigError(
                f"node {node}: unknown on_data_loss {self.on_data_loss!r}", hint="use fail or skip_with_report"
            )
        if not (self.starting in ("earliest", "latest") or isinstance(self.starting, dict)):
            raise ConfigError(f"node {node}: starting must be earliest, latest or a mapping of partition to offset")
        inc = read.incremental
        self.max_records = max_records_per_batch or (inc.max_records_per_batch if inc else None)
        self.read_timeout = float(opts.get("read_timeout_seconds", 60.0))
        self.group_id = str(opts.get("group_id") or f"odibi-{pipeline}-{node}")
        self._conn = {str(k): v for k, v in connection_options.items()}
        self._conf = client_config(connection_options, opts.get("client"))
        self._conf.update(
            {
                "group.id": self.group_id,
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "isolation.level": "read_committed",
                "enable.partition.eof": True,
            }
        )
        self._lock = threading.Lock()
        self._meta: Consumer | None = None

    @property
    def connection_options(self) -> dict[str, Any]:
        """The connection's client settings (for the kafka trigger); may hold credentials."""
        return dict(self._conn)

    # -- lifecycle -----------------------------------------------------------------------
    def close(self) -> None:
        """Close the metadata consumer (idempotent). The runtime calls it on unload."""
        with self._lock:
            if self._meta is not None:
                self._meta.close()
                self._meta = None

    def _consumer(self) -> Consumer:
        # One long-lived consumer for metadata, watermarks and acknowledgements; guarded by
        # the lock because the trigger's lag queries may come from another thread.
        if self._meta is None:
            self._meta = Consumer(self._conf)
        return self._meta

    def _watermarks(self) -> dict[str, tuple[int, int]]:
        """Fresh (low, high) per partition of the selection; high is read-committed."""
        with self._lock:
            consumer = self._consumer()
            out: dict[str, tuple[int, int]] = {}
            for topic, part in list_partitions(consumer, self.topics, self.pattern):
                try:
                    low, high = consumer.get_watermark_offsets(
                        TopicPartition(topic, part), timeout=METADATA_TIMEOUT, cached=False
                    )
                except KafkaException as exc:
                    raise to_connector_error(exc, f"query offsets of {topic}:{part}", SourceError) from exc
                out[partition_key(topic, part)] = (int(low), int(high))
            return out

    # -- Source protocol -------------------------------------------------------------------
    def initial_state(self) -> Position:
        """Offsets per ``starting`` for the partitions that exist now (queries the broker)."""
        if self.starting == "earliest":
            return {"offsets": {}}
        marks = self._watermarks()
        if self.starting == "latest":
            return {"offsets": {k: high for k, (_, high) in marks.items()}}
        offsets: dict[str, int] = {}
        for key, value in dict(self.starting).items():
            full = str(key) if ":" in str(key) else self._single_topic_key(str(key))
            offsets[full] = int(value)
        return {"offsets": offsets}

    def _single_topic_key(self, part: str) -> str:
        if len(self.topics) != 1:
            raise ConfigError(
                f"node {self.node}: starting offsets must be keyed 'topic:partition' when reading several topics"
            )
        return partition_key(self.topics[0], int(part))

    def fold(self, state: Position, rng: Position) -> Position:
        """Advance every partition of ``rng`` to its end (pure)."""
        offsets = dict(state.get("offsets", {}))
        for key, (_, end) in rng.get("partitions", {}).items():
            offsets[key] = int(end)
        return {"offsets": offsets}

    def plan(self, state: Position) -> Position | None:
        """Next range: per partition from the state (new partitions: earliest) to the end.

        Bounded by ``max_records_per_batch`` shared fairly across partitions with backlog.

        Raises:
            SourceError: offsets were lost and ``on_data_loss`` is ``fail`` (terminal), or the
                broker is unreachable (retryable).
        """
        marks = self._watermarks()
        offsets: Mapping[str, int] = state.get("offsets", {})
        starts: dict[str, int] = {}
        loss: dict[str, list[int]] = {}
        for key, (low, high) in marks.items():
            start = int(offsets.get(key, low))
            if start < low or start > high:
                start = self._data_loss(key, start, low, high, loss)
            starts[key] = start
        backlog = {key: marks[key][1] - start for key, start in starts.items()}
        if not loss and not any(n > 0 for n in backlog.values()):
            return None
        take = share_budget(backlog, self.max_records)
        rng: Position = {"partitions": {key: [starts[key], starts[key] + take[key]] for key in sorted(starts)}}
        if loss:
            rng["data_loss"] = loss
        return rng

    def _data_loss(self, key: str, start: int, low: int, high: int, loss: dict[str, list[int]]) -> int:
        what = (
            f"offsets {start}..{low - 1} of {key} are no longer on the broker (earliest available is {low})"
            if start < low
            else f"next offset {start} of {key} is beyond the end {high} (was the topic deleted and recreated?)"
        )
        if self.on_data_loss == "fail":
            raise SourceError(
                f"node {self.node}: {what}",
                retryable=False,
                hint="set options.on_data_loss: skip_with_report to continue from the earliest offset, "
                "or reset the checkpoint (odibi-stream checkpoint reset)",
            )
        log.warning("node %s: %s; skipping to %d (on_data_loss: skip_with_report)", self.node, what, low)
        loss[key] = [start, low]
        return low

    def read(self, engine: Engine, rng: Position) -> ReadResult:
        """Read exactly the records of ``rng`` (read_committed) as one frame plus rejects.

        Raises:
            SourceError: the broker made no progress for ``read_timeout_seconds`` (retryable)
                or reported a non-retryable error.
        """
        wanted = {k: (int(s), int(e)) for k, (s, e) in rng.get("partitions", {}).items() if int(e) > int(s)}
        if hasattr(engine, "read_kafka"):
            return self._read_with_engine(engine, wanted)
        per_part: dict[str, Decoded] = {key: Decoded() for key in wanted}
        if wanted:
            self._fetch(wanted, per_part)
        merged = Decoded()
        for key in sorted(per_part):
            part = per_part[key]
            merged.keys.extend(part.keys)
            merged.values.extend(part.values)
            for name, values in part.meta.items():
                merged.meta[name].extend(values)
        table, rejects = to_table(merged, self.value_format, self.schema, self.key_column)
        return ReadResult(frame=engine.from_arrow(table), rejects=rejects)

    def _read_with_engine(self, engine: Any, wanted: dict[str, tuple[int, int]]) -> ReadResult:
        """Read through the engine's own Kafka reader (Spark), decode like the confluent path.

        The runtime planned the ranges; the engine only reads them, so the checkpoint format
        is the same on every engine. The raw records are collected to the driver and decoded
        by :func:`decoded_from_arrow` + :func:`to_table`, so columns, schema handling and
        rejects are identical to the pandas engine's; a batch is bounded by
        ``max_records_per_batch``, which is what makes collecting it acceptable.
        """
        raw = Decoded()
        if wanted:
            try:
                frame = engine.read_kafka(jvm_client_options(self._conn), {k: [s, e] for k, (s, e) in wanted.items()})
                raw = decoded_from_arrow(engine.to_arrow(frame))
            except ConfigError:
                raise
            except Exception as exc:
                # The JVM client reports outages as Py4J/Spark errors; they are transient.
                raise SourceError(
                    f"node {self.node}: reading {sorted(wanted)} with the {getattr(engine, 'name', '')} engine failed: "
                    f"{redact(str(exc))[:2000]}",
                    retryable=True,
                    hint="is the broker reachable?",
                ) from exc
        table, rejects = to_table(raw, self.value_format, self.schema, self.key_column)
        return ReadResult(frame=engine.from_arrow(table), rejects=rejects)

    def _fetch(self, wanted: dict[str, tuple[int, int]], out: dict[str, Decoded]) -> None:
        consumer = Consumer(self._conf)
        try:
            consumer.assign([TopicPartition(*split_key(k), s) for k, (s, _) in wanted.items()])
            pending = set(wanted)
            nxt = {k: s for k, (s, _) in wanted.items()}
            deadline = time.monotonic() + self.read_timeout
            while pending:
                # Never ask for more messages than offsets remain: consume() returns as soon as
                # it has that many, instead of waiting out its timeout for a full batch.
                remaining = sum(wanted[k][1] - nxt[k] for k in pending)
                msgs = consumer.consume(num_messages=max(1, min(_FETCH_BATCH, remaining)), timeout=0.5)
                progressed = self._take(msgs, wanted, out, pending, nxt)
                pending -= self._reached_end(consumer, wanted, pending)
                if progressed:
                    deadline = time.monotonic() + self.read_timeout
                elif pending and time.monotonic() > deadline:
                    raise SourceError(
                        f"node {self.node}: no progress reading {sorted(pending)} for {self.read_timeout:.0f}s",
                        retryable=True,
                        hint="is the broker reachable?",
                    )
        except KafkaException as exc:
            raise to_connector_error(exc, f"node {self.node}: read", SourceError) from exc
        finally:
            consumer.close()

    def _take(
        self,
        msgs: list[Any],
        wanted: dict[str, tuple[int, int]],
        out: dict[str, Decoded],
        pending: set[str],
        nxt: dict[str, int],
    ) -> bool:
        progressed = False
        for msg in msgs:
            key = partition_key(msg.topic(), msg.partition())
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    # EOF at or past the end: everything below it was delivered or was a marker.
                    if key in pending and msg.offset() >= wanted[key][1]:
                        pending.discard(key)
                    continue
                raise KafkaException(err)
            progressed = True
            if key not in pending:
                continue
            end = wanted[key][1]
            nxt[key] = msg.offset() + 1
            if msg.offset() < end:
                out[key].add(msg)
            if msg.offset() >= end - 1:
                pending.discard(key)
        return progressed

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

    def range_size(self, rng: Position) -> dict[str, int]:
        """``{"offsets": n, "partitions": k}`` (offsets may include transaction markers)."""
        parts = rng.get("partitions", {})
        return {"offsets": sum(int(e) - int(s) for s, e in parts.values()), "partitions": len(parts)}

    def lag(self, state: Position) -> dict[str, int] | None:
        """Offsets not yet committed per partition (``topic:p`` → n), None if the broker is down."""
        try:
            marks = self._watermarks()
        except SourceError:
            return None
        offsets: Mapping[str, int] = state.get("offsets", {})
        return {key: max(0, high - int(offsets.get(key, low))) for key, (low, high) in marks.items()}

    def on_commit(self, rng: Position) -> None:
        """Acknowledge range ends to the consumer group (for lag tooling; failures logged)."""
        tps = [TopicPartition(*split_key(k), int(e)) for k, (_, e) in rng.get("partitions", {}).items()]
        if not tps:
            return
        try:
            with self._lock:
                self._consumer().commit(offsets=tps, asynchronous=False)
        except KafkaException as exc:
            log.warning("node %s: could not acknowledge offsets to group %s: %s", self.node, self.group_id, exc)


def share_budget(backlog: Mapping[str, int], budget: int | None) -> dict[str, int]:
    """Split ``budget`` offsets across partitions fairly (water-filling), deterministic.

    Partitions with a small backlog take all of it; the rest is shared equally among the
    others. Without a budget every partition takes its whole backlog.
    """
    if budget is None:
        return {k: max(0, n) for k, n in backlog.items()}
    take = {k: 0 for k in backlog}
    remaining = budget
    order = sorted((n, k) for k, n in backlog.items() if n > 0)
    for i, (n, k) in enumerate(order):
        share = remaining // (len(order) - i)
        take[k] = min(n, max(share, 0))
        remaining -= take[k]
    return take
