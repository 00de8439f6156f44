"""KafkaSource against a real broker: ranges cover every record exactly once."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pytest
from confluent_kafka import Producer
from pydantic import ValidationError

from odibi_stream.config.models import IncrementalConfig, ReadConfig
from odibi_stream.connectors.base import Position, Source
from odibi_stream.connectors.kafka import KafkaSourceSpec, share_budget
from odibi_stream.connectors.kafka_reader import KafkaSource
from odibi_stream.engines.pandas import PandasEngine
from odibi_stream.exceptions import ConfigError, SourceError
from tests.kafka_fixtures import add_partitions, produce, produce_json

TopicFactory = Callable[..., str]


def make_source(bootstrap: str, topic: str, max_records: int | None = None, **options: Any) -> KafkaSource:
    inc = IncrementalConfig(mode="offsets", max_records_per_batch=max_records)
    read = ReadConfig(connection="k", format="kafka", topic=topic, options=options, incremental=inc)
    return KafkaSourceSpec("n", "p", {"bootstrap.servers": bootstrap}, read).open()


def drain(src: KafkaSource, state: Position, engine: PandasEngine) -> tuple[Position, list[pa.Table], int]:
    """Plan/read/fold until no batch is planned; return the final state, tables and batch count."""
    tables: list[pa.Table] = []
    batches = 0
    while (rng := src.plan(state)) is not None:
        tables.append(engine.to_arrow(src.read(engine, rng).frame))
        state = src.fold(state, rng)
        batches += 1
        assert batches < 1000
    return state, tables, batches


@pytest.fixture
def engine() -> PandasEngine:
    return PandasEngine()


def ids(tables: list[pa.Table]) -> list[int]:
    return sorted(i for t in tables for i in t.column("id").to_pylist())


def test_is_a_source(kafka_bootstrap: str, kafka_topic: TopicFactory) -> None:
    src = make_source(kafka_bootstrap, kafka_topic())
    assert isinstance(src, Source)
    src.close()


def test_batches_cover_every_record_once_across_partitions(
    kafka_bootstrap: str, kafka_topic: TopicFactory, engine: PandasEngine
) -> None:
    topic = kafka_topic(partitions=3)
    for p in range(3):
        produce_json(kafka_bootstrap, topic, 100, start=p * 100, partition=p)
    src = make_source(kafka_bootstrap, topic, max_records=70)
    state, tables, batches = drain(src, src.initial_state(), engine)
    assert ids(tables) == list(range(300))
    assert batches == 5  # ceil(300 / 70)
    assert all(t.num_rows <= 70 for t in tables)
    assert state == {"offsets": {f"{topic}:0": 100, f"{topic}:1": 100, f"{topic}:2": 100}}
    # Reading the same range again returns exactly the same rows (replay after a crash).
    rng = {"partitions": {f"{topic}:1": [10, 20]}}
    first = engine.to_arrow(src.read(engine, rng).frame)
    again = engine.to_arrow(src.read(engine, rng).frame)
    assert first.equals(again)
    assert first.column("_offset").to_pylist() == list(range(10, 20))
    assert first.column("id").to_pylist() == list(range(110, 120))
    src.close()


def test_columns_and_metadata(kafka_bootstrap: str, kafka_topic: TopicFactory, engine: PandasEngine) -> None:
    topic = kafka_topic()
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    producer.produce(topic, value=b'{"a": 1, "b": "x"}', key=b"k1", headers=[("h", b"v")], timestamp=1_700_000_000_000)
    producer.flush(30)
    src = make_source(kafka_bootstrap, topic)
    rng = src.plan(src.initial_state())
    assert rng is not None
    table = engine.to_arrow(src.read(engine, rng).frame)
    row = table.to_pylist()[0]
    assert table.column_names == ["key", "a", "b", "_topic", "_partition", "_offset", "_timestamp", "_headers"]
    assert (row["key"], row["a"], row["b"], row["_topic"], row["_partition"], row["_offset"]) == ("k1", 1, "x", topic, 0, 0)
    assert row["_timestamp"].tzinfo is not None and int(row["_timestamp"].timestamp()) == 1_700_000_000
    assert row["_headers"] == '{"h":"v"}'
    assert src.range_size(rng) == {"offsets": 1, "partitions": 1}
    src.close()


def test_new_partition_mid_run_starts_from_earliest(
    kafka_bootstrap: str, kafka_topic: TopicFactory, engine: PandasEngine
) -> None:
    topic = kafka_topic(partitions=2)
    produce_json(kafka_bootstrap, topic, 10, start=0, partition=0)
    produce_json(kafka_bootstrap, topic, 10, start=10, partition=1)
    src = make_source(kafka_bootstrap, topic, starting="latest")
    state = src.initial_state()  # latest: the 20 existing records are skipped
    produce_json(kafka_bootstrap, topic, 5, start=20, partition=0)
    state, first, _ = drain(src, state, engine)
    assert ids(first) == list(range(20, 25))
    add_partitions(kafka_bootstrap, topic, 3)
    produce_json(kafka_bootstrap, topic, 7, start=100, partition=2)
    produce_json(kafka_bootstrap, topic, 3, start=200, partition=1)
    state, second, _ = drain(src, state, engine)
    assert ids(second) == list(range(100, 107)) + list(range(200, 203))
    assert state["offsets"][f"{topic}:2"] == 7
    assert src.lag(state) == {f"{topic}:0": 0, f"{topic}:1": 0, f"{topic}:2": 0}
    src.close()


def test_starting_explicit_offsets_and_pattern(
    kafka_bootstrap: str, kafka_topic: TopicFactory, engine: PandasEngine
) -> None:
    prefix = f"pat{uuid.uuid4().hex[:6]}"
    a = kafka_topic(prefix=prefix)
    b = kafka_topic(prefix=prefix)
    produce_json(kafka_bootstrap, a, 10, start=0)
    produce_json(kafka_bootstrap, b, 10, start=10)
    read = ReadConfig(
        connection="k", format="kafka", options={"pattern": f"{prefix}-.*", "starting": {f"{a}:0": 8}}
    )
    src = KafkaSourceSpec("n", "p", {"bootstrap.servers": kafka_bootstrap}, read).open()
    _, tables, _ = drain(src, src.initial_state(), engine)
    assert ids(tables) == [8, 9, *range(10, 20)]
    src.close()


def test_poison_messages_become_rejects_with_exact_counts(
    kafka_bootstrap: str, kafka_topic: TopicFactory, engine: PandasEngine
) -> None:
    topic = kafka_topic()
    values: list[Any] = []
    for i in range(50):
        values.append(b"{not json" if i % 10 == 3 else (b"[1,2]" if i % 10 == 7 else f'{{"id": {i}}}'.encode()))
    produce(kafka_bootstrap, topic, values, raw=True)
    src = make_source(kafka_bootstrap, topic)
    rng = src.plan(src.initial_state())
    assert rng is not None
    result = src.read(engine, rng)
    table = engine.to_arrow(result.frame)
    assert table.num_rows == 40
    assert len(result.rejects) == 10
    assert sorted(r.source for r in result.rejects) == sorted(f"{topic}/0/{i}" for i in range(50) if i % 10 in (3, 7))
    bad = next(r for r in result.rejects if r.source == f"{topic}/0/3")
    assert bad.record == "{not json" and "invalid JSON" in bad.error
    src.close()


def test_string_and_bytes_formats(kafka_bootstrap: str, kafka_topic: TopicFactory, engine: PandasEngine) -> None:
    topic = kafka_topic()
    produce(kafka_bootstrap, topic, [b"hello", b"\xff\xfe"], raw=True)
    text = make_source(kafka_bootstrap, topic, value_format="string")
    rng = text.plan(text.initial_state())
    assert rng is not None
    result = text.read(engine, rng)
    assert engine.to_arrow(result.frame).column("value").to_pylist() == ["hello"]
    assert [r.source for r in result.rejects] == [f"{topic}/0/1"]
    raw = make_source(kafka_bootstrap, topic, value_format="bytes")
    assert engine.to_arrow(raw.read(engine, rng).frame).column("value").to_pylist() == [b"hello", b"\xff\xfe"]
    text.close()
    raw.close()


def test_transactional_input_gaps_and_aborts(kafka_bootstrap: str, kafka_topic: TopicFactory, engine: PandasEngine) -> None:
    topic = kafka_topic()
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "transactional.id": f"tx-{uuid.uuid4().hex}"})
    producer.init_transactions(30)
    for committed in (True, False, True):
        producer.begin_transaction()
        for i in range(5):
            producer.produce(topic, value=f'{{"id": {i}, "ok": {str(committed).lower()}}}'.encode())
        if committed:
            producer.commit_transaction(30)
        else:
            producer.abort_transaction(30)
    src = make_source(kafka_bootstrap, topic, max_records=4)
    _, tables, _ = drain(src, src.initial_state(), engine)
    rows = [r for t in tables for r in t.to_pylist()]
    assert len(rows) == 10 and all(r["ok"] for r in rows)
    src.close()


def test_data_loss_fail_and_skip(kafka_bootstrap: str, kafka_topic: TopicFactory, engine: PandasEngine) -> None:
    from confluent_kafka.admin import AdminClient

    topic = kafka_topic()
    produce_json(kafka_bootstrap, topic, 20)
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    from confluent_kafka import TopicPartition

    admin.delete_records([TopicPartition(topic, 0, 12)])[TopicPartition(topic, 0, 12)].result(30)
    state: Position = {"offsets": {f"{topic}:0": 5}}
    strict = make_source(kafka_bootstrap, topic)
    with pytest.raises(SourceError) as info:
        strict.plan(state)
    assert info.value.retryable is False and f"{topic}:0" in str(info.value) and "5..11" in str(info.value)
    lenient = make_source(kafka_bootstrap, topic, on_data_loss="skip_with_report")
    rng = lenient.plan(state)
    assert rng == {"partitions": {f"{topic}:0": [12, 20]}, "data_loss": {f"{topic}:0": [5, 12]}}
    assert ids([engine.to_arrow(lenient.read(engine, rng).frame)]) == list(range(12, 20))
    strict.close()
    lenient.close()


def test_bad_options_are_config_errors(kafka_bootstrap: str) -> None:
    # Option values are checked by the config model (file:line when loaded from YAML).
    with pytest.raises(ValidationError, match="value_format"):
        make_source(kafka_bootstrap, "t", value_format="avro")
    with pytest.raises(ValidationError, match="on_data_loss"):
        make_source(kafka_bootstrap, "t", on_data_loss="ignore")
    with pytest.raises(ConfigError):
        KafkaSourceSpec("n", "p", {}, ReadConfig(connection="k", format="kafka", topic="t"))


def test_share_budget_is_fair_and_bounded() -> None:
    assert share_budget({"a": 100, "b": 3, "c": 100}, 50) == {"a": 23, "b": 3, "c": 24}
    assert share_budget({"a": 5, "b": 0}, None) == {"a": 5, "b": 0}
    assert sum(share_budget({"a": 9, "b": 9, "c": 9}, 2).values()) == 2
