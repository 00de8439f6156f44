"""Transfers larger than a frame are split on both directions and arrive intact."""

from __future__ import annotations

import os

import pytest
from azure.eventhub import EventData, EventHubProducerClient
from azure.eventhub._pyamqp._decode import decode_frame

from tests.eventhub_server.amqp_frames import TRANSFER, transfer_frames
from tests.eventhub_server.fixtures import EventHubTarget, local_server
from tests.eventhub_server.sdk import body_bytes, receive


def test_a_large_event_crosses_many_frames_both_ways(eventhub_server: EventHubTarget) -> None:
    server = local_server(eventhub_server, "the server's 64 KiB frame limit")
    assert server._ctx.max_frame_size == 65536  # events below are split by the SDK and by us
    server.create_hub("big", 1)
    conn = server.connection_string("big")
    body = os.urandom(900_000)
    with EventHubProducerClient.from_connection_string(conn) as producer:
        producer.send_event(EventData(body), partition_id="0")
        batch = producer.create_batch(partition_id="0")
        for i in range(20):
            batch.add(EventData(bytes([i]) * 30_000))
        producer.send_batch(batch)
    events = receive(conn, "0", expect=21)
    assert body_bytes(events[0]) == body
    assert [body_bytes(e) for e in events[1:]] == [bytes([i]) * 30_000 for i in range(20)]


@pytest.mark.parametrize("size", [0, 1, 400, 999, 5_000])
def test_transfer_frames_split_and_decode_with_the_sdk_codec(size: int) -> None:
    payload = os.urandom(size)
    frames = transfer_frames(3, 7, 42, payload, settled=True, max_frame_size=512)
    assert all(len(f) <= 512 for f in frames)
    rebuilt = b""
    for index, frame in enumerate(frames):
        assert int.from_bytes(frame[:4], "big") == len(frame)
        assert int.from_bytes(frame[6:8], "big") == 3  # channel
        code, fields = decode_frame(memoryview(frame[8:]))
        assert code == TRANSFER and len(fields) == 12  # 11 performative fields + payload
        assert fields[0] == 7 and fields[4] is True
        assert fields[1] == (42 if index == 0 else None)
        assert fields[5] is (index < len(frames) - 1)  # more
        rebuilt += bytes(fields[11])
    assert rebuilt == payload
