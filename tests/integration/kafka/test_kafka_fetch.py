"""RangeFetcher against a real broker: a kept consumer hands out every record exactly once."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest

from odibi_stream.clients import kafka_logs
from odibi_stream.connectors import kafka_fetch
from odibi_stream.connectors.kafka_decode import Decoded
from odibi_stream.connectors.kafka_fetch import RangeFetcher
from tests.kafka_fixtures import produce_json

TopicFactory = Callable[..., str]


def fetcher(bootstrap: str, clock: Callable[[], float] = time.monotonic) -> RangeFetcher:
    conf = {
        "bootstrap.servers": bootstrap,
        "group.id": f"fetch-{uuid.uuid4().hex[:8]}",
        "enable.auto.commit": False,
        "enable.partition.eof": True,
        "isolation.level": "read_committed",
    }
    return RangeFetcher(conf, "n", read_timeout=20, clock=clock)


def offsets(f: RangeFetcher, ranges: dict[str, tuple[int, int]]) -> dict[str, list[int]]:
    out = {key: Decoded() for key in ranges}
    f.fetch(ranges, out)
    return {key: [int(o) for o in d.meta["_offset"]] for key, d in out.items()}


@pytest.fixture
def topic3(kafka_bootstrap: str, kafka_topic: TopicFactory) -> str:
    topic = kafka_topic(partitions=3)
    for p in range(3):
        produce_json(kafka_bootstrap, topic, 300, start=p * 300, partition=p)
    return topic


def test_consecutive_ranges_continue_on_one_consumer(kafka_bootstrap: str, topic3: str) -> None:
    f = fetcher(kafka_bootstrap)
    keys = [f"{topic3}:{p}" for p in range(3)]
    got: dict[str, list[int]] = {k: [] for k in keys}
    for lo in range(0, 300, 40):
        hi = min(lo + 40, 300)
        for key, offs in offsets(f, {k: (lo, hi) for k in keys}).items():
            assert offs == list(range(lo, hi))
            got[key] += offs
    assert f.reassigned == 0  # every read continued where the previous one ended
    assert all(v == list(range(300)) for v in got.values())
    f.close()


def test_a_re_read_or_a_jump_re_assigns_and_stays_exact(kafka_bootstrap: str, topic3: str) -> None:
    f = fetcher(kafka_bootstrap)
    key = f"{topic3}:1"
    assert offsets(f, {key: (0, 50)})[key] == list(range(50))
    # The batch failed after reading: the runtime reads the same range again.
    assert offsets(f, {key: (0, 50)})[key] == list(range(50))
    assert f.reassigned == 1
    assert offsets(f, {key: (200, 210)})[key] == list(range(200, 210))  # a replan elsewhere
    assert offsets(f, {key: (210, 300)})[key] == list(range(210, 300))
    assert f.reassigned == 2
    f.close()


def test_a_partition_skipped_by_one_batch_resumes_exactly(kafka_bootstrap: str, topic3: str) -> None:
    f = fetcher(kafka_bootstrap)
    a, b = f"{topic3}:0", f"{topic3}:2"
    assert offsets(f, {a: (0, 100), b: (0, 100)}) == {a: list(range(100)), b: list(range(100))}
    # b had no backlog when this batch was planned; its records delivered meanwhile are kept.
    assert offsets(f, {a: (100, 150)}) == {a: list(range(100, 150))}
    assert offsets(f, {a: (150, 300), b: (100, 300)}) == {a: list(range(150, 300)), b: list(range(100, 300))}
    assert f.reassigned == 0
    f.close()


def test_overflowing_the_kept_records_re_assigns_without_loss(
    kafka_bootstrap: str, topic3: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kafka_fetch, "_CARRY_LIMIT", 5)
    f = fetcher(kafka_bootstrap)
    a, b = f"{topic3}:0", f"{topic3}:2"
    assert offsets(f, {a: (0, 100), b: (0, 100)}) == {a: list(range(100)), b: list(range(100))}
    # b stays assigned while only a is read: b's 200 further records arrive and overflow the
    # 5 kept, which are dropped; b's next read must re-assign and re-fetch them.
    for lo in range(100, 300, 10):
        assert offsets(f, {a: (lo, lo + 10)})[a] == list(range(lo, lo + 10))
    assert f.dropped >= 1
    assert offsets(f, {b: (100, 300)})[b] == list(range(100, 300))
    assert f.reassigned >= 1
    f.close()


def test_a_failed_read_closes_and_the_next_starts_afresh(kafka_bootstrap: str, topic3: str) -> None:
    f = fetcher(kafka_bootstrap)
    key = f"{topic3}:0"
    f._read_timeout = 1.0  # a range past the end never completes: the read gives up
    with pytest.raises(Exception, match="no progress"):
        offsets(f, {key: (290, 400)})
    assert offsets(f, {key: (290, 300)})[key] == list(range(290, 300))
    f.close()


def test_the_log_pump_closes_an_idle_consumer_and_the_next_read_reopens(kafka_bootstrap: str, topic3: str) -> None:
    now = [1000.0]
    f = fetcher(kafka_bootstrap, clock=lambda: now[0])
    key = f"{topic3}:0"
    assert offsets(f, {key: (0, 10)})[key] == list(range(10))
    now[0] += kafka_fetch.IDLE_CLOSE_SECONDS - 0.5
    assert f.serve_queue() and f.connected  # back-to-back batches keep their prefetch
    now[0] += 1.0
    assert f.serve_queue() and not f.connected  # idle: closed before its log queue grows
    assert offsets(f, {key: (10, 20)})[key] == list(range(10, 20))
    assert f.connected and f.reassigned == 0
    assert sum(ref() is f for ref in kafka_logs.PUMP._clients) == 1  # once, not per consumer
    f.close()
