"""``$management``: hub and partition properties as the SDK reports them."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
from azure.eventhub import EventHubConsumerClient, EventHubProducerClient
from azure.eventhub.exceptions import AuthenticationError, ConnectError

from tests.eventhub_server.fixtures import EventHubTarget, local_server
from tests.eventhub_server.sdk import send


def _hub(target: EventHubTarget, partitions: int = 4) -> str:
    return target.create_hub(f"mgmt-{uuid.uuid4().hex[:8]}", partitions)


def test_hub_properties(eventhub_server: EventHubTarget) -> None:
    hub = _hub(eventhub_server)
    with EventHubProducerClient.from_connection_string(eventhub_server.connection_string(hub)) as client:
        props = client.get_eventhub_properties()
    assert props["eventhub_name"] == hub
    assert props["partition_ids"][:4] == ["0", "1", "2", "3"]
    created = props["created_at"]
    assert created.tzinfo is not None and created <= datetime.now(timezone.utc)


def test_empty_partition_properties(eventhub_server: EventHubTarget) -> None:
    server = local_server(eventhub_server, "an empty partition")
    server.create_hub("empty", 2)
    with EventHubConsumerClient.from_connection_string(server.connection_string("empty"), "$Default") as client:
        props = client.get_partition_properties("1")
    assert props["id"] == "1" and props["eventhub_name"] == "empty"
    assert props["is_empty"] is True
    assert props["beginning_sequence_number"] == -1
    assert props["last_enqueued_sequence_number"] == -1
    assert props["last_enqueued_offset"] == "-1"
    assert props["last_enqueued_time_utc"] == datetime.fromtimestamp(0, timezone.utc)


def test_partition_properties_follow_sends(eventhub_server: EventHubTarget) -> None:
    hub = _hub(eventhub_server, 2)
    conn = eventhub_server.connection_string(hub)
    with EventHubProducerClient.from_connection_string(conn) as client:
        before = client.get_partition_properties("1")
    send(conn, [f"e{i}".encode() for i in range(5)], partition_id="1")
    with EventHubProducerClient.from_connection_string(conn) as client:
        after = client.get_partition_properties("1")
    assert after["is_empty"] is False
    assert after["last_enqueued_sequence_number"] == before["last_enqueued_sequence_number"] + 5
    assert after["beginning_sequence_number"] >= 0
    assert isinstance(after["last_enqueued_offset"], str) and after["last_enqueued_offset"] != "-1"
    assert after["last_enqueued_offset"] != before["last_enqueued_offset"]
    age = datetime.now(timezone.utc) - after["last_enqueued_time_utc"]
    assert timedelta(seconds=-5) < age < timedelta(minutes=5)


def test_unknown_hub_is_the_sdks_not_found_error(eventhub_server: EventHubTarget) -> None:
    missing = f"nohub-{uuid.uuid4().hex[:8]}"
    conn = eventhub_server.connection_string(missing)
    with (
        EventHubProducerClient.from_connection_string(conn, retry_total=0) as client,
        pytest.raises(AuthenticationError, match="could not be found"),
    ):
        client.get_eventhub_properties()


def test_unknown_partition_is_an_error(eventhub_server: EventHubTarget) -> None:
    hub = _hub(eventhub_server, 2)
    with EventHubProducerClient.from_connection_string(
        eventhub_server.connection_string(hub), retry_total=0
    ) as client, pytest.raises(ConnectError):
        client.get_partition_properties("99")



def test_added_partitions_appear_to_clients(eventhub_server: EventHubTarget) -> None:
    server = local_server(eventhub_server, "adding partitions")
    server.create_hub("grow", 2)
    server.publish("grow", [b"old"], partition="1")
    server.add_partitions("grow", 4)
    conn = server.connection_string("grow")
    with EventHubProducerClient.from_connection_string(conn) as client:
        assert client.get_partition_ids() == ["0", "1", "2", "3"]
    send(conn, [b"new"], partition_id="3")
    assert [e.body for e in server.events("grow", "3")] == [b"new"]
    assert [e.body for e in server.events("grow", "1")] == [b"old"]
