"""The Kafka sink (``format: kafka``): one transaction per batch, exactly once.

Each record's key is ``options.key_column`` (optional) and its value the JSON object of the
other columns (or ``options.value_columns``); headers ``odibi-pipeline``, ``odibi-node`` and
``odibi-batch`` identify the batch.

Exactly-once (DESIGN.md, micro-batch step 5):
    * A transactional producer with ``transactional.id = odibi-<pipeline>-<node>`` (or
      ``options.transactional_id``). ``init_transactions`` fences any zombie producer with the
      same id and aborts its open transaction, so a crashed write leaves nothing visible to
      ``read_committed`` consumers.
    * ``write`` commits the whole batch in one transaction.
    * ``already_written(key)``: on first use (after fencing) the sink reads the tail of every
      output partition, read-committed, for the highest ``odibi-batch`` this pipeline/node wrote;
      batches up to it are skipped. Later writes keep that mark current in memory.

Errors: broker outages become retryable :class:`SinkError` (the runtime retries the batch; the
idempotency check makes that safe); authorisation or fatal producer errors are terminal.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

import orjson
import pyarrow as pa
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from odibi_stream.clients import kafka_logs
from odibi_stream.clients.kafka import METADATA_TIMEOUT, list_partitions, to_connector_error
from odibi_stream.connectors.base import BatchKey, SinkResult
from odibi_stream.connectors.eventhub_kafka import lacks_transactions, refusal
from odibi_stream.connectors.kafka import KafkaSinkSpec
from odibi_stream.engines.base import Engine, Frame
from odibi_stream.exceptions import SinkError

log = logging.getLogger(__name__)

TAIL_WINDOW = 1_000
"""Offsets read per step when scanning a partition backwards for our last batch."""
_ATTEMPTS = 3
_TXN_TIMEOUT = 60.0


class KafkaSink:
    """Transactional, idempotent sink to one topic (opened from a :class:`KafkaSinkSpec`)."""

    def __init__(self, spec: KafkaSinkSpec) -> None:
        self.node = spec.node
        self.pipeline = spec.pipeline
        self.topic = spec.topic
        self.key_column = spec.key_column
        self.value_columns = spec.value_columns
        self.transactional_id = spec.transactional_id
        self._producer_conf = dict(spec.producer_conf)
        self._consumer_conf = {
            **spec.client_conf,
            "group.id": f"odibi-sink-scan-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "enable.partition.eof": True,
        }
        self._producer: Producer | None = None
        # Highest batch known to be in the topic, per (pipeline, node) writer identity.
        self._marks: dict[tuple[str, str], int] = {}

    # -- idempotency -------------------------------------------------------------------------
    def already_written(self, key: BatchKey) -> bool:
        """True if batch ``key.batch`` (or a later one) of ``key``'s pipeline/node is in the topic."""
        writer = (key.pipeline, key.node)
        if writer not in self._marks:
            self._ensure_producer()
            self._marks[writer] = self._scan_last_batch(writer)
        return key.batch <= self._marks[writer]

    def _scan_last_batch(self, writer: tuple[str, str]) -> int:
        consumer = Consumer(self._consumer_conf)
        try:
            best = -1
            for topic, part in list_partitions(consumer, [self.topic], None):
                best = max(best, self._scan_partition(consumer, TopicPartition(topic, part), writer))
            return best
        except KafkaException as exc:
            raise to_connector_error(exc, f"node {self.node}: scan {self.topic} for written batches", SinkError) from exc
        finally:
            consumer.close()

    def _scan_partition(self, consumer: Consumer, tp: TopicPartition, writer: tuple[str, str]) -> int:
        """Highest batch of ours in ``tp``, reading backwards window by window from the end."""
        low, high = consumer.get_watermark_offsets(tp, timeout=METADATA_TIMEOUT, cached=False)
        end = high
        window = TAIL_WINDOW
        while end > low:
            start = max(low, end - window)
            found = self._scan_range(consumer, tp, start, end, writer)
            if found >= 0:
                return found
            end = start
            window *= 2
        return -1

    def _scan_range(self, consumer: Consumer, tp: TopicPartition, start: int, end: int, writer: tuple[str, str]) -> int:
        consumer.assign([TopicPartition(tp.topic, tp.partition, start)])
        best = -1
        deadline = time.monotonic() + 60
        while True:
            for msg in consumer.consume(num_messages=1000, timeout=0.5):
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        return best
                    raise KafkaException(err)
                offset = int(msg.offset() or 0)
                if offset >= end:
                    return best
                best = max(best, _batch_of(msg.headers() or [], writer))
                if offset >= end - 1:
                    return best
            position = consumer.position([TopicPartition(tp.topic, tp.partition)])[0].offset
            if position >= end:
                return best
            if time.monotonic() > deadline:
                raise SinkError(f"node {self.node}: timed out scanning {tp.topic}:{tp.partition}", retryable=True)

    # -- writing -----------------------------------------------------------------------------
    def write(self, engine: Engine, frame: Frame, key: BatchKey) -> SinkResult:
        """Produce ``frame`` as batch ``key`` in one transaction (skipped if already written).

        Raises:
            SinkError: retryable for outages and aborted transactions, terminal otherwise.
        """
        if self.already_written(key):
            return SinkResult(rows=0, skipped=True, detail={"topic": self.topic, "batch": key.batch})
        records = self._records(engine.to_arrow(frame))
        headers: list[tuple[str, str | bytes | None]] = [
            ("odibi-pipeline", key.pipeline.encode()),
            ("odibi-node", key.node.encode()),
            ("odibi-batch", str(key.batch).encode()),
        ]
        for attempt in range(1, _ATTEMPTS + 1):
            # A failed commit may still have landed (unknown outcome): re-check before retrying.
            if attempt > 1 and self.already_written(key):
                return SinkResult(rows=0, skipped=True, detail={"topic": self.topic, "batch": key.batch})
            try:
                self._transaction(records, headers)
                break
            except SinkError as exc:
                if not exc.retryable or attempt == _ATTEMPTS:
                    raise
                log.warning("node %s: batch %d attempt %d failed, retrying: %s", self.node, key.batch, attempt, exc)
                time.sleep(min(0.5 * 2**attempt, 5.0))
        self._marks[(key.pipeline, key.node)] = key.batch
        return SinkResult(
            rows=len(records),
            skipped=False,
            detail={"topic": self.topic, "batch": key.batch, "transactional_id": self.transactional_id},
        )

    def _records(self, table: pa.Table) -> list[tuple[bytes | None, bytes]]:
        names = table.column_names
        if self.key_column is not None and self.key_column not in names:
            raise SinkError(f"node {self.node}: key_column {self.key_column!r} is not a column", retryable=False)
        value_names = self.value_columns or [n for n in names if n != self.key_column]
        missing = [n for n in value_names if n not in names]
        if missing:
            raise SinkError(f"node {self.node}: value_columns not in the frame: {missing}", retryable=False)
        keys = table.column(self.key_column).to_pylist() if self.key_column else [None] * table.num_rows
        rows = table.select(value_names).to_pylist()
        return [
            (None if k is None else str(k).encode(), orjson.dumps(row, default=str))
            for k, row in zip(keys, rows, strict=True)
        ]

    def _ensure_producer(self) -> Producer:
        if self._producer is None:
            producer = kafka_logs.producer(self._producer_conf)  # logs drained while idle
            timeout = min(_TXN_TIMEOUT, max(5.0, int(self._producer_conf.get("transaction.timeout.ms", 60_000)) / 1000))
            try:
                producer.init_transactions(timeout)
            except KafkaException as exc:
                if lacks_transactions(self._producer_conf, exc, producer):  # e.g. Event Hubs Standard
                    raise refusal(self.node, self._producer_conf) from exc
                raise to_connector_error(exc, f"node {self.node}: init transactions", SinkError) from exc
            self._producer = producer
        return self._producer

    def _transaction(self, records: list[tuple[bytes | None, bytes]], headers: list[tuple[str, str | bytes | None]]) -> None:
        producer = self._ensure_producer()
        failures: list[KafkaError] = []

        def on_delivery(err: KafkaError | None, _msg: Any) -> None:
            if err is not None:
                failures.append(err)

        try:
            producer.begin_transaction()
            for k, v in records:
                self._produce(producer, k, v, headers, on_delivery)
            producer.commit_transaction(_TXN_TIMEOUT)
        except KafkaException as exc:
            aborted = self._recover(producer, exc)
            error = to_connector_error(exc, f"node {self.node}: transaction on {self.topic}", SinkError)
            if aborted and not _is_terminal(exc):
                # Cleanly aborted (e.g. deliveries timed out while the broker was down): nothing
                # landed, so trying again is safe and may succeed.
                error.retryable = True
                error.hint = None
            raise error from exc
        if failures:
            raise SinkError(f"node {self.node}: {len(failures)} records failed: {failures[0]}", retryable=True)

    def _produce(self, producer: Producer, k: bytes | None, v: bytes, headers: list[tuple[str, str | bytes | None]], cb: Any) -> None:
        while True:
            try:
                producer.produce(self.topic, value=v, key=k, headers=headers, on_delivery=cb)
                return
            except BufferError:
                producer.poll(0.05)

    def _recover(self, producer: Producer, exc: KafkaException) -> bool:
        """Abort (True) or drop the producer (False) after a failed transaction."""
        err = _kafka_error(exc)
        if err is not None and err.txn_requires_abort():
            try:
                producer.abort_transaction(_TXN_TIMEOUT)
                return True
            except KafkaException:
                pass
        # Fatal, or abort impossible: a new producer re-inits and fences; our mark must be
        # re-read from the topic because the outcome of the commit is unknown.
        self._producer = None
        self._marks.clear()
        return False

    def close(self) -> None:
        """Flush and drop the producer (idempotent)."""
        if self._producer is not None:
            self._producer.flush(10)
            self._producer = None


_TERMINAL_CODES = frozenset(
    {
        KafkaError._FENCED,
        KafkaError.PRODUCER_FENCED,
        KafkaError.INVALID_PRODUCER_EPOCH,
        KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
        KafkaError.TOPIC_AUTHORIZATION_FAILED,
        KafkaError.CLUSTER_AUTHORIZATION_FAILED,
        KafkaError.SASL_AUTHENTICATION_FAILED,
        KafkaError.MSG_SIZE_TOO_LARGE,
    }
)


def _kafka_error(exc: KafkaException) -> KafkaError | None:
    return exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None


def _is_terminal(exc: KafkaException) -> bool:
    """Fenced by a newer instance (we are the zombie), not authorised, or a record too big."""
    err = _kafka_error(exc)
    return err is not None and err.code() in _TERMINAL_CODES


def _batch_of(headers: Any, writer: tuple[str, str]) -> int:
    """The ``odibi-batch`` of a record written by ``writer`` (pipeline, node), else -1."""
    found = {k: v for k, v in headers if v is not None}
    if found.get("odibi-pipeline") != writer[0].encode() or found.get("odibi-node") != writer[1].encode():
        return -1
    try:
        return int(found.get("odibi-batch", b"-1"))
    except ValueError:
        return -1
