"""Spark's Kafka batch source reads exactly the planned offset ranges from a real broker."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.kafka_fixtures import kafka_bootstrap, kafka_topic, produce_json
from tests.spark_fixtures import require_spark, shared_engine

__all__ = ["kafka_bootstrap", "kafka_topic"]
pytestmark = pytest.mark.timeout(300)


def test_read_kafka_reads_exact_ranges(kafka_bootstrap: str, kafka_topic: Any) -> None:
    require_spark()
    engine: Any = shared_engine()
    topic = kafka_topic(partitions=2)
    produce_json(kafka_bootstrap, topic, 10, partition=0)
    produce_json(kafka_bootstrap, topic, 6, start=100, partition=1)
    ranges = {f"{topic}:0": [2, 7], f"{topic}:1": [0, 6]}
    frame = engine.read_kafka({"bootstrap.servers": kafka_bootstrap}, ranges)
    rows = engine.sql(
        "SELECT partition, offset, CAST(value AS STRING) AS v FROM k ORDER BY partition, offset",
        {"k": frame},
    )
    got = [
        (r["partition"], r["offset"], json.loads(r["v"])["id"])
        for r in engine.to_arrow(rows).to_pylist()
    ]
    assert got == [(0, o, o) for o in range(2, 7)] + [(1, o, 100 + o) for o in range(6)]
    assert {"key", "value", "topic", "partition", "offset", "timestamp", "headers"} <= set(
        engine.columns(frame)
    )
