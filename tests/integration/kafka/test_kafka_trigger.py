"""KafkaTrigger against a real broker: wakes when end offsets move, stays quiet otherwise."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from odibi_stream.triggers.kafka import KafkaTrigger

from odibi_stream.core.wake import WakeReason
from odibi_stream.triggers.base import Trigger
from tests.kafka_fixtures import add_partitions, produce_json

TopicFactory = Callable[..., str]


class Wakes:
    def __init__(self) -> None:
        self.reasons: list[str] = []
        self.cond = threading.Condition()

    def __call__(self, reason: str) -> None:
        with self.cond:
            self.reasons.append(reason)
            self.cond.notify_all()

    def wait_for(self, count: int, timeout: float = 15.0) -> None:
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.reasons) >= count, timeout), self.reasons


def test_wakes_on_new_data_and_new_partitions(kafka_bootstrap: str, kafka_topic: TopicFactory) -> None:
    topic = kafka_topic()
    trigger = KafkaTrigger({"bootstrap.servers": kafka_bootstrap}, [topic], interval=0.1)
    assert isinstance(trigger, Trigger)
    wakes = Wakes()
    trigger.start(wakes)
    try:
        wakes.wait_for(1)  # first poll: catch up
        # Idle: several polls, no further wake-ups.
        deadline = time.monotonic() + 0.6
        while time.monotonic() < deadline:
            assert len(wakes.reasons) == 1
            time.sleep(0.05)
        produce_json(kafka_bootstrap, topic, 3)
        wakes.wait_for(2)
        assert trigger.end_offsets == {f"{topic}:0": 3}
        add_partitions(kafka_bootstrap, topic, 2)
        wakes.wait_for(3)
        assert set(trigger.end_offsets) == {f"{topic}:0", f"{topic}:1"}
        assert set(wakes.reasons) == {WakeReason.DATA}
    finally:
        trigger.stop()
    trigger.stop()  # idempotent
    count = len(wakes.reasons)
    produce_json(kafka_bootstrap, topic, 1)
    time.sleep(0.3)  # checking for absence of wake-ups after stop (nothing to poll for)
    assert len(wakes.reasons) == count


def test_unreachable_broker_does_not_kill_the_trigger() -> None:
    trigger = KafkaTrigger({"bootstrap.servers": "127.0.0.1:1", "socket.timeout.ms": 500}, ["x"], interval=0.05, timeout=0.5)
    wakes = Wakes()
    trigger.start(wakes)
    assert trigger._thread is not None and trigger._thread.is_alive()
    trigger.stop()
    assert wakes.reasons == []
