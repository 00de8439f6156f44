"""Retention: trimmed events are gone, the beginning sequence number rises above 0."""

from __future__ import annotations

from azure.eventhub import EventHubConsumerClient

from tests.eventhub_server.fixtures import EventHubTarget, local_server
from tests.eventhub_server.sdk import receive, receive_each, send


def _properties(conn: str, partition: str) -> dict[str, object]:
    with EventHubConsumerClient.from_connection_string(conn, "$Default") as client:
        return dict(client.get_partition_properties(partition))


def test_trim_moves_the_beginning_and_receivers_start_there(eventhub_server: EventHubTarget) -> None:
    server = local_server(eventhub_server, "retention on demand")
    server.create_hub("ret", 2)
    conn = server.connection_string("ret")
    server.publish("ret", [f"e{i}".encode() for i in range(10)], partition="0")
    before = receive(conn, "0", expect=10)
    assert server.trim("ret", "0", 4) == 4
    props = _properties(conn, "0")
    assert props["beginning_sequence_number"] == 4
    assert props["last_enqueued_sequence_number"] == 9
    assert props["is_empty"] is False
    assert props["last_enqueued_offset"] == before[-1].offset  # offsets do not move
    earliest, from_seq, from_offset = receive_each(
        conn,
        "0",
        [
            {"starting_position": "-1"},
            {"starting_position": 1},  # wants 2 next: 2 and 3 are gone
            {"starting_position": before[0].offset, "inclusive": True},
        ],
    )
    for got in (earliest, from_seq, from_offset):
        assert [e.sequence_number for e in got] == list(range(4, 10))
        assert [e.offset for e in got] == [e.offset for e in before[4:]]


def test_trimming_everything_leaves_an_empty_partition_that_keeps_counting(
    eventhub_server: EventHubTarget,
) -> None:
    server = local_server(eventhub_server, "retention on demand")
    server.create_hub("gone", 1)
    conn = server.connection_string("gone")
    server.publish("gone", [b"a", b"b", b"c"], partition="0")
    assert server.trim("gone", "0", 100) == 3
    props = _properties(conn, "0")
    assert (props["is_empty"], props["beginning_sequence_number"], props["last_enqueued_sequence_number"]) == (
        True,
        3,
        2,
    )
    assert receive(conn, "0") == []
    send(conn, [b"d"], partition_id="0")
    (event,) = receive(conn, "0", starting_position="-1", expect=1)
    assert (event.sequence_number, event.body_as_str()) == (3, "d")
    assert _properties(conn, "0")["beginning_sequence_number"] == 3
