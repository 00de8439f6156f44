"""The Event Hubs source's watch on the wire: the polling trigger wakes when a partition's last
enqueued sequence number moves or a partition appears, stays quiet otherwise, keeps one
connection across polls, survives an unreachable namespace and closes its client on stop."""

from __future__ import annotations

import threading
import uuid

from odibi_stream.core.clock import ManualClock
from odibi_stream.core.wake import PollWatch, WakeReason
from odibi_stream.triggers.base import Trigger
from odibi_stream.triggers.data import PollingTrigger
from tests.eventhub_fixtures import source_spec
from tests.eventhub_server.fixtures import EventHubTarget, local_server
from tests.eventhub_server.server import EventHubServer
from tests.unit.service.runtime_projects import wait_for


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


def connections(server: EventHubServer) -> int:
    with server._lock:
        return len(server._connections)


def test_wakes_on_new_events_and_new_partitions_over_one_connection(
    eventhub_server: EventHubTarget,
) -> None:
    server = local_server(eventhub_server, "counting connections, growing a hub")
    hub = server.create_hub(f"trig-{uuid.uuid4().hex[:6]}", 2)
    watch = source_spec(server.connection_string(hub), hub).watch()
    assert (
        isinstance(watch, PollWatch)
        and watch.name == f"eventhub:{hub}"
        and watch.default_interval == 1.0
    )
    clock = ManualClock()
    trigger = PollingTrigger(watch, 1.0, clock)
    assert isinstance(trigger, Trigger)
    wakes = Wakes()
    trigger.start(wakes)
    try:
        wakes.wait_for(1)  # first poll: catch up
        opened = connections(server)
        for polls in (2, 3, 4):  # idle: several polls, no further wake-ups, no new connections
            clock.advance(1.0)
            wait_for(lambda polls=polls: trigger.polls == polls, 15, f"poll {polls}")
        assert len(wakes.reasons) == 1 and connections(server) == opened == 1
        server.publish(hub, [b"{}"] * 3, partition="1")
        clock.advance(1.0)
        wakes.wait_for(2)
        assert trigger.last == (("0", 0), ("1", 3))
        server.add_partitions(hub, 3)
        clock.advance(1.0)
        wakes.wait_for(3)
        assert trigger.last == (("0", 0), ("1", 3), ("2", 0))
        assert set(wakes.reasons) == {WakeReason.DATA}
    finally:
        trigger.stop()
    trigger.stop()  # idempotent
    wait_for(lambda: connections(server) == 0, 15, "the probe's connection closed")


def test_an_unreachable_namespace_does_not_kill_the_trigger(
    eventhub_server: EventHubTarget,
) -> None:
    server = local_server(eventhub_server, "an outage on demand")
    hub = server.create_hub(f"trig-{uuid.uuid4().hex[:6]}", 2)
    watch = source_spec(server.connection_string(hub), hub).watch()
    server.stop()
    clock = ManualClock()
    trigger = PollingTrigger(watch, 0.05, clock)
    wakes = Wakes()
    trigger.start(wakes)
    try:
        wait_for(
            lambda: clock.waiters == 1 and len(clock.requested) >= 1,
            60,
            "a failed poll, then a wait",
        )
        clock.advance(0.05)
        wait_for(lambda: len(clock.requested) >= 2, 60, "polled again after the failure")
        assert trigger._thread is not None and trigger._thread.is_alive()
        assert wakes.reasons == []
        server.start()
        server.publish(hub, [b"{}"], partition="0")
        clock.advance(0.05)
        wakes.wait_for(1, 30)  # back: the first successful poll catches up
    finally:
        trigger.stop()
