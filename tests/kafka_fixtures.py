"""A real Kafka broker for tests, plus small helpers to create topics, produce and consume.

``kafka_bootstrap`` (session scope): ``$KAFKA_BOOTSTRAP`` if set (an externally managed broker),
else ``scripts/kafka-local.sh start`` (idempotent: reuses the broker ``make services`` started).
:class:`LocalBroker` controls a broker instance by its run folder, so an outage test can stop and
start its own broker on the same port and data without disturbing the shared one.

Register from a conftest with ``pytest_plugins = ["tests.kafka_fixtures"]`` or by importing the
fixtures.
"""

from __future__ import annotations

import contextlib
import functools
import os
import subprocess
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "kafka-local.sh"


@dataclass
class LocalBroker:
    """A broker run by ``scripts/kafka-local.sh`` with its own run folder (None = default)."""

    run_dir: Path | None = None

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.run_dir is not None:
            env["KAFKA_RUN_DIR"] = str(self.run_dir)
        return env

    def _run(self, cmd: str) -> str:
        done = subprocess.run(
            ["bash", str(SCRIPT), cmd], env=self._env(), capture_output=True, text=True, timeout=180
        )
        if done.returncode != 0 and cmd != "status":
            raise RuntimeError(f"kafka-local.sh {cmd} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout.strip()

    def start_broker(self) -> str:
        """Start (or find running) and return the bootstrap address."""
        return self._run("start").splitlines()[-1]

    def stop_broker(self) -> None:
        """Stop the broker; its port and data are reused by the next :meth:`start_broker`."""
        self._run("stop")

    def reset(self) -> None:
        """Stop and delete the broker's data."""
        self._run("reset")


def shared_broker() -> LocalBroker:
    """The default broker instance (the one ``make services`` starts)."""
    return LocalBroker()


@functools.cache
def local_bootstrap() -> str:
    """``$KAFKA_BOOTSTRAP``, else the project's local broker (started if needed, once per process)."""
    external = os.environ.get("KAFKA_BOOTSTRAP")
    if external:
        return external
    return shared_broker().start_broker()


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    """Bootstrap address of a real broker (``$KAFKA_BOOTSTRAP`` or the project's local one)."""
    return local_bootstrap()


@pytest.fixture
def kafka_topic(kafka_bootstrap: str) -> Iterator[Any]:
    """Factory: ``kafka_topic(partitions=3)`` creates a uniquely named topic, deleted after."""
    created: list[str] = []

    def make(partitions: int = 1, prefix: str = "t", config: Mapping[str, str] | None = None) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:10]}"
        create_topic(kafka_bootstrap, name, partitions, config=config)
        created.append(name)
        return name

    yield make
    if created:
        admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
        for fut in admin.delete_topics(created, operation_timeout=30).values():
            with contextlib.suppress(Exception):  # cleanup only; a stopped broker is fine
                fut.result()


def create_topic(
    bootstrap: str, name: str, partitions: int = 1, *, config: Mapping[str, str] | None = None, timeout: float = 30.0
) -> None:
    """Create ``name`` and wait until every partition has a leader."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    fut = admin.create_topics([NewTopic(name, partitions, 1, config=dict(config or {}))])[name]
    fut.result(timeout=timeout)
    wait_partitions(bootstrap, name, partitions, timeout=timeout)


def add_partitions(bootstrap: str, name: str, total: int, timeout: float = 30.0) -> None:
    """Grow ``name`` to ``total`` partitions and wait until they are visible."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_partitions([NewPartitions(name, total)])[name].result(timeout=timeout)
    wait_partitions(bootstrap, name, total, timeout=timeout)


def wait_partitions(bootstrap: str, name: str, count: int, timeout: float = 30.0) -> None:
    """Poll metadata until ``name`` has ``count`` partitions with leaders."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    deadline = time.monotonic() + timeout
    while True:
        meta = admin.list_topics(name, timeout=10).topics.get(name)
        ready = meta is not None and meta.error is None and len(meta.partitions) == count
        if ready and all(p.leader >= 0 for p in meta.partitions.values()):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"topic {name} did not get {count} partitions with leaders")
        time.sleep(0.05)


def produce(
    bootstrap: str,
    topic: str,
    values: Iterable[Any],
    *,
    partition: int | None = None,
    key: str | None = None,
    raw: bool = False,
) -> int:
    """Produce values (JSON-encoded unless ``raw`` bytes/str); return how many. Flushes."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "acks": "all"})
    n = 0
    errors: list[KafkaError] = []

    def on_delivery(err: KafkaError | None, _msg: Any) -> None:
        if err is not None:
            errors.append(err)

    for v in values:
        payload = (v.encode() if isinstance(v, str) else v) if raw else orjson.dumps(v)
        kwargs: dict[str, Any] = {"value": payload, "key": key, "on_delivery": on_delivery}
        if partition is not None:
            kwargs["partition"] = partition
        while True:
            try:
                producer.produce(topic, **kwargs)
                break
            except BufferError:
                producer.poll(0.1)
        n += 1
    remaining = producer.flush(60)
    if remaining or errors:
        raise RuntimeError(f"produce to {topic} failed: {remaining} undelivered, errors {errors[:3]}")
    return n


def produce_json(bootstrap: str, topic: str, n: int, *, start: int = 0, partition: int | None = None) -> int:
    """Produce ``{"id": i, "name": "n<i>"}`` for i in [start, start+n)."""
    return produce(bootstrap, topic, ({"id": i, "name": f"n{i}"} for i in range(start, start + n)), partition=partition)


def consume_committed(bootstrap: str, topic: str, *, timeout: float = 30.0) -> list[Any]:
    """Every message of ``topic`` visible to a read_committed consumer, up to the current end."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "enable.partition.eof": True,
        }
    )
    try:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        parts = sorted(meta.partitions)
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10, cached=False) for p in parts}
        pending = {p for p in parts if ends[p][1] > ends[p][0]}
        consumer.assign([TopicPartition(topic, p, ends[p][0]) for p in parts])
        out: list[Any] = []
        deadline = time.monotonic() + timeout
        while pending:
            if time.monotonic() > deadline:
                raise TimeoutError(f"consuming {topic}: partitions {pending} did not reach their end")
            for msg in consumer.consume(num_messages=1000, timeout=0.5):
                if msg.error():
                    if msg.error().code() == KafkaError._PARTITION_EOF:
                        pending.discard(msg.partition())
                    continue
                out.append(msg)
        return out
    finally:
        consumer.close()


def write_kafka_project(
    root: Path,
    bootstrap: str,
    in_topic: str,
    *,
    out_topic: str | None = None,
    max_records_per_batch: int = 1000,
    pipeline: str = "k2x",
) -> Path:
    """A project reading JSON from ``in_topic`` into Delta (``data/lake/out``) or ``out_topic``.

    For the end-to-end/chaos tests (``odibi-stream run`` / ``serve``): a kafka connection, a
    pipeline with a ``kafka`` trigger, poison messages to a Delta dead letter
    (``data/lake/dead_letter``). Returns the project folder.
    """
    from tests.conftest import write_project

    if out_topic is None:
        write = "{connection: local, format: delta, path: lake/out, mode: append}"
    else:
        write = f"{{connection: bus, format: kafka, topic: {out_topic}, options: {{key_column: id}}}}"
    odibi_yaml = f"""\
project: kafka_test
checkpoint: {{root: ./checkpoints}}
runtime: {{lease_ttl_seconds: 1}}
connections:
  local: {{type: local, base_path: ./data}}
  bus: {{type: kafka, options: {{bootstrap.servers: "{bootstrap}"}}}}
"""
    pipeline_yaml = f"""\
pipeline: {pipeline}
trigger: {{kafka: {{interval_seconds: 0.2}}}}
on_error: dead_letter
dead_letter: {{connection: local, path: lake/dead_letter, format: delta}}
nodes:
  - name: events
    read:
      connection: bus
      format: kafka
      topic: {in_topic}
      options: {{value_format: json, starting: earliest}}
      incremental: {{mode: offsets, max_records_per_batch: {max_records_per_batch}}}
  - name: sink
    depends_on: [events]
    transform: {{sql: "SELECT id, name, _partition, _offset FROM events"}}
    write: {write}
"""
    return write_project(root, {pipeline: pipeline_yaml}, odibi_yaml=odibi_yaml)
