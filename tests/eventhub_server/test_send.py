"""Producers: to a partition, by partition key, round robin; sync and async; event properties."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

import pytest
from azure.eventhub import EventData, EventHubProducerClient
from azure.eventhub.aio import EventHubProducerClient as AsyncProducer

from tests.eventhub_server.fixtures import EventHubTarget, local_server
from tests.eventhub_server.sdk import receive
from tests.eventhub_server.server import EventHubServer


def _hub(target: EventHubTarget, partitions: int = 4) -> str:
    return target.create_hub(f"send-{uuid.uuid4().hex[:8]}", partitions)


def _last_seqs(conn: str, partitions: int) -> dict[str, int]:
    with EventHubProducerClient.from_connection_string(conn) as client:
        return {
            str(p): client.get_partition_properties(str(p))["last_enqueued_sequence_number"]
            for p in range(partitions)
        }


def test_batch_to_a_partition_keeps_order(eventhub_server: EventHubTarget) -> None:
    hub = _hub(eventhub_server)
    conn = eventhub_server.connection_string(hub)
    start = _last_seqs(conn, 4)["2"]
    with EventHubProducerClient.from_connection_string(conn) as producer:
        batch = producer.create_batch(partition_id="2")
        for i in range(50):
            batch.add(EventData(f"e{i}"))
        producer.send_batch(batch)
        producer.send_event(EventData("single"), partition_id="2")
    events = receive(conn, "2", starting_position=start, expect=51)
    assert [e.body_as_str() for e in events] == [f"e{i}" for i in range(50)] + ["single"]
    assert [e.sequence_number for e in events] == list(range(start + 1, start + 52))


def test_partition_key_routes_consistently(eventhub_server: EventHubTarget) -> None:
    hub = _hub(eventhub_server)
    conn = eventhub_server.connection_string(hub)
    before = _last_seqs(conn, 4)
    with EventHubProducerClient.from_connection_string(conn) as producer:
        for round_ in range(3):
            batch = producer.create_batch(partition_key="device-7")
            batch.add(EventData(f"k{round_}"))
            producer.send_batch(batch)
    after = _last_seqs(conn, 4)
    grown = {p: after[p] - before[p] for p in after if after[p] != before[p]}
    assert list(grown.values()) == [3], "all events of one key land in one partition"
    (partition,) = grown
    events = receive(conn, partition, starting_position=before[partition], expect=3)
    assert [e.partition_key for e in events] == [b"device-7"] * 3  # the SDK returns the raw annotation
    assert [e.body_as_str() for e in events] == ["k0", "k1", "k2"]


def test_round_robin_spreads_batches(eventhub_server: EventHubTarget) -> None:
    hub = _hub(eventhub_server)
    conn = eventhub_server.connection_string(hub)
    before = _last_seqs(conn, 4)
    with EventHubProducerClient.from_connection_string(conn) as producer:
        for i in range(8):
            batch = producer.create_batch()
            batch.add(EventData(f"rr{i}"))
            producer.send_batch(batch)
    after = _last_seqs(conn, 4)
    counts = Counter({p: after[p] - before[p] for p in after})
    assert sum(counts.values()) == 8
    assert len([p for p, n in counts.items() if n]) > 1, counts


def test_async_producer_batches(eventhub_server: EventHubTarget) -> None:
    hub = _hub(eventhub_server, 2)
    conn = eventhub_server.connection_string(hub)
    start = _last_seqs(conn, 2)["1"]

    async def produce() -> None:
        async with AsyncProducer.from_connection_string(conn) as producer:
            for chunk in range(3):
                batch = await producer.create_batch(partition_id="1")
                for i in range(10):
                    batch.add(EventData(f"a{chunk}-{i}"))
                await producer.send_batch(batch)

    asyncio.run(produce())
    events = receive(conn, "1", starting_position=start, expect=30)
    assert [e.body_as_str() for e in events] == [f"a{c}-{i}" for c in range(3) for i in range(10)]


def test_properties_survive_the_round_trip(eventhub_server: EventHubTarget) -> None:
    hub = _hub(eventhub_server, 1)
    conn = eventhub_server.connection_string(hub)
    start = _last_seqs(conn, 1)["0"]
    event = EventData(b'{"temp": 21.5}')
    event.properties = {"source": "sensor-1", "count": 3, "ratio": 0.25, "ok": True, "raw": b"\x00\x01"}
    event.message_id = "msg-0001"
    event.content_type = "application/json"
    event.correlation_id = "corr-9"
    with EventHubProducerClient.from_connection_string(conn) as producer:
        producer.send_event(event, partition_id="0")
    (got,) = receive(conn, "0", starting_position=start, expect=1)
    assert got.body_as_json() == {"temp": 21.5}
    assert got.properties == {b"source": b"sensor-1", b"count": 3, b"ratio": 0.25, b"ok": True, b"raw": b"\x00\x01"}
    assert (got.message_id, got.content_type, got.correlation_id) == ("msg-0001", "application/json", "corr-9")
    system = got.system_properties
    assert system[b"x-opt-sequence-number"] == got.sequence_number == start + 1
    assert system[b"x-opt-offset"].decode() == got.offset
    assert got.enqueued_time is not None and got.enqueued_time.tzinfo is not None


def test_batches_are_sized_by_the_advertised_message_limit() -> None:
    with EventHubServer(max_message_size=64 * 1024) as server:
        server.create_hub("tiny", 1)
        with EventHubProducerClient.from_connection_string(server.connection_string("tiny")) as producer:
            batch = producer.create_batch()
            assert batch.max_size_in_bytes == 64 * 1024
            with pytest.raises(ValueError):
                batch.add(EventData(b"x" * 70_000))


def test_stored_events_are_visible_to_the_test(eventhub_server: EventHubTarget) -> None:
    server = local_server(eventhub_server, "reading the server's store")
    server.create_hub("seen", 1)
    event = EventData(b"body")
    event.properties = {"a": "b"}
    event.message_id = "id-1"
    with EventHubProducerClient.from_connection_string(server.connection_string("seen")) as producer:
        batch = producer.create_batch(partition_key="k")
        batch.add(event)
        producer.send_batch(batch)
    (stored,) = server.events("seen", "0")
    assert (stored.sequence_number, stored.offset, stored.partition_key) == (0, "0", "k")
    assert (stored.body, stored.properties, stored.message_id) == (b"body", {"a": b"b"}, "id-1")
    assert stored.enqueued_time_ms == server.partition_properties("seen", "0").last_enqueued_time_ms


def test_a_long_lived_producer_sends_many_deliveries(eventhub_server: EventHubTarget) -> None:
    hub = _hub(eventhub_server, 1)
    conn = eventhub_server.connection_string(hub)
    start = _last_seqs(conn, 1)["0"]
    with EventHubProducerClient.from_connection_string(conn) as producer:
        for i in range(1200):  # one delivery each, past the link credit the server grants at once
            producer.send_event(EventData(f"{i}"), partition_id="0")
    events = receive(conn, "0", starting_position=start, expect=1200)
    assert [int(e.body_as_str()) for e in events] == list(range(1200))
