"""The Event Hubs source on the wire: positions, exact ranges, columns, loss, ownership, errors.

Runs against the wire-level test server (``tests/eventhub_server``); tests that need its
controls (retention, faults, adding partitions, a stopped endpoint) skip with the reason on a
live namespace.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import orjson
import pyarrow as pa
import pytest

from odibi_stream.clients.locations import Location
from odibi_stream.config.models import ReadConfig
from odibi_stream.config.project_models import ConnectionConfig
from odibi_stream.connectors.base import Position
from odibi_stream.connectors.eventhub import EventHubSourceSpec
from odibi_stream.connectors.eventhub_reader import EventHubSource
from odibi_stream.engines.pandas import PandasEngine
from odibi_stream.exceptions import ConfigError, SourceError, is_retryable
from tests.eventhub_fixtures import ends, send_json, source_spec
from tests.eventhub_server.fixtures import EventHubTarget, local_server
from tests.eventhub_server.sdk import send

ENGINE = PandasEngine()


@pytest.fixture
def hub(eventhub_server: EventHubTarget) -> str:
    return eventhub_server.create_hub(f"src-{uuid.uuid4().hex[:8]}", 4)


@pytest.fixture
def opened() -> Iterator[list[EventHubSource]]:
    """Sources opened by a test, closed after it."""
    sources: list[EventHubSource] = []
    yield sources
    for src in sources:
        src.close()


def open_source(opened: list[EventHubSource], spec: EventHubSourceSpec) -> EventHubSource:
    src = spec.open()
    opened.append(src)
    return src


def drain(src: EventHubSource, state: Position) -> tuple[pa.Table, Position, int]:
    tables, batches = [], 0
    while (rng := src.plan(state)) is not None:
        tables.append(ENGINE.to_arrow(src.read(ENGINE, rng).frame))
        state = src.fold(state, rng)
        batches += 1
    return (
        (pa.concat_tables(tables, promote_options="default") if tables else pa.table({})),
        state,
        batches,
    )


def ids(table: pa.Table) -> list[int]:
    return sorted(table.column("id").to_pylist()) if table.num_rows else []


def test_starting_latest_and_a_partition_mapping(
    eventhub_server: EventHubTarget, hub: str, opened: list[EventHubSource]
) -> None:
    conn = eventhub_server.connection_string(hub)
    start = ends(eventhub_server, hub)  # a live hub is not empty: count from here
    send_json(eventhub_server, hub, ({"id": i} for i in range(8)), 4)
    latest = open_source(opened, source_spec(conn, hub, starting="latest"))
    state = latest.initial_state()
    assert latest.plan(state) is None
    send_json(eventhub_server, hub, ({"id": i} for i in range(100, 104)), 4)
    assert ids(drain(latest, state)[0]) == [100, 101, 102, 103]
    # {partition: sequence number}: the first event to read; unlisted partitions from the earliest.
    base = ends(eventhub_server, hub)
    positions = {"0": base["0"] - 1, "1": base["1"]}
    if eventhub_server.is_live:  # unlisted partitions start at the earliest: an empty hub's start
        positions.update({p: start[p] for p in start if p not in positions})
    mapping = open_source(opened, source_spec(conn, hub, starting=positions))
    table, _, _ = drain(mapping, mapping.initial_state())
    by_part = {
        p: sorted(table.filter(pa.compute.equal(table["partition"], p))["id"].to_pylist())
        for p in "0123"
    }
    assert by_part["0"] == [100] and by_part["1"] == []
    assert len(by_part["2"]) == 3 and len(by_part["3"]) == 3  # everything the hub holds there


def test_starting_at_a_time(
    eventhub_server: EventHubTarget, hub: str, opened: list[EventHubSource]
) -> None:
    conn = eventhub_server.connection_string(hub)
    send_json(eventhub_server, hub, ({"id": i} for i in range(8)), 4)
    time.sleep(0.05)  # enqueued times are milliseconds: the cut must fall between the two sends
    cut = datetime.now(timezone.utc)
    time.sleep(0.05)
    send_json(eventhub_server, hub, ({"id": i} for i in range(50, 56)), 4)
    src = open_source(opened, source_spec(conn, hub, starting=cut.isoformat()))
    table, _, _ = drain(src, src.initial_state())
    assert ids(table) == list(range(50, 56))
    future = open_source(opened, source_spec(conn, hub, starting="2999-01-01T00:00:00Z"))
    assert future.plan(future.initial_state()) is None


def test_ranges_are_exact_bounded_and_replayable(
    eventhub_server: EventHubTarget, hub: str, opened: list[EventHubSource]
) -> None:
    conn = eventhub_server.connection_string(hub)
    start = ends(eventhub_server, hub)
    send_json(eventhub_server, hub, ({"id": i} for i in range(400)), 4)
    src = open_source(opened, source_spec(conn, hub, max_records=90, starting=start))
    state = src.initial_state()
    first = src.plan(state)
    assert first is not None
    sizes = {p: e - s for p, (s, e) in first["partitions"].items()}
    assert sum(sizes.values()) == 90 and max(sizes.values()) - min(sizes.values()) <= 1
    once = ENGINE.to_arrow(src.read(ENGINE, first).frame)
    second = src.plan(src.fold(state, first))
    assert second is not None
    ENGINE.to_arrow(src.read(ENGINE, second).frame)  # the receivers moved past ``first``
    again = ENGINE.to_arrow(src.read(ENGINE, first).frame)  # a rewind: new receivers at the start
    assert once.equals(again) and once.num_rows == 90
    table, end_state, batches = drain(src, state)
    assert ids(table) == list(range(400)) and batches == 5
    assert src.lag(end_state) == {f"{hub}:{p}": 0 for p in start}
    send_json(eventhub_server, hub, ({"id": i} for i in range(1000, 1006)), 4)
    behind = {"0": 2, "1": 2, "2": 1, "3": 1}
    assert src.lag(end_state) == {f"{hub}:{p}": behind.get(p, 0) for p in start}
    src.close()
    fresh = open_source(opened, source_spec(conn, hub, max_records=90, starting=start))  # a replay
    assert ENGINE.to_arrow(fresh.read(ENGINE, first).frame).equals(once)


def test_columns_and_value_formats(
    eventhub_server: EventHubTarget, hub: str, opened: list[EventHubSource]
) -> None:
    conn = eventhub_server.connection_string(hub)
    start = ends(eventhub_server, hub)
    send(
        conn, [b'{"id": 1, "amount": 2.5}'], partition_id="2", properties={"origin": "test", "n": 7}
    )
    send(conn, [b'{"id": 2, "amount": 3}'], partition_key="customer-9")
    send(conn, [b"\xff not json"], partition_id="1")
    src = open_source(
        opened, source_spec(conn, hub, schema={"id": "long", "amount": "double"}, starting=start)
    )
    rng = src.plan(src.initial_state())
    assert rng is not None
    result = src.read(ENGINE, rng)
    table = ENGINE.to_arrow(result.frame)
    assert table.column_names == [
        "id",
        "amount",
        "partition",
        "sequence_number",
        "offset",
        "enqueued_time",
        "partition_key",
        "properties",
        "system_properties",
    ]
    assert table.schema.field("enqueued_time").type == pa.timestamp("ms", tz="UTC")
    assert table.schema.field("amount").type == pa.float64()
    rows = {r["id"]: r for r in table.to_pylist()}
    assert (
        rows[1]["partition"] == "2"
        and rows[1]["amount"] == 2.5
        and rows[1]["sequence_number"] == start["2"]
    )
    assert orjson.loads(rows[1]["properties"]) == {"origin": "test", "n": 7}
    assert rows[2]["partition_key"] == "customer-9" and rows[2]["properties"] is None
    assert isinstance(rows[2]["offset"], str)
    assert abs((rows[2]["enqueued_time"] - datetime.now(timezone.utc)).total_seconds()) < 120
    assert [(r.source, r.record[-8:]) for r in result.rejects] == [
        (f"{hub}/1/{start['1']}", "not json")
    ]
    text = open_source(opened, source_spec(conn, hub, value_format="string"))
    raw = open_source(opened, source_spec(conn, hub, value_format="bytes"))
    as_text = ENGINE.to_arrow(text.read(ENGINE, rng).frame)
    assert sorted(as_text.column("value").to_pylist()) == [
        '{"id": 1, "amount": 2.5}',
        '{"id": 2, "amount": 3}',
    ]
    as_bytes = ENGINE.to_arrow(raw.read(ENGINE, rng).frame)
    assert b"\xff not json" in as_bytes.column("value").to_pylist()


def test_new_partitions_are_read_from_their_start(
    eventhub_server: EventHubTarget, hub: str, opened: list[EventHubSource]
) -> None:
    server = local_server(eventhub_server, "growing a hub")
    conn = server.connection_string(hub)
    send_json(server, hub, ({"id": i} for i in range(4)), 4)
    src = open_source(opened, source_spec(conn, hub, starting="latest"))
    state = src.initial_state()
    server.add_partitions(hub, 6)
    server.publish(hub, [b'{"id": 40}', b'{"id": 41}'], partition="5")
    table, state, _ = drain(src, state)
    assert ids(table) == [40, 41]
    assert state["next"]["5"] == 2 and state["next"]["4"] == 0


def test_retention_loss_fails_by_default_with_the_exact_count(
    eventhub_server: EventHubTarget, hub: str, opened: list[EventHubSource]
) -> None:
    server = local_server(eventhub_server, "retention on demand")
    conn = server.connection_string(hub)
    server.publish(hub, [orjson.dumps({"id": i}) for i in range(10)], partition="0")
    src = open_source(opened, source_spec(conn, hub))
    state: Position = {"next": {"0": 3}}
    assert server.trim(hub, "0", 7) == 7
    with pytest.raises(SourceError) as failed:
        src.plan(state)
    assert not is_retryable(failed.value)
    assert "events 3..6 of partition 0 (4 events) are no longer in the hub" in str(failed.value)
    assert "skip_and_report" in (failed.value.hint or "")


def test_retention_loss_skipped_and_reported(
    eventhub_server: EventHubTarget,
    hub: str,
    opened: list[EventHubSource],
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = local_server(eventhub_server, "retention on demand")
    conn = server.connection_string(hub)
    server.publish(hub, [orjson.dumps({"id": i}) for i in range(10)], partition="0")
    server.publish(hub, [orjson.dumps({"id": i}) for i in range(10, 15)], partition="1")
    src = open_source(opened, source_spec(conn, hub, on_data_loss="skip_and_report"))
    state: Position = {"next": {"0": 2, "1": 0}}
    server.trim(hub, "0", 6)
    rng = src.plan(state)
    assert rng is not None
    assert rng["data_loss"] == {"0": {"from": 2, "to": 6}} and rng["lost"] == 4
    assert rng["partitions"]["0"] == [6, 10] and src.range_size(rng)["lost"] == 4
    assert "(4 events) are no longer in the hub" in caplog.text
    assert ids(ENGINE.to_arrow(src.read(ENGINE, rng).frame)) == [6, 7, 8, 9, 10, 11, 12, 13, 14]
    # Trimmed between planning and reading: the read skips (and logs) exactly what is gone.
    server.publish(hub, [orjson.dumps({"id": i}) for i in range(20, 30)], partition="2")
    state = src.fold(state, rng)
    later = src.plan(state)
    assert later is not None and later["partitions"]["2"] == [0, 10]
    server.trim(hub, "2", 4)
    caplog.clear()
    assert ids(ENGINE.to_arrow(src.read(ENGINE, later).frame)) == list(range(24, 30))
    assert "events 0..3 of partition 2 (4 events) were trimmed" in caplog.text


def test_a_newer_reader_pre_empts_an_older_one(
    eventhub_server: EventHubTarget, hub: str, opened: list[EventHubSource]
) -> None:
    conn = eventhub_server.connection_string(hub)
    state: Position = {"next": ends(eventhub_server, hub)}
    send_json(eventhub_server, hub, ({"id": i} for i in range(8)), 4)
    older = open_source(opened, source_spec(conn, hub))
    rng = older.plan(state)
    assert rng is not None
    older.read(ENGINE, rng)  # attached, with its open time as owner level
    time.sleep(0.01)
    newer = open_source(opened, source_spec(conn, hub))
    assert newer.owner_level is not None and older.owner_level is not None
    assert newer.owner_level > older.owner_level
    assert ids(ENGINE.to_arrow(newer.read(ENGINE, rng).frame)) == list(range(8))  # pre-empts
    send_json(eventhub_server, hub, ({"id": i} for i in range(8, 16)), 4)
    state = older.fold(state, rng)
    later = older.plan(state)
    assert later is not None
    with pytest.raises(SourceError) as stolen:
        older.read(ENGINE, later)
    assert not is_retryable(stolen.value)
    assert "same consumer group" in (stolen.value.hint or "")
    assert ids(ENGINE.to_arrow(newer.read(ENGINE, later).frame)) == list(range(8, 16))


def test_consumer_group_and_owner_level_options(
    eventhub_server: EventHubTarget, opened: list[EventHubSource]
) -> None:
    hub = eventhub_server.create_hub(f"cg-{uuid.uuid4().hex[:8]}", 2, consumer_groups=["audit"])
    conn = eventhub_server.connection_string(hub)
    send_json(eventhub_server, hub, ({"id": i} for i in range(6)), 2)
    audit = open_source(opened, source_spec(conn, hub, consumer_group="audit", owner_level=None))
    assert audit.owner_level is None
    assert ids(drain(audit, audit.initial_state())[0]) == list(range(6))
    missing = open_source(
        opened, source_spec(conn, hub, consumer_group="nope", read_timeout_seconds=5)
    )
    rng = missing.plan(missing.initial_state())
    assert rng is not None
    with pytest.raises(SourceError) as failed:
        missing.read(ENGINE, rng)
    assert not is_retryable(failed.value) and "could not be found" in str(failed.value)


def test_throttling_is_retryable(
    eventhub_server: EventHubTarget, hub: str, opened: list[EventHubSource]
) -> None:
    server = local_server(eventhub_server, "injected faults")
    conn = server.connection_string(hub)
    send_json(server, hub, ({"id": i} for i in range(8)), 4)
    src = open_source(opened, source_spec(conn, hub))
    server.inject_error(hub, "management", count=2)  # the request and its one retry on a new link
    with pytest.raises(SourceError) as busy:
        src.plan(src.initial_state())
    assert is_retryable(busy.value)
    rng = src.plan(src.initial_state())
    assert rng is not None
    server.inject_error(hub, "receive", partition="1", count=2)  # the attach and its one re-attach
    with pytest.raises(SourceError) as receiving:
        src.read(ENGINE, rng)
    assert is_retryable(receiving.value) and "throttled" in str(receiving.value)
    assert ids(ENGINE.to_arrow(src.read(ENGINE, rng).frame)) == list(range(8))
    server.inject_error(hub, "receive", partition="2")  # one refusal: healed by re-attaching
    fresh = open_source(opened, source_spec(conn, hub))
    assert ids(ENGINE.to_arrow(fresh.read(ENGINE, rng).frame)) == list(range(8))
    assert server.faults.pending() == 0


def test_a_link_that_silently_stops_delivering_is_attached_anew(
    eventhub_server: EventHubTarget, hub: str, opened: list[EventHubSource]
) -> None:
    # The service keeps the link attached but sends nothing more (no error, no detach): the
    # receiver attaches anew after a third of the read timeout instead of failing the batch
    # as an outage after all of it.
    server = local_server(eventhub_server, "injected faults")
    conn = server.connection_string(hub)
    send_json(server, hub, ({"id": i} for i in range(8)), 4)
    src = open_source(opened, source_spec(conn, hub, read_timeout_seconds=9))
    rng = src.plan(src.initial_state())
    assert rng is not None
    server.inject_error(hub, "stall", partition="3")
    started = time.monotonic()
    assert ids(ENGINE.to_arrow(src.read(ENGINE, rng).frame)) == list(range(8))
    assert server.faults.pending() == 0
    assert time.monotonic() - started < 9, "read waited out the whole timeout"


def _credential_location(server: Any, auth: dict[str, Any]) -> Location:
    conn = ConnectionConfig(
        type="eventhub",
        namespace=f"127.0.0.1:{server.port}",
        auth=auth,
        options={"use_tls": "false"},
    )
    return Location(uri="sb://", is_local=False, connection=conn)


def test_auth_modes_and_a_bad_key(
    eventhub_server: EventHubTarget, hub: str, opened: list[EventHubSource]
) -> None:
    from azure.eventhub._pyamqp.utils import generate_sas_token

    server = local_server(eventhub_server, "credential objects against a loopback endpoint")
    send_json(server, hub, ({"id": i} for i in range(4)), 4)
    token = generate_sas_token(
        f"sb://127.0.0.1:{server.port}/{hub}", server.key_name, server.key, int(time.time()) + 600
    )
    for auth in (
        {"shared_access_key": {"name": server.key_name, "key": server.key}},
        {"sas_token": token},
    ):
        read = ReadConfig(connection="hub", format="eventhub", topic=hub)
        src = open_source(
            opened, EventHubSourceSpec("raw", "p", _credential_location(server, auth), read)
        )
        assert ids(drain(src, src.initial_state())[0]) == [0, 1, 2, 3]
    bad = open_source(opened, source_spec(server.connection_string(hub, key="d3Jvbmc="), hub))
    with pytest.raises(SourceError) as refused:
        bad.plan(bad.initial_state())
    assert not is_retryable(refused.value) and "authentication failed" in str(refused.value)
    assert server.key not in str(refused.value)


def test_a_mapping_naming_a_missing_partition(
    eventhub_server: EventHubTarget, hub: str, opened: list[EventHubSource]
) -> None:
    src = open_source(
        opened, source_spec(eventhub_server.connection_string(hub), hub, starting={"9": 0})
    )
    with pytest.raises(ConfigError, match=r"partition\(s\) \['9'\]"):
        src.initial_state()
