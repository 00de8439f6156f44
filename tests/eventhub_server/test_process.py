"""The same server in a child process, driven through RemoteEventHubServer."""

from __future__ import annotations

import pytest
from azure.eventhub import EventData, EventHubProducerClient

from tests.eventhub_server.control import RemoteError, RemoteEventHubServer
from tests.eventhub_server.sdk import receive


def test_remote_server_round_trip() -> None:
    with RemoteEventHubServer(max_frame_size=32768) as server:
        assert server.pid and server.port
        server.create_hub("proc", 2)
        assert server.publish("proc", [b"a", b"b"], partition="1") == [("1", 0), ("1", 1)]
        conn = server.connection_string("proc")
        with EventHubProducerClient.from_connection_string(conn) as producer:
            producer.send_event(EventData(b"c"), partition_id="1")
        assert [e.body_as_str() for e in receive(conn, "1")] == ["a", "b", "c"]
        assert server.trim("proc", "1", 2) == 2
        assert server.partition_properties("proc", "1").beginning_sequence_number == 2
        server.stop()
        server.start()
        assert [e.sequence_number for e in receive(conn, "1")] == [2]
        with pytest.raises(RemoteError, match="could not be found"):
            server.trim("nohub", "0", 1)
        assert server.cpu_seconds() > 0
