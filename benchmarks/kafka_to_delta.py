"""Kafka source throughput: our plan/read (to Arrow, then Delta) vs raw confluent-kafka consume.

Usage: ``python benchmarks/kafka_to_delta.py [--events 1000000] [--bootstrap HOST:PORT]``.
Without ``--bootstrap`` (or ``$KAFKA_BOOTSTRAP``) it starts the project's local broker.
Produces N small JSON events to a fresh 3-partition topic, then measures on the same topic:
  * raw: a bare read_committed confluent-kafka consumer touching every message (the ceiling);
  * ours: KafkaSource plan + read (decode to Arrow) + append to a Delta table, catch-up mode;
  * spark: Spark Structured Streaming's Kafka source (startingOffsets earliest, trigger
    availableNow, ``maxOffsetsPerTrigger`` = ``--batch``, ``from_json``) writing Delta, on
    ``--spark-master`` (default local[2]) with the jars from ``.cache/spark-jars``. The
    SparkSession is started (and warmed by a tiny job) before the clock starts; the query's
    own start-up is measured, as ours is. ``--no-spark`` skips it;
  * ours on the Spark engine: the same plan/read/write with ``engine: spark`` in the same
    session, alternating with the Spark peer over two rounds (the second of each is reported).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import emit
from odibi_stream.config.models import IncrementalConfig, ReadConfig
from odibi_stream.connectors.kafka import KafkaSourceSpec
from odibi_stream.engines.pandas import PandasEngine
from tests.kafka_fixtures import create_topic, local_bootstrap


def produce(bootstrap: str, topic: str, n: int) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "batch.size": 1_000_000, "compression.type": "lz4"})
    for i in range(n):
        value = b'{"id":%d,"user":"u%d","amount":%d.5,"kind":"click"}' % (i, i % 1000, i % 97)
        while True:
            try:
                producer.produce(topic, value=value, partition=i % 3)
                break
            except BufferError:
                producer.poll(0.05)
    producer.flush(120)


def raw_rate(bootstrap: str, topic: str, n: int) -> float:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-{uuid.uuid4().hex}",
            "isolation.level": "read_committed",
            "enable.partition.eof": True,
            "enable.auto.commit": False,
        }
    )
    consumer.assign([TopicPartition(topic, p, 0) for p in range(3)])
    seen, eof = 0, 0
    started = time.perf_counter()
    while eof < 3:
        for msg in consumer.consume(num_messages=10_000, timeout=1.0):
            if msg.error():
                eof += msg.error().code() == KafkaError._PARTITION_EOF
                continue
            seen += 1
    elapsed = time.perf_counter() - started
    consumer.close()
    assert seen == n, (seen, n)
    return n / elapsed


def our_rate(bootstrap: str, topic: str, n: int, batch: int, engine: Any = None) -> float:
    """Our source's planned reads and Delta writes in-process (the pandas engine by default)."""
    engine = engine or PandasEngine()
    inc = IncrementalConfig(mode="offsets", max_records_per_batch=batch)
    read = ReadConfig(connection="k", format="kafka", topic=topic, incremental=inc)
    source = KafkaSourceSpec("bench", "bench", {"bootstrap.servers": bootstrap}, read).open()
    out = Path(tempfile.mkdtemp()) / "delta"
    state = source.initial_state()
    rows, version = 0, -1
    started = time.perf_counter()
    while (rng := source.plan(state)) is not None:
        frame = source.read(engine, rng).frame
        version += 1
        engine.write_delta(frame, str(out), mode="append", txn=("bench/bench", version))
        rows += engine.count(frame)
        state = source.fold(state, rng)
    elapsed = time.perf_counter() - started
    source.close()
    assert rows == n, (rows, n)
    return n / elapsed


RAW_CHILD = """
import sys, time, orjson
from confluent_kafka import Consumer, KafkaError, TopicPartition
bootstrap, topic, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
c = Consumer({"bootstrap.servers": bootstrap, "group.id": "raw-" + str(time.time()),
              "isolation.level": "read_committed", "enable.partition.eof": True, "enable.auto.commit": False})
c.assign([TopicPartition(topic, p, 0) for p in range(3)])
rows, eof = [], 0
while eof < 3:
    for m in c.consume(num_messages=10_000, timeout=1.0):
        if m.error():
            eof += m.error().code() == KafkaError._PARTITION_EOF
            continue
        rows.append(orjson.loads(m.value()))
c.close()
assert len(rows) == n, (len(rows), n)
"""


def raw_whole_process(bootstrap: str, topic: str, n: int) -> float:
    """A bare consume + ``orjson.loads`` loop as its own Python process (start to exit)."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", RAW_CHILD, bootstrap, topic, str(n)], check=True)
    return n / (time.perf_counter() - started)


def ours_whole_process(bootstrap: str, topic: str, n: int, batch: int) -> float:
    """``odibi-stream run`` of a Kafka -> Delta pipeline, as a user runs it (start to exit)."""
    root = Path(tempfile.mkdtemp()) / "project"
    (root / "pipelines").mkdir(parents=True)
    (root / "odibi.yaml").write_text(
        "project: kbench\ncheckpoint: {root: ./checkpoints}\nconnections:\n"
        f"  bus: {{type: kafka, options: {{bootstrap.servers: \"{bootstrap}\"}}}}\n"
        "  lake: {type: local, base_path: ./lake}\n"
    )
    (root / "pipelines" / "k.yaml").write_text(
        "pipeline: k\nnodes:\n  - name: events\n    read:\n      connection: bus\n      format: kafka\n"
        f"      topic: {topic}\n      options: {{value_format: json, starting: earliest}}\n"
        f"      incremental: {{mode: offsets, max_records_per_batch: {batch}}}\n"
        "  - name: out\n    depends_on: [events]\n"
        "    write: {connection: lake, format: delta, path: events, mode: append}\n"
    )
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "odibi_stream.cli.main", "run", str(root), "--pipeline", "k", "--quiet"],
                   env=env, check=True, stdout=subprocess.DEVNULL)
    elapsed = time.perf_counter() - started
    from deltalake import DeltaTable

    rows = DeltaTable(str(root / "lake" / "events")).to_pyarrow_dataset().count_rows()
    assert rows == n, (rows, n)
    return n / elapsed


SPARK_SCHEMA = "id BIGINT, user STRING, amount DOUBLE, kind STRING"


def spark_ss_rate(engine: Any, bootstrap: str, topic: str, n: int, batch: int) -> float:
    """Spark Structured Streaming Kafka → Delta over the whole topic (availableNow)."""
    from pyspark.sql import functions as F

    spark = engine.spark
    work = Path(tempfile.mkdtemp())
    started = time.perf_counter()
    stream = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", bootstrap)
        .option("kafka.isolation.level", "read_committed")
        .option("subscribe", topic)
        .option("startingOffsets", "earliest")
        .option("maxOffsetsPerTrigger", batch)
        .load()
    )
    parsed = stream.select(
        F.col("key").cast("string").alias("key"),
        F.from_json(F.col("value").cast("string"), SPARK_SCHEMA).alias("v"),
        F.col("topic").alias("_topic"),
        F.col("partition").alias("_partition"),
        F.col("offset").alias("_offset"),
        F.col("timestamp").alias("_timestamp"),
    ).select("key", "v.*", "_topic", "_partition", "_offset", "_timestamp")
    query = (
        parsed.writeStream.format("delta")
        .option("checkpointLocation", str(work / "checkpoint"))
        .trigger(availableNow=True)
        .start(str(work / "delta"))
    )
    query.awaitTermination()
    elapsed = time.perf_counter() - started
    rows = spark.read.format("delta").load(str(work / "delta")).count()
    assert rows == n, (rows, n)
    return n / elapsed


def spark_rates(bootstrap: str, topic: str, n: int, batch: int, master: str) -> tuple[float, float]:
    """(our pipeline on the Spark engine, Spark SS) in events/s, both in one warm session.

    Two rounds, alternating, so that neither player runs on the JIT the other warmed alone;
    the second round of each is reported.
    """
    from odibi_stream.engines.spark import SparkEngine

    engine = SparkEngine({"master": master})
    engine.spark.range(10).count()  # JVM start-up is not what is compared
    try:
        rounds = [(our_rate(bootstrap, topic, n, batch, engine), spark_ss_rate(engine, bootstrap, topic, n, batch))
                  for _ in range(2)]
    finally:
        engine.close()
    return rounds[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=250_000, help="max_records_per_batch")
    parser.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP"))
    parser.add_argument("--spark-master", default="local[2]", help="Spark master of the Spark peer")
    parser.add_argument("--no-spark", action="store_true", help="skip the Spark Structured Streaming peer")
    args = parser.parse_args()
    bootstrap = args.bootstrap or local_bootstrap()
    topic = f"bench-{uuid.uuid4().hex[:8]}"
    create_topic(bootstrap, topic, 3)
    t0 = time.perf_counter()
    produce(bootstrap, topic, args.events)
    print(f"produced {args.events:,} events to {topic} in {time.perf_counter() - t0:.1f}s")
    raw = raw_rate(bootstrap, topic, args.events)
    ours = our_rate(bootstrap, topic, args.events, args.batch)
    print(f"raw confluent-kafka consume: {raw:,.0f} events/s")
    print(f"odibi KafkaSource -> Delta:  {ours:,.0f} events/s  ({ours / raw:.0%} of raw)")
    metric = f"{args.events:,} events, 3 partitions -> Delta"
    emit("kafka_to_delta", metric, "events/s", ours, raw, "raw confluent-kafka consume loop (no decode)",
         higher_is_better=True, scope="in-process")
    raw_whole = raw_whole_process(bootstrap, topic, args.events)
    ours_whole = ours_whole_process(bootstrap, topic, args.events, args.batch)
    print(f"raw consume + orjson.loads, whole process: {raw_whole:,.0f} events/s")
    print(f"odibi-stream run Kafka -> Delta, whole process: {ours_whole:,.0f} events/s "
          f"({ours_whole / raw_whole:.2f}x)")
    emit("kafka_to_delta", metric, "events/s", ours_whole, raw_whole, "raw confluent-kafka consume + orjson.loads loop",
         higher_is_better=True, scope="whole process (`odibi-stream run` vs a python process)")
    if not args.no_spark:
        ours_spark, spark = spark_rates(bootstrap, topic, args.events, args.batch, args.spark_master)
        print(f"Spark Structured Streaming Kafka -> Delta ({args.spark_master}, availableNow): {spark:,.0f} events/s")
        print(f"odibi KafkaSource -> Delta, engine: spark ({args.spark_master}): {ours_spark:,.0f} events/s")
        print(f"ours / raw = {ours / raw:.2f}x   ours / spark = {ours / spark:.2f}x   spark / raw = {spark / raw:.2f}x   "
              f"ours (spark engine) / spark = {ours_spark / spark:.2f}x")
        emit("kafka_to_delta", metric, "events/s", ours, spark, "Spark SS Kafka availableNow (warm session)",
             higher_is_better=True, scope="in-process")
        emit("kafka_to_delta", metric + ", engine: spark", "events/s", ours_spark, spark,
             "Spark SS Kafka availableNow (same warm session)", higher_is_better=True,
             scope="in-process, second of two alternating rounds")


if __name__ == "__main__":
    main()
