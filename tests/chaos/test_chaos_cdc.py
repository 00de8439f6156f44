"""CDC through Kafka into a Delta SCD2 table, under SIGKILL, equals the independently computed history.

The feed (``tests.cdc_model.cdc_feed``): random inserts/updates/deletes over a set of keys, several
changes per key per round, shuffled within the round, plus late changes that reuse an older
sequence of their key. Keys are partitioned by ``id % partitions``; every round puts exactly
``per_partition`` events on every partition, and ``max_records_per_batch`` is one round, so batch N
is round N whatever the kills (planning is deterministic over a topic produced in full before
the first run; a replay reads its recorded ranges). The test checks that premise in the
checkpoint, then compares the table with :func:`tests.cdc_model.expected_scd2` — plain Python
over the event list, written from the documented semantics, not from the implementation.

Sizes: 102,000 events on the pandas engine (17 batches of 6,000; 6 kills at protocol steps and
4 at random instants); 20,000 on the Spark engine (5 batches of 4,000; 3 kills at protocol steps:
each Spark restart costs a JVM start, each MERGE seconds on 2 cores).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from deltalake import DeltaTable

from tests.cdc_model import CdcFeed, cdc_feed, expected_scd2
from tests.chaos.harness import kill_at_random, run_cli
from tests.conftest import write_project
from tests.kafka_fixtures import produce
from tests.spark_fixtures import require_spark

pytestmark = pytest.mark.chaos

COLUMNS = ("id", "seq", "name", "amount", "_valid_from", "_valid_to", "_is_current")


def _project(root: Path, bootstrap: str, topic: str, engine: str, per_batch: int) -> Path:
    odibi = f"""\
project: cdc
engine: {engine}
checkpoint: {{root: ./checkpoints, retain_batches: 1000}}
runtime: {{lease_ttl_seconds: 1}}
connections:
  local: {{type: local, base_path: ./data}}
  bus: {{type: kafka, options: {{bootstrap.servers: "{bootstrap}"}}}}
spark: {{master: "local[1]", conf: {{spark.sql.shuffle.partitions: 2}}}}
"""
    pipeline = f"""\
pipeline: cdc
trigger: {{kafka: {{interval_seconds: 0.2}}}}
nodes:
  - name: changes
    read:
      connection: bus
      format: kafka
      topic: {topic}
      options: {{value_format: json, starting: earliest, schema: {{id: int64, seq: int64, op: string, name: string, amount: double}}}}
      incremental: {{mode: offsets, max_records_per_batch: {per_batch}}}
    transform: {{sql: "SELECT id, seq, op, name, amount FROM changes"}}
    write:
      connection: local
      format: delta
      path: lake/customers
      mode: merge
      merge: {{keys: [id], strategy: scd2, sequence_by: seq, deletes: {{column: op, value: D}}, audit_columns: true}}
"""
    return write_project(root, {"cdc": pipeline}, odibi_yaml=odibi)


def _produce(bootstrap: str, topic: str, feed: CdcFeed) -> None:
    for events in feed.rounds:
        for p in range(feed.partitions):
            mine = [e for e in events if e["id"] % feed.partitions == p]
            produce(bootstrap, topic, mine, partition=p)


def _committed_ranges(project: Path) -> list[dict[str, Any]]:
    commits = sorted((project / "checkpoints" / "cdc" / "commits").glob("*.json"), key=lambda f: int(f.stem))
    return [orjson.loads(f.read_bytes())["sources"]["changes"]["partitions"] for f in commits]


def _check(project: Path, feed: CdcFeed, per_partition: int) -> None:
    ranges = _committed_ranges(project)
    assert len(ranges) == len(feed.rounds), "one batch per round"
    for n, rng in enumerate(ranges):
        assert all(end - start == per_partition for start, end in rng.values()), f"batch {n} is round {n}: {rng}"
    table = DeltaTable(str(project / "data" / "lake" / "customers"))
    assert table.transaction_version("cdc/changes") == len(feed.rounds) - 1
    rows = table.to_pyarrow_table().to_pylist()
    got = sorted(({k: r[k] for k in COLUMNS} for r in rows), key=lambda r: (r["id"], r["_valid_from"]))
    want = sorted(({k: r[k] for k in COLUMNS} for r in expected_scd2(feed.rounds)), key=lambda r: (r["id"], r["_valid_from"]))
    assert len(got) == len(want), f"{len(got)} versions, expected {len(want)}"
    assert got == want
    assert all(r["_created_at"] <= r["_updated_at"] and 0 <= r["_odibi_batch"] < len(feed.rounds) for r in rows)


def _run_with_kills(project: Path, faults: list[str], random_kills: int, timeout: float, rng: random.Random) -> int:
    kills = 0
    for fault in faults:
        if run_cli(project, "cdc", fault=fault, timeout=timeout) != 0:
            kills += 1
    for _ in range(random_kills):
        if kill_at_random(project, "cdc", rng, max_delay=4.0) != 0:
            kills += 1
    assert run_cli(project, "cdc", timeout=timeout) == 0
    return kills


@pytest.mark.timeout(1500)
def test_cdc_scd2_through_kafka_under_kill9_pandas(
    tmp_path: Path, kafka_bootstrap: str, kafka_topic: Callable[..., str]
) -> None:
    feed = cdc_feed(16, rounds=17, partitions=3, per_partition=2000, keys=1500)
    assert feed.events == 102_000
    topic = kafka_topic(partitions=3)
    _produce(kafka_bootstrap, topic, feed)
    project = _project(tmp_path / "p", kafka_bootstrap, topic, "pandas", 3 * 2000)
    faults = ["after_sink:2", "before_commit:3", "after_write_ahead:2", "after_commit:2", "after_read:4", "after_sink:1"]
    kills = _run_with_kills(project, faults, 4, 600, random.Random(16))
    assert kills >= len(faults)
    _check(project, feed, 2000)


@pytest.mark.timeout(1800)
def test_cdc_scd2_through_kafka_under_kill9_spark(
    tmp_path: Path, kafka_bootstrap: str, kafka_topic: Callable[..., str]
) -> None:
    require_spark()
    feed = cdc_feed(61, rounds=5, partitions=2, per_partition=2000, keys=1200)
    assert feed.events == 20_000
    topic = kafka_topic(partitions=2)
    _produce(kafka_bootstrap, topic, feed)
    project = _project(tmp_path / "p", kafka_bootstrap, topic, "spark", 2 * 2000)
    faults = ["after_sink:2", "before_commit:1", "after_write_ahead:2"]
    kills = _run_with_kills(project, faults, 0, 900, random.Random(61))
    assert kills == len(faults)
    _check(project, feed, 2000)
