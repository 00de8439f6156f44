"""The Event Hubs sink on the wire: partitioning, size limits, message ids, replay after a crash."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator

import orjson
import pyarrow as pa
import pytest

from odibi_stream.connectors.base import BatchKey
from odibi_stream.connectors.eventhub_writer import EventHubSink
from odibi_stream.engines.pandas import PandasEngine
from odibi_stream.exceptions import SinkError, is_retryable
from tests.eventhub_fixtures import ends, hub_events, sink_spec
from tests.eventhub_server.fixtures import EventHubTarget, local_server
from tests.eventhub_server.server import EventHubServer

ENGINE = PandasEngine()


@pytest.fixture
def hub(eventhub_server: EventHubTarget) -> str:
    return eventhub_server.create_hub(f"sink-{uuid.uuid4().hex[:8]}", 4)


@pytest.fixture
def opened() -> Iterator[list[EventHubSink]]:
    sinks: list[EventHubSink] = []
    yield sinks
    for sink in sinks:
        sink.close()


def frame(ids: list[int], **extra: list[object]) -> pa.Table:
    return pa.table({"id": ids, "name": [f"n{i}" for i in ids], **extra})


def test_events_carry_ids_properties_and_keys(
    eventhub_server: EventHubTarget, hub: str, opened: list[EventHubSink]
) -> None:
    conn = eventhub_server.connection_string(hub)
    since = ends(eventhub_server, hub)
    prefix = f"t{uuid.uuid4().hex[:6]}/"
    sink = sink_spec(
        conn, hub, key_column="customer", value_columns=["id", "name"], message_id_prefix=prefix
    ).open()
    opened.append(sink)
    ids = list(range(40))
    customers = [f"c{i % 5}" for i in ids]
    result = sink.write(ENGINE, frame(ids, customer=customers), BatchKey("p", "out", 7))
    assert result.rows == 40 and not result.skipped
    events = [
        e for e in hub_events(eventhub_server, hub, since) if str(e.message_id).startswith(prefix)
    ]
    assert sorted(orjson.loads(e.body)["id"] for e in events) == ids
    for e in events:
        body = orjson.loads(e.body)
        assert set(body) == {"id", "name"}
        assert e.message_id == f"{prefix}p/out/7/{body['id']}"
        assert e.properties["odibi-batch"] == 7 and e.properties["odibi-count"] == 40
        assert e.partition_key == f"c{body['id'] % 5}"
    by_key = {k: {e.partition for e in events if e.partition_key == k} for k in set(customers)}
    assert all(len(parts) == 1 for parts in by_key.values()), by_key  # one key, one partition
    # Without a key: round robin, every partition gets its share.
    since = ends(eventhub_server, hub)
    round_robin = sink_spec(conn, hub, message_id_prefix=prefix).open()
    opened.append(round_robin)
    assert round_robin.already_written(BatchKey("p", "out", 7))  # found by its scan
    round_robin.write(ENGINE, frame(list(range(100, 140))), BatchKey("p", "out", 8))
    spread = Counter(
        e.partition
        for e in hub_events(eventhub_server, hub, since)
        if str(e.message_id).startswith(prefix)
    )
    assert sum(spread.values()) == 40 and max(spread.values()) - min(spread.values()) <= 1
    assert len(spread) == min(40, len(since))  # every partition got its share


def test_batches_split_at_the_size_limit_and_an_oversized_row_is_terminal(
    eventhub_server: EventHubTarget, opened: list[EventHubSink]
) -> None:
    server = local_server(eventhub_server, "a small message size limit")
    small = EventHubServer(max_message_size=64 * 1024).start()
    try:
        hub = small.create_hub("big", 1)
        sink = sink_spec(small.connection_string(hub), hub).open()
        opened.append(sink)
        rows = frame(list(range(30)), pad=["x" * 5000] * 30)  # ~150 KB: three sends at most 64 KB
        assert sink.write(ENGINE, rows, BatchKey("p", "out", 0)).rows == 30
        assert [orjson.loads(e.body)["id"] for e in small.events(hub, "0")] == list(range(30))
        with pytest.raises(SinkError) as too_big:
            sink.write(ENGINE, frame([99], pad=["y" * 70_000]), BatchKey("p", "out", 1))
        assert not is_retryable(too_big.value) and "event limit" in str(too_big.value)
    finally:
        small.stop()
    assert server.is_live is False


def test_a_crash_mid_batch_is_completed_by_the_replay_without_duplicates(
    eventhub_server: EventHubTarget, hub: str, opened: list[EventHubSink]
) -> None:
    server = local_server(eventhub_server, "a send failing on one partition")
    conn = server.connection_string(hub)
    first = sink_spec(conn, hub).open()
    opened.append(first)
    server.inject_error(hub, "send", partition="2")  # healed in the write: re-scan, send the rest
    # partitions 2 and 3 (5 rows each) were still to send after the failure
    assert first.write(ENGINE, frame(list(range(20))), BatchKey("p", "out", 0)).rows == 10
    server.inject_error(
        hub, "send", partition="2", count=2
    )  # partitions 0 and 1 land, 2 fails twice
    with pytest.raises(SinkError) as failed:
        first.write(ENGINE, frame(list(range(100, 140))), BatchKey("p", "out", 1))
    assert is_retryable(failed.value)
    landed = [e for p in "0123" for e in server.events(hub, p) if e.properties["odibi-batch"] == 1]
    assert 0 < len(landed) < 40  # a partial batch is in the hub
    first.close()
    replay = sink_spec(conn, hub).open()  # a new process after the crash
    opened.append(replay)
    assert replay.already_written(BatchKey("p", "out", 0))
    assert not replay.already_written(BatchKey("p", "out", 1))
    result = replay.write(ENGINE, frame(list(range(100, 140))), BatchKey("p", "out", 1))
    assert result.rows == 40 - len(landed) and result.detail["resumed"]
    ids = Counter(orjson.loads(e.body)["id"] for p in "0123" for e in server.events(hub, p))
    assert ids == Counter(list(range(20)) + list(range(100, 140)))
    assert replay.already_written(BatchKey("p", "out", 1))
    assert replay.write(ENGINE, frame(list(range(100, 140))), BatchKey("p", "out", 1)).skipped


def test_the_scan_finds_our_batch_among_other_writers_events(
    eventhub_server: EventHubTarget, hub: str, opened: list[EventHubSink]
) -> None:
    server = local_server(eventhub_server, "bulk foreign events")
    conn = server.connection_string(hub)
    sink = sink_spec(conn, hub).open()
    opened.append(sink)
    sink.write(ENGINE, frame(list(range(8))), BatchKey("p", "out", 3))
    for p in "0123":  # 1,700 events of others after ours: the scan reads back past them
        server.publish(hub, [b'{"other": true}'] * 1700, partition=p)
    fresh = sink_spec(conn, hub).open()
    opened.append(fresh)
    assert fresh.already_written(BatchKey("p", "out", 3))
    assert not fresh.already_written(BatchKey("p", "out", 4))
    assert not fresh.already_written(BatchKey("p", "other", 0))


def test_an_outage_is_retryable(
    eventhub_server: EventHubTarget, hub: str, opened: list[EventHubSink]
) -> None:
    server = local_server(eventhub_server, "an outage on demand")
    sink = sink_spec(server.connection_string(hub), hub, read_timeout_seconds=5).open()
    opened.append(sink)
    sink.write(ENGINE, frame([1]), BatchKey("p", "out", 0))
    server.stop()
    try:
        with pytest.raises(SinkError) as down:
            sink.write(ENGINE, frame([2]), BatchKey("p", "out", 1))
        assert is_retryable(down.value)
    finally:
        server.start()
    sink.write(ENGINE, frame([2]), BatchKey("p", "out", 1))
    assert sorted(orjson.loads(e.body)["id"] for p in "0123" for e in server.events(hub, p)) == [
        1,
        2,
    ]
