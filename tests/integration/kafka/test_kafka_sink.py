"""KafkaSink against a real broker: one transaction per batch, exactly once across crashes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Callable
from typing import Any

import orjson
import pyarrow as pa
import pytest
from pydantic import ValidationError

from odibi_stream.config.models import WriteConfig
from odibi_stream.connectors.base import BatchKey, Sink
from odibi_stream.connectors.kafka import KafkaSinkSpec
from odibi_stream.connectors.kafka_writer import KafkaSink
from odibi_stream.engines.pandas import PandasEngine
from odibi_stream.exceptions import ConfigError
from tests.kafka_fixtures import REPO, consume_committed

TopicFactory = Callable[..., str]


def make_sink(bootstrap: str, topic: str, pipeline: str = "p", **options: Any) -> KafkaSink:
    write = WriteConfig(connection="k", format="kafka", topic=topic, options=options)
    return KafkaSinkSpec("n", pipeline, {"bootstrap.servers": bootstrap}, write).open()


def frame(start: int, n: int) -> pa.Table:
    return pa.table({"id": list(range(start, start + n)), "name": [f"n{i}" for i in range(start, start + n)]})


def batches_seen(bootstrap: str, topic: str) -> list[tuple[int, int]]:
    """(batch header, id) of every committed record, sorted."""
    out = []
    for msg in consume_committed(bootstrap, topic):
        headers = dict(msg.headers() or [])
        value = orjson.loads(msg.value())
        ident = value["id"] if "id" in value else int(msg.key())
        out.append((int(headers["odibi-batch"]), ident))
    return sorted(out)


def test_is_a_sink(kafka_bootstrap: str, kafka_topic: TopicFactory) -> None:
    assert isinstance(make_sink(kafka_bootstrap, kafka_topic()), Sink)


def test_repeated_writes_of_a_batch_land_once(kafka_bootstrap: str, kafka_topic: TopicFactory) -> None:
    topic = kafka_topic(partitions=3)
    engine = PandasEngine()
    sink = make_sink(kafka_bootstrap, topic, key_column="id")
    first = sink.write(engine, engine.from_arrow(frame(0, 30)), BatchKey("p", "n", 0))
    again = sink.write(engine, engine.from_arrow(frame(0, 30)), BatchKey("p", "n", 0))
    assert (first.rows, first.skipped, again.skipped) == (30, False, True)
    sink.write(engine, engine.from_arrow(frame(30, 10)), BatchKey("p", "n", 1))
    sink.close()
    # A new instance (a restart) learns the last batch from the topic itself.
    fresh = make_sink(kafka_bootstrap, topic, key_column="id")
    assert fresh.already_written(BatchKey("p", "n", 1))
    assert not fresh.already_written(BatchKey("p", "n", 2))
    assert fresh.write(engine, engine.from_arrow(frame(0, 30)), BatchKey("p", "n", 0)).skipped
    fresh.close()
    seen = batches_seen(kafka_bootstrap, topic)
    assert seen == [(0, i) for i in range(30)] + [(1, i) for i in range(30, 40)]
    msgs = consume_committed(kafka_bootstrap, topic)
    assert {m.key() for m in msgs} == {str(i).encode() for i in range(40)}
    assert orjson.loads(msgs[0].value()).keys() == {"name"}


def test_other_pipelines_on_the_same_topic_do_not_count(kafka_bootstrap: str, kafka_topic: TopicFactory) -> None:
    topic = kafka_topic()
    engine = PandasEngine()
    other = make_sink(kafka_bootstrap, topic, pipeline="other")
    other.write(engine, engine.from_arrow(frame(0, 5)), BatchKey("other", "n", 7))
    other.close()
    ours = make_sink(kafka_bootstrap, topic)
    assert not ours.already_written(BatchKey("p", "n", 0))
    ours.close()


_CRASHER = textwrap.dedent(
    """
    import sys
    from confluent_kafka import Producer
    bootstrap, topic, txid, pipeline = sys.argv[1:5]
    p = Producer({"bootstrap.servers": bootstrap, "transactional.id": txid, "transaction.timeout.ms": 600000})
    p.init_transactions(30)
    p.begin_transaction()
    for i in range(100, 150):
        p.produce(topic, value=('{"id": %d}' % i).encode(),
                  headers=[("odibi-pipeline", pipeline.encode()), ("odibi-node", b"n"), ("odibi-batch", b"1")])
    assert p.flush(30) == 0
    print("IN-TRANSACTION", flush=True)
    sys.stdin.read()
    """
)


def test_crash_mid_transaction_then_recover(kafka_bootstrap: str, kafka_topic: TopicFactory) -> None:
    topic = kafka_topic(partitions=2)
    engine = PandasEngine()
    pipeline = f"crash{uuid.uuid4().hex[:6]}"
    sink = make_sink(kafka_bootstrap, topic, pipeline=pipeline)
    sink.write(engine, engine.from_arrow(frame(0, 20)), BatchKey(pipeline, "n", 0))
    sink.close()
    proc = subprocess.Popen(
        [sys.executable, "-c", _CRASHER, kafka_bootstrap, topic, sink.transactional_id, pipeline],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "IN-TRANSACTION"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    # The zombie's open transaction holds back read_committed consumers until fenced.
    recovered = make_sink(kafka_bootstrap, topic, pipeline=pipeline)
    assert recovered.already_written(BatchKey(pipeline, "n", 0))
    assert not recovered.already_written(BatchKey(pipeline, "n", 1))
    result = recovered.write(engine, engine.from_arrow(frame(20, 15)), BatchKey(pipeline, "n", 1))
    assert (result.rows, result.skipped) == (15, False)
    recovered.close()
    seen = batches_seen(kafka_bootstrap, topic)
    assert seen == [(0, i) for i in range(20)] + [(1, i) for i in range(20, 35)]


def test_config_errors(kafka_bootstrap: str) -> None:
    with pytest.raises(ConfigError):
        KafkaSinkSpec("n", "p", {"bootstrap.servers": kafka_bootstrap}, WriteConfig(connection="k", format="kafka"))
    with pytest.raises(ValidationError, match="value_columns"):  # the config model rejects it
        make_sink(kafka_bootstrap, "t", value_columns="id")


def test_missing_key_column_is_terminal(kafka_bootstrap: str, kafka_topic: TopicFactory) -> None:
    from odibi_stream.exceptions import SinkError

    sink = make_sink(kafka_bootstrap, kafka_topic(), key_column="nope")
    engine = PandasEngine()
    with pytest.raises(SinkError) as info:
        sink.write(engine, engine.from_arrow(frame(0, 1)), BatchKey("p", "n", 0))
    assert info.value.retryable is False
    sink.close()

