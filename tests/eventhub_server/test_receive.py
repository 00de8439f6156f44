"""Receivers: start positions by sequence number, offset and enqueued time; async; metrics."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from azure.eventhub import EventData, EventHubConsumerClient
from azure.eventhub.aio import EventHubConsumerClient as AsyncConsumer
from azure.eventhub.exceptions import ConnectError

from tests.eventhub_server.fixtures import EventHubTarget
from tests.eventhub_server.sdk import (
    ReceiveError,
    enqueued,
    receive,
    receive_each,
    send,
    seq,
    wait_for,
)


def _seeded(target: EventHubTarget, n: int = 10) -> tuple[str, list[EventData]]:
    """A hub whose partition 0 ends with ``n`` fresh events; returns (conn, those events)."""
    hub = target.create_hub(f"recv-{uuid.uuid4().hex[:8]}", 2)
    conn = target.connection_string(hub)
    with EventHubConsumerClient.from_connection_string(conn, "$Default") as client:
        last = client.get_partition_properties("0")["last_enqueued_sequence_number"]
    send(conn, [f"e{i}".encode() for i in range(n)], partition_id="0")
    return conn, receive(conn, "0", starting_position=last, expect=n)


def _seqs(events: list[EventData]) -> list[int]:
    return [seq(e) for e in events]


def test_sequence_number_exclusive_and_inclusive(eventhub_server: EventHubTarget) -> None:
    conn, events = _seeded(eventhub_server)
    pivot = seq(events[6])
    exclusive, inclusive = receive_each(
        conn, "0", [{"starting_position": pivot}, {"starting_position": pivot, "inclusive": True}]
    )
    assert _seqs(exclusive) == _seqs(events[7:])
    assert _seqs(inclusive) == _seqs(events[6:])


def test_offset_exclusive_and_inclusive(eventhub_server: EventHubTarget) -> None:
    conn, events = _seeded(eventhub_server)
    offset = events[3].offset
    assert isinstance(offset, str)
    exclusive, inclusive = receive_each(
        conn, "0", [{"starting_position": offset}, {"starting_position": offset, "inclusive": True}]
    )
    assert _seqs(exclusive) == _seqs(events[4:])
    assert _seqs(inclusive) == _seqs(events[3:])


def test_enqueued_time_exclusive_and_inclusive(eventhub_server: EventHubTarget) -> None:
    hub = eventhub_server.create_hub(f"recv-{uuid.uuid4().hex[:8]}", 1)
    conn = eventhub_server.connection_string(hub)
    send(conn, [b"early"], partition_id="0")
    first = receive(conn, "0", starting_position="-1")[-1]
    first_time = enqueued(first)
    # Let the clock pass the first event's millisecond so the next batch gets a later time.
    wait_for(lambda: datetime.now(timezone.utc) > first_time + timedelta(milliseconds=2))
    send(conn, [b"late-1", b"late-2"], partition_id="0")
    late_time = enqueued(receive(conn, "0", starting_position=seq(first), expect=2)[0])
    assert late_time > first_time

    # Counts where events are due: a wrong start shows as wrong bodies or a timeout.
    variants: list[dict[str, Any]] = [
        {"starting_position": first_time, "expect": 2},
        {"starting_position": first_time, "inclusive": True, "expect": 3},
        {"starting_position": late_time, "inclusive": True, "expect": 2},
        {"starting_position": late_time},
    ]
    got = [[e.body_as_str() for e in events] for events in receive_each(conn, "0", variants)]
    assert got == [["late-1", "late-2"], ["early", "late-1", "late-2"], ["late-1", "late-2"], []]


def test_earliest_and_latest(eventhub_server: EventHubTarget) -> None:
    conn, events = _seeded(eventhub_server, 5)
    everything = receive(conn, "0", starting_position="-1")
    assert _seqs(everything)[-5:] == _seqs(events)
    client = EventHubConsumerClient.from_connection_string(conn, "$Default")
    got: list[EventData] = []
    attached = threading.Event()

    def on_batch(_ctx: Any, batch: list[EventData]) -> None:
        attached.set()  # the first (empty) batch: the link is up and positioned at the end
        got.extend(batch)

    worker = threading.Thread(
        target=client.receive_batch,
        kwargs={"on_event_batch": on_batch, "partition_id": "0", "starting_position": "@latest", "max_wait_time": 0.2},
        daemon=True,
    )
    worker.start()
    assert attached.wait(20)
    send(conn, [b"new"], partition_id="0")
    wait_for(lambda: len(got) >= 1, 20, "the event sent after attaching")
    client.close()
    worker.join(10)
    assert [e.body_as_str() for e in got] == ["new"]


def test_a_sequence_number_past_the_end_is_refused(eventhub_server: EventHubTarget) -> None:
    conn, events = _seeded(eventhub_server, 3)
    last = seq(events[-1])
    with pytest.raises(ReceiveError) as failed:
        receive(conn, "0", starting_position=last + 50)
    assert isinstance(failed.value.errors[0], ConnectError)
    assert "argument-out-of-range" in str(failed.value.errors[0])
    assert receive(conn, "0", starting_position=last) == []  # just past the end is fine


def test_many_events_through_a_small_prefetch(eventhub_server: EventHubTarget) -> None:
    hub = eventhub_server.create_hub(f"recv-{uuid.uuid4().hex[:8]}", 1)
    conn = eventhub_server.connection_string(hub)
    with EventHubConsumerClient.from_connection_string(conn, "$Default") as client:
        last = client.get_partition_properties("0")["last_enqueued_sequence_number"]
    send(conn, [f"{i}".encode() for i in range(3000)], partition_id="0")
    events = receive(conn, "0", starting_position=last, expect=3000, prefetch=37, max_batch_size=50)
    assert [int(e.body_as_str()) for e in events] == list(range(3000))
    assert _seqs(events) == list(range(last + 1, last + 3001))


def test_async_consumer_all_partitions(eventhub_server: EventHubTarget) -> None:
    hub = eventhub_server.create_hub(f"recv-{uuid.uuid4().hex[:8]}", 2)
    conn = eventhub_server.connection_string(hub)
    marker = uuid.uuid4().hex
    send(conn, [f"{marker}-0".encode()], partition_id="0")
    send(conn, [f"{marker}-1".encode()], partition_id="1")

    async def consume() -> set[tuple[str, str]]:
        seen: set[tuple[str, str]] = set()

        async def on_event(ctx: Any, event: EventData | None) -> None:
            if event is not None and event.body_as_str().startswith(marker):
                seen.add((ctx.partition_id, event.body_as_str()))

        async with AsyncConsumer.from_connection_string(conn, "$Default") as client:
            task = asyncio.ensure_future(client.receive(on_event=on_event, starting_position="-1"))
            for _ in range(200):
                if len(seen) == 2:
                    break
                await asyncio.sleep(0.05)
            await client.close()
            task.cancel()  # the SDK's receive task idles through a load-balancing sleep after close
            with contextlib.suppress(asyncio.CancelledError):
                await task
        return seen

    assert asyncio.run(consume()) == {("0", f"{marker}-0"), ("1", f"{marker}-1")}


def test_last_enqueued_event_properties(eventhub_server: EventHubTarget) -> None:
    conn, events = _seeded(eventhub_server, 4)
    client = EventHubConsumerClient.from_connection_string(conn, "$Default")
    seen: list[dict[str, Any] | None] = []

    def on_batch(ctx: Any, batch: list[EventData]) -> None:
        if batch:
            seen.append(ctx.last_enqueued_event_properties)

    worker = threading.Thread(
        target=client.receive_batch,
        kwargs={
            "on_event_batch": on_batch,
            "partition_id": "0",
            "starting_position": events[0].sequence_number,
            "track_last_enqueued_event_properties": True,
            "max_wait_time": 0.2,
        },
        daemon=True,
    )
    worker.start()
    wait_for(lambda: bool(seen), 20, "a batch")
    client.close()
    worker.join(10)
    info = seen[0]
    assert info is not None
    assert info["sequence_number"] == events[-1].sequence_number
    assert info["offset"] == events[-1].offset
    assert info["enqueued_time"] == events[-1].enqueued_time
    assert info["retrieval_time"].tzinfo is not None
