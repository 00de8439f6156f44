"""Kafka → Delta and Kafka → Kafka under SIGKILL at every protocol step: every record once.

Runs ``odibi-stream run`` against the real local broker; poison messages go to the dead letter
with exact counts, and a read_committed consumer of the output topic sees each record once.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from deltalake import DeltaTable

from odibi_stream.runtime.faults import POINTS
from tests.chaos.harness import kill_at_random, run_cli
from tests.kafka_fixtures import consume_committed, produce, produce_json, write_kafka_project

pytestmark = pytest.mark.chaos


def _feed(bootstrap: str, topic: str, start: int, n: int, rng: random.Random) -> tuple[list[int], int]:
    """Produce n good records (ids start..) and a few poison ones; return (ids, poison count)."""
    produce_json(bootstrap, topic, n, start=start)
    poison = rng.randint(0, 3)
    if poison:
        produce(bootstrap, topic, [b"\xff{not json"] * poison, raw=True)
    return list(range(start, start + n)), poison


def _chaos(project: Path, feed: Callable[[int], None], rng: random.Random) -> int:
    kills = 0
    for i, point in enumerate(POINTS):
        if run_cli(project, "k2x", fault=f"{point}:{rng.randint(1, 2)}") != 0:
            kills += 1
        feed(i + 1)
    for _ in range(2):
        if kill_at_random(project, "k2x", rng, max_delay=4.0) != 0:
            kills += 1
    assert run_cli(project, "k2x") == 0
    return kills


@pytest.mark.timeout(900)
def test_kafka_to_delta_exactly_once_under_kill9(
    tmp_path: Path, kafka_bootstrap: str, kafka_topic: Callable[..., str]
) -> None:
    rng = random.Random(5)
    topic = kafka_topic(partitions=3)
    project = write_kafka_project(tmp_path / "p", kafka_bootstrap, topic, max_records_per_batch=150)
    expected, poison = _feed(kafka_bootstrap, topic, 0, 600, rng)

    def feed(i: int) -> None:
        nonlocal poison
        ids, bad = _feed(kafka_bootstrap, topic, i * 10_000, 80, rng)
        expected.extend(ids)
        poison += bad

    kills = _chaos(project, feed, rng)
    got = Counter(DeltaTable(str(project / "data" / "lake" / "out")).to_pyarrow_table(columns=["id"]).column("id").to_pylist())
    assert {k: v for k, v in got.items() if v > 1} == {}, f"duplicates after {kills} kills"
    assert set(got) == set(expected)
    dead = DeltaTable(str(project / "data" / "lake" / "dead_letter")).to_pyarrow_table().to_pylist()
    assert len(dead) == poison, "each poison message dead-lettered exactly once"
    assert all(d["_odibi_source"].startswith(topic) for d in dead)
    assert kills >= len(POINTS) // 2


@pytest.mark.timeout(900)
def test_kafka_to_kafka_exactly_once_under_kill9(
    tmp_path: Path, kafka_bootstrap: str, kafka_topic: Callable[..., str]
) -> None:
    rng = random.Random(9)
    src, out = kafka_topic(partitions=2), kafka_topic(partitions=2)
    project = write_kafka_project(tmp_path / "p", kafka_bootstrap, src, out_topic=out, max_records_per_batch=120)
    expected, _ = _feed(kafka_bootstrap, src, 0, 400, rng)

    def feed(i: int) -> None:
        expected.extend(_feed(kafka_bootstrap, src, i * 10_000, 60, rng)[0])

    _chaos(project, feed, rng)
    # key_column: id, so the id travels as the message key and the rest as the JSON value
    msgs = consume_committed(kafka_bootstrap, out)
    assert all("name" in json.loads(m.value()) for m in msgs)
    ids = Counter(int(m.key()) for m in msgs)
    assert {k: v for k, v in ids.items() if v > 1} == {}, "read_committed consumers must see each record once"
    assert set(ids) == set(expected)
