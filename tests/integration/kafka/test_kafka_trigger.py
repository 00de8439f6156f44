"""The Kafka source's watch against a real broker: the polling trigger wakes when end offsets
move, stays quiet otherwise, survives an unreachable broker and closes its consumer on stop."""

from __future__ import annotations

import threading
from collections.abc import Callable

from odibi_stream.config.models import ReadConfig
from odibi_stream.connectors.kafka import KafkaSourceSpec
from odibi_stream.core.clock import ManualClock
from odibi_stream.core.wake import PollWatch, WakeReason
from odibi_stream.triggers.base import Trigger
from odibi_stream.triggers.data import PollingTrigger
from tests.kafka_fixtures import add_partitions, produce_json
from tests.unit.service.runtime_projects import wait_for

TopicFactory = Callable[..., str]


class Wakes:
    def __init__(self) -> None:
        self.reasons: list[WakeReason] = []
        self.cond = threading.Condition()

    def __call__(self, reason: WakeReason) -> None:
        with self.cond:
            self.reasons.append(reason)
            self.cond.notify_all()

    def wait_for(self, count: int, timeout: float = 15.0) -> None:
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.reasons) >= count, timeout), self.reasons


def _watch(bootstrap: str, topic: str, **conn: object) -> PollWatch:
    spec = KafkaSourceSpec("n", "p", {"bootstrap.servers": bootstrap, **conn},
                           ReadConfig(connection="k", format="kafka", topic=topic))
    watch = spec.watch()
    assert isinstance(watch, PollWatch)
    return watch


def test_wakes_on_new_data_and_new_partitions(kafka_bootstrap: str, kafka_topic: TopicFactory) -> None:
    topic = kafka_topic()
    clock = ManualClock()
    trigger = PollingTrigger(_watch(kafka_bootstrap, topic), 1.0, clock)
    assert isinstance(trigger, Trigger)
    wakes = Wakes()
    trigger.start(wakes)
    try:
        wakes.wait_for(1)  # first poll: catch up
        for polls in (2, 3, 4):  # idle: several polls, no further wake-ups
            clock.advance(1.0)
            wait_for(lambda polls=polls: trigger.polls == polls, 15, f"poll {polls}")
        assert len(wakes.reasons) == 1
        produce_json(kafka_bootstrap, topic, 3)
        clock.advance(1.0)
        wakes.wait_for(2)
        assert trigger.last == ((f"{topic}:0", 3),)
        add_partitions(kafka_bootstrap, topic, 2)
        clock.advance(1.0)
        wakes.wait_for(3)
        assert trigger.last == ((f"{topic}:0", 3), (f"{topic}:1", 0))
        assert set(wakes.reasons) == {WakeReason.DATA}
    finally:
        trigger.stop()
    trigger.stop()  # idempotent
    assert trigger._thread is None


def test_unreachable_broker_does_not_kill_the_trigger() -> None:
    clock = ManualClock()
    watch = _watch("127.0.0.1:1", "x", **{"socket.timeout.ms": 500})
    trigger = PollingTrigger(watch, 0.05, clock)
    wakes = Wakes()
    trigger.start(wakes)
    wait_for(lambda: clock.waiters == 1 and len(clock.requested) >= 1, 30, "a failed poll, then a wait")
    clock.advance(0.05)
    wait_for(lambda: len(clock.requested) >= 2, 30, "polled again after the failure")
    assert trigger._thread is not None and trigger._thread.is_alive()
    trigger.stop()
    assert wakes.reasons == []
