"""Injected errors: throttling (``com.microsoft:server-busy``) on send, receive and management."""

from __future__ import annotations

import threading

import pytest
from azure.eventhub import EventData, EventHubConsumerClient, EventHubProducerClient
from azure.eventhub.exceptions import ConnectError, EventDataSendError

from tests.eventhub_server.fixtures import EventHubTarget, local_server
from tests.eventhub_server.sdk import ReceiveError, receive, wait_for
from tests.eventhub_server.server import EventHubServer


@pytest.fixture
def server(eventhub_server: EventHubTarget) -> EventHubServer:
    server = local_server(eventhub_server, "injected faults")
    server.create_hub("busy", 2)
    return server


def test_server_busy_rejects_a_send_then_clears(server: EventHubServer) -> None:
    server.inject_error("busy", "send", partition="1")
    with EventHubProducerClient.from_connection_string(server.connection_string("busy"), retry_total=0) as producer:
        producer.send_event(EventData(b"other partition"), partition_id="0")  # not targeted
        with pytest.raises(EventDataSendError, match="server-busy"):
            producer.send_event(EventData(b"rejected"), partition_id="1")
        producer.send_event(EventData(b"accepted"), partition_id="1")
    assert server.faults.pending() == 0
    assert [e.body_as_str() for e in receive(server.connection_string("busy"), "1")] == ["accepted"]


def test_server_busy_refuses_a_receiver_then_clears(server: EventHubServer) -> None:
    server.publish("busy", [b"a", b"b"], partition="0")
    server.inject_error("busy", "receive", count=1)
    conn = server.connection_string("busy")
    with pytest.raises(ReceiveError) as failed:
        receive(conn, "0")
    assert isinstance(failed.value.errors[0], ConnectError)
    assert "server-busy" in str(failed.value.errors[0])
    assert len(receive(conn, "0")) == 2


def test_server_busy_detaches_an_attached_receiver_and_the_sdk_resumes(server: EventHubServer) -> None:
    conn = server.connection_string("busy")
    server.publish("busy", [f"{i}".encode() for i in range(5)], partition="0")
    client = EventHubConsumerClient.from_connection_string(conn, "$Default", retry_total=3)
    got: list[EventData] = []
    errors: list[Exception] = []
    worker = threading.Thread(
        target=client.receive_batch,
        kwargs={
            "on_event_batch": lambda _c, batch: got.extend(batch),
            "on_error": lambda _c, error: errors.append(error),
            "partition_id": "0",
            "starting_position": "-1",
            "max_wait_time": 0.2,
        },
        daemon=True,
    )
    worker.start()
    try:
        wait_for(lambda: len(got) == 5, 30, "the first events")
        server.inject_error("busy", "receive", partition="0")
        server.publish("busy", [f"{i}".encode() for i in range(5, 10)], partition="0")
        wait_for(lambda: server.faults.pending() == 0, 30, "the fault to fire")
        # The SDK reconnects on its own, from the offset of the last event it got.
        wait_for(lambda: len(got) >= 10, 30, "the events after the detach")
    finally:
        client.close()
        worker.join(10)
    assert [int(e.body_as_str()) for e in got] == list(range(10))
    assert errors == []


def test_a_custom_condition(server: EventHubServer) -> None:
    server.inject_error("busy", "send", condition="com.microsoft:timeout", description="slow down")
    with EventHubProducerClient.from_connection_string(server.connection_string("busy"), retry_total=0) as producer:
        with pytest.raises(EventDataSendError, match="slow down") as failed:
            producer.send_event(EventData(b"x"), partition_id="0")
        assert "com.microsoft:timeout" in str(failed.value)
    assert server.partition_properties("busy", "0").is_empty


def test_a_count_fails_that_many_operations(server: EventHubServer) -> None:
    server.inject_error("busy", "management", status=503, count=2)
    with EventHubProducerClient.from_connection_string(server.connection_string("busy"), retry_total=0) as producer:
        for _ in range(2):
            with pytest.raises(ConnectError, match="503"):
                producer.get_partition_ids()
        assert producer.get_partition_ids() == ["0", "1"]
