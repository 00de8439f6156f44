"""The opened Kafka source: metadata, planning and exact offset-range reads (confluent-kafka).

See :mod:`odibi_stream.connectors.kafka_source` for positions, options and guarantees; this
module holds the live part, created by :meth:`KafkaSourceSpec.open` and closed by the runner.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping

from confluent_kafka import Consumer, KafkaException, TopicPartition

from odibi_stream.clients import kafka_logs
from odibi_stream.clients.kafka import (
    METADATA_TIMEOUT,
    jvm_client_options,
    list_partitions,
    partition_key,
    split_key,
    to_connector_error,
)
from odibi_stream.connectors.base import Position
from odibi_stream.connectors.kafka import KafkaSourceSpec, share_budget
from odibi_stream.connectors.kafka_decode import Decoded, decoded_from_arrow, to_table
from odibi_stream.connectors.kafka_fetch import RangeFetcher
from odibi_stream.core.redact import redact
from odibi_stream.engines.base import Engine, ReadResult, SupportsKafkaRead
from odibi_stream.exceptions import ConfigError, SourceError

log = logging.getLogger("odibi_stream.connectors.kafka")


class KafkaSource:
    """Source over one or more Kafka topics (opened from a :class:`KafkaSourceSpec`)."""

    def __init__(self, spec: KafkaSourceSpec) -> None:
        self.node = spec.node
        self.topics, self.pattern = spec.topics, spec.pattern
        self.value_format, self.schema, self.key_column = spec.value_format, spec.schema, spec.key_column
        self.starting, self.on_data_loss = spec.starting, spec.on_data_loss
        self.max_records, self.read_timeout = spec.max_records, spec.read_timeout
        self.group_id = spec.group_id
        self._conn = {str(k): v for k, v in spec.connection_options.items()}
        self._conf = dict(spec.consumer_conf)
        self._lock = threading.Lock()
        self._meta: Consumer | None = None
        self._fetcher = RangeFetcher(self._conf, self.node, self.read_timeout)

    # -- lifecycle -----------------------------------------------------------------------
    def close(self) -> None:
        """Close the reading and metadata consumers (idempotent). The runtime calls it on unload."""
        self._fetcher.close()
        with self._lock:
            if self._meta is not None:
                self._meta.close()
                self._meta = None

    def _consumer(self) -> Consumer:
        # One long-lived consumer for metadata, watermarks and acknowledgements; guarded by
        # the lock because the trigger's lag queries may come from another thread.
        if self._meta is None:
            self._meta = kafka_logs.consumer(self._conf)  # logs drained while idle
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
        if isinstance(engine, SupportsKafkaRead):
            return self._read_with_engine(engine, wanted)
        per_part: dict[str, Decoded] = {key: Decoded() for key in wanted}
        if wanted:
            self._fetcher.fetch(wanted, per_part)
        merged = Decoded()
        for key in sorted(per_part):
            part = per_part[key]
            merged.keys.extend(part.keys)
            merged.values.extend(part.values)
            for name, values in part.meta.items():
                merged.meta[name].extend(values)
        table, rejects = to_table(merged, self.value_format, self.schema, self.key_column)
        return ReadResult(frame=engine.from_arrow(table), rejects=rejects, rows=table.num_rows)

    def _read_with_engine(self, engine: Engine, wanted: dict[str, tuple[int, int]]) -> ReadResult:
        """Read through the engine's own Kafka reader (Spark), decode like the confluent path.

        The runtime planned the ranges; the engine only reads them, so the checkpoint format
        is the same on every engine. The raw records are collected to the driver and decoded
        by :func:`decoded_from_arrow` + :func:`to_table`, so columns, schema handling and
        rejects are identical to the pandas engine's; a batch is bounded by
        ``max_records_per_batch``, which is what makes collecting it acceptable.
        """
        assert isinstance(engine, SupportsKafkaRead)
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
                    f"node {self.node}: reading {sorted(wanted)} with the {engine.name} engine failed: "
                    f"{redact(str(exc))[:2000]}",
                    retryable=True,
                    hint="is the broker reachable?",
                ) from exc
        table, rejects = to_table(raw, self.value_format, self.schema, self.key_column)
        return ReadResult(frame=engine.from_arrow(table), rejects=rejects, rows=table.num_rows)

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
