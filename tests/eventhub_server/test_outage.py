"""An outage: the server stops mid-stream and comes back on the same port with its data."""

from __future__ import annotations

import threading
import time

import pytest
from azure.eventhub import EventData, EventHubConsumerClient, EventHubProducerClient
from azure.eventhub.exceptions import EventHubError

from tests.eventhub_server.fixtures import EventHubTarget, local_server
from tests.eventhub_server.sdk import receive, seq, wait_for

OUTAGE_SECONDS = 1.0


def test_stop_and_start_mid_stream_keeps_port_and_data(eventhub_server: EventHubTarget) -> None:
    server = local_server(eventhub_server, "an outage on demand")
    server.create_hub("out", 1)
    conn = server.connection_string("out")
    port = server.port
    client = EventHubConsumerClient.from_connection_string(conn, "$Default", retry_total=0)
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
        server.publish("out", [f"{i}".encode() for i in range(50)], partition="0")
        wait_for(lambda: len(got) == 50, 30, "the events before the outage")
        server.stop()
        wait_for(lambda: bool(errors), 30, "the receiver to notice the outage")
        with (
            EventHubProducerClient.from_connection_string(conn, retry_total=0) as producer,
            pytest.raises(EventHubError),
        ):
            producer.send_event(EventData(b"lost"), partition_id="0")
        server.publish("out", [f"{i}".encode() for i in range(50, 80)], partition="0")
        time.sleep(OUTAGE_SECONDS)  # the outage itself, not a synchronisation
    finally:
        client.close()
        worker.join(10)
    server.start()
    assert server.port == port
    with EventHubProducerClient.from_connection_string(conn) as producer:
        producer.send_event(EventData(b"80"), partition_id="0")
    rest = receive(conn, "0", starting_position=seq(got[-1]), expect=31)
    assert [int(e.body_as_str()) for e in got + rest] == list(range(81))
    assert [e.sequence_number for e in got + rest] == list(range(81))
