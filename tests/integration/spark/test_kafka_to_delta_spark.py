"""Kafka → Delta through ``odibi-stream run`` on the Spark engine, against a real broker.

The runtime plans per-partition offset ranges, Spark's Kafka batch source reads them, and the
records are decoded exactly as on the pandas engine: every record lands once, poison messages
are dead-lettered with their ``topic/partition/offset``, and a second run (a restart) resumes
from the checkpoint without re-reading anything.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from deltalake import DeltaTable

from tests.conftest import CLI, cli_env
from tests.kafka_fixtures import (
    kafka_bootstrap,
    kafka_topic,
    produce,
    produce_json,
    write_kafka_project,
)
from tests.spark_fixtures import require_spark

__all__ = ["kafka_bootstrap", "kafka_topic"]
pytestmark = pytest.mark.timeout(420)

SPARK_PROJECT = """\
engine: spark
spark:
  master: "local[1]"
  conf: {spark.sql.shuffle.partitions: 1, spark.default.parallelism: 1}
"""


def _run(project: Path) -> str:
    done = subprocess.run(
        [*CLI, "run", str(project), "--pipeline", "k2x"],
        env=cli_env(), capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-4000:]
    return done.stdout


def _table(project: Path, rel: str) -> list[dict[str, Any]]:
    return DeltaTable(str(project / "data" / rel)).to_pyarrow_table().to_pylist()


def test_kafka_to_delta_on_spark_exactly_once_with_dead_letters(
    tmp_path: Path, kafka_bootstrap: str, kafka_topic: Any
) -> None:
    require_spark()
    topic = kafka_topic(partitions=2)
    produce_json(kafka_bootstrap, topic, 30, partition=0)
    produce_json(kafka_bootstrap, topic, 20, start=30, partition=1)
    produce(kafka_bootstrap, topic, ["{broken", "[1, 2]"], partition=1, raw=True)
    project = write_kafka_project(tmp_path / "p", kafka_bootstrap, topic, max_records_per_batch=20)
    with (project / "odibi.yaml").open("a") as f:
        f.write(SPARK_PROJECT)

    _run(project)
    rows = _table(project, "lake/out")
    assert sorted(r["id"] for r in rows) == list(range(50))
    assert {(r["_partition"], r["_offset"]) for r in rows} == {(0, o) for o in range(30)} | {
        (1, o) for o in range(20)
    }
    dead = _table(project, "lake/dead_letter")
    assert sorted(d["_odibi_source"] for d in dead) == [f"{topic}/1/20", f"{topic}/1/21"]
    assert {d["_odibi_record"] for d in dead} == {"{broken", "[1, 2]"}

    # Restart: only the new records are read; nothing is written twice.
    produce_json(kafka_bootstrap, topic, 10, start=50, partition=0)
    produce(kafka_bootstrap, topic, ["not json"], partition=0, raw=True)
    _run(project)
    rows = _table(project, "lake/out")
    assert sorted(r["id"] for r in rows) == list(range(60))
    dead = _table(project, "lake/dead_letter")
    assert sorted(d["_odibi_source"] for d in dead) == [f"{topic}/0/40", f"{topic}/1/20", f"{topic}/1/21"]


def test_spark_read_decodes_exactly_like_pandas(kafka_bootstrap: str, kafka_topic: Any) -> None:
    """Same range, both engines: identical columns, types, values and rejects."""
    require_spark()
    from confluent_kafka import Producer

    from odibi_stream.config.models import ReadConfig
    from odibi_stream.connectors.kafka import KafkaSourceSpec
    from odibi_stream.engines.pandas import PandasEngine
    from tests.spark_fixtures import shared_engine

    topic = kafka_topic(partitions=2)
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    for i in range(6):
        producer.produce(
            topic, value=b'{"id": %d, "amount": %d.5}' % (i, i), key=f"k{i}", partition=i % 2,
            headers=[("trace", f"t{i}".encode())] if i % 3 == 0 else None,
        )
    producer.produce(topic, value=b"{oops", partition=0)
    producer.produce(topic, value=None, key="tomb", partition=1)
    assert producer.flush(30) == 0
    read = ReadConfig(connection="bus", format="kafka", topic=topic, options={"schema": {"id": "int64", "amount": "double"}})
    source = KafkaSourceSpec("events", "parity", {"bootstrap.servers": kafka_bootstrap}, read).open()
    try:
        rng = source.plan(source.initial_state())
        assert rng is not None
        pandas_engine = PandasEngine()
        spark_engine: Any = shared_engine()
        want = source.read(pandas_engine, rng)
        got = source.read(spark_engine, rng)
    finally:
        source.close()
    expected = pandas_engine.to_arrow(want.frame)
    actual = spark_engine.to_arrow(got.frame)
    assert actual.column_names == expected.column_names
    assert actual.num_rows == expected.num_rows == 7
    # Spark keeps timestamps in microseconds: compare values, not the unit.
    assert actual.to_pylist() == expected.to_pylist()
    assert actual.column("_timestamp").type.tz == "UTC"
    assert [(r.source, r.record) for r in got.rejects] == [(r.source, r.record) for r in want.rejects]
    assert [r.source for r in got.rejects] == [f"{topic}/0/3"]
