"""Broker stopped and restarted: source and sink fail retryably, then resume with no loss.

Uses its own broker instance (a separate run folder) so stopping it cannot disturb other tests
sharing the session broker.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import orjson
import pyarrow as pa
import pytest

from odibi_stream.config.models import ReadConfig, WriteConfig
from odibi_stream.connectors.base import BatchKey, Position
from odibi_stream.connectors.kafka import KafkaSinkSpec, KafkaSourceSpec
from odibi_stream.engines.pandas import PandasEngine
from odibi_stream.exceptions import ConnectorError, is_retryable
from tests.kafka_fixtures import LocalBroker, consume_committed, create_topic, produce_json


@pytest.fixture
def own_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalBroker, str]]:
    if os.environ.get("KAFKA_BOOTSTRAP"):
        pytest.skip("an external broker (KAFKA_BOOTSTRAP) cannot be stopped by the tests")
    broker = LocalBroker(Path(tmp_path_factory.mktemp("kafka-outage")))
    bootstrap = broker.start_broker()
    try:
        yield broker, bootstrap
    finally:
        broker.reset()


@pytest.mark.slow
def test_outage_is_retryable_and_resumes_without_loss(own_broker: tuple[LocalBroker, str]) -> None:
    broker, bootstrap = own_broker
    create_topic(bootstrap, "in", 2)
    create_topic(bootstrap, "out", 1)
    produce_json(bootstrap, "in", 50)
    conn = {"bootstrap.servers": bootstrap, "socket.timeout.ms": 2000, "message.timeout.ms": 5000}
    source = KafkaSourceSpec(
        "n", "p", conn, ReadConfig(connection="k", format="kafka", topic="in", options={"read_timeout_seconds": 3})
    ).open()
    sink = KafkaSinkSpec(
        "n", "p", conn, WriteConfig(connection="k", format="kafka", topic="out", options={"transaction_timeout_ms": 10000})
    ).open()
    engine = PandasEngine()

    def run_batch(state: Position, batch: int) -> Position:
        rng = source.plan(state)
        assert rng is not None
        table = engine.to_arrow(source.read(engine, rng).frame).select(["id", "name"])
        sink.write(engine, engine.from_arrow(table), BatchKey("p", "n", batch))
        return source.fold(state, rng)

    state = run_batch(source.initial_state(), 0)
    broker.stop_broker()
    with pytest.raises(ConnectorError) as planning:
        source.plan(state)
    assert is_retryable(planning.value)
    with pytest.raises(ConnectorError) as writing:
        sink.write(engine, engine.from_arrow(pa.table({"id": [999]})), BatchKey("p", "n", 1))
    assert is_retryable(writing.value)
    assert broker.start_broker() == bootstrap  # same port, same data
    produce_json(bootstrap, "in", 30, start=50)
    state = run_batch(state, 1)
    source.close()
    sink.close()
    ids = sorted(orjson.loads(m.value())["id"] for m in consume_committed(bootstrap, "out"))
    assert ids == list(range(80))
    assert state["offsets"] and sum(state["offsets"].values()) == 80
