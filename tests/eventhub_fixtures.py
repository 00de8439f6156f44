"""Helpers for tests of the Event Hubs connector, on the test server or a live namespace.

The namespace comes from the ``eventhub_server`` fixture (``tests/eventhub_server/fixtures.py``:
the local wire-level server, or ``$ODIBI_EVENTHUB_CONNECTION``). Everything here goes through
the unmodified SDK or the connector's public specs, so the same tests run on both.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from azure.eventhub import EventHubConsumerClient

from odibi_stream.clients.locations import Location
from odibi_stream.config.models import IncrementalConfig, ReadConfig, WriteConfig
from odibi_stream.config.project_models import ConnectionConfig
from odibi_stream.connectors.eventhub import EventHubSinkSpec, EventHubSourceSpec
from tests.eventhub_server.control import RemoteEventHubServer
from tests.eventhub_server.fixtures import EventHubTarget
from tests.eventhub_server.sdk import receive, send
from tests.eventhub_server.server import EventHubServer


def location(conn_str: str, **fields: Any) -> Location:
    """The Location an ``eventhub`` connection with this connection string resolves to."""
    conn = ConnectionConfig(type="eventhub", auth={"connection_string": conn_str}, **fields)
    return Location(uri=f"sb://{conn.namespace or ''}", is_local=False, connection=conn)


def source_spec(
    conn_str: str, hub: str, *, max_records: int | None = None, node: str = "raw", **options: Any
) -> EventHubSourceSpec:
    """A source spec reading ``hub`` with the given read options."""
    inc = IncrementalConfig(mode="offsets", max_records_per_batch=max_records)
    read = ReadConfig(
        connection="hub", format="eventhub", topic=hub, options=options, incremental=inc
    )
    return EventHubSourceSpec(node, "p", location(conn_str), read)


def sink_spec(conn_str: str, hub: str, *, node: str = "out", **options: Any) -> EventHubSinkSpec:
    """A sink spec writing ``hub`` with the given write options."""
    write = WriteConfig(connection="hub", format="eventhub", topic=hub, options=options)
    return EventHubSinkSpec(node, "p", location(conn_str), write)


def send_json(
    target: EventHubTarget, hub: str, rows: Iterable[Mapping[str, Any]], partitions: int
) -> int:
    """Send JSON rows round robin over the first ``partitions`` partitions.

    On the test server straight into its store (fast); on a live namespace through the SDK.
    """
    per: dict[str, list[bytes]] = {}
    for i, row in enumerate(rows):
        per.setdefault(str(i % partitions), []).append(orjson.dumps(row))
    if isinstance(target, (EventHubServer, RemoteEventHubServer)):
        return sum(len(target.publish(hub, bodies, partition=p)) for p, bodies in per.items())
    conn = target.connection_string(hub)
    return sum(send(conn, bodies, partition_id=p) for p, bodies in per.items())


def ends(target: EventHubTarget, hub: str) -> dict[str, int]:
    """Next sequence number to be assigned, per partition (where new events will start)."""
    if isinstance(target, (EventHubServer, RemoteEventHubServer)):
        parts = (
            len(target.namespace.hub(hub).partitions)
            if isinstance(target, EventHubServer)
            else None
        )
        ids = (
            [str(i) for i in range(parts)]
            if parts is not None
            else _ids(target.connection_string(hub))
        )
        return {
            p: target.partition_properties(hub, p).last_enqueued_sequence_number + 1 for p in ids
        }
    with EventHubConsumerClient.from_connection_string(
        target.connection_string(hub), "$Default"
    ) as client:
        out = {}
        for pid in client.get_partition_ids():
            props = client.get_partition_properties(pid)
            out[pid] = max(int(props["last_enqueued_sequence_number"]) + 1, 0)
        return out


def _ids(conn_str: str) -> list[str]:
    with EventHubConsumerClient.from_connection_string(conn_str, "$Default") as client:
        return list(client.get_partition_ids())


@dataclass(frozen=True)
class HubEvent:
    """An event as stored in a hub (what a receiver gets), for assertions."""

    partition: str
    sequence_number: int
    message_id: str | None
    body: bytes
    properties: dict[str, Any]
    partition_key: str | None


def hub_events(target: EventHubTarget, hub: str, since: Mapping[str, int]) -> list[HubEvent]:
    """Every event from ``since[partition]`` (inclusive) to the end of each partition."""
    out: list[HubEvent] = []
    if isinstance(target, (EventHubServer, RemoteEventHubServer)):
        for pid, seq in sorted(since.items()):
            for e in target.events(hub, pid):
                if e.sequence_number >= seq:
                    out.append(
                        HubEvent(
                            pid,
                            e.sequence_number,
                            e.message_id,
                            e.body,
                            e.properties,
                            e.partition_key,
                        )
                    )
        return out
    conn = target.connection_string(hub)
    for pid, seq in sorted(since.items()):
        for e in receive(conn, pid, starting_position=seq, inclusive=True, idle_seconds=0.5):
            props = {
                (k.decode() if isinstance(k, bytes) else str(k)): v
                for k, v in (e.properties or {}).items()
            }
            key = e.partition_key
            out.append(
                HubEvent(
                    pid,
                    int(e.sequence_number or 0),
                    e.message_id,
                    b"".join(e.body),
                    props,
                    key.decode() if isinstance(key, bytes) else key,
                )
            )
    return out


def write_eventhub_project(
    root: Path,
    hub: str,
    *,
    max_records: int = 1000,
    sql: str = "SELECT id, amount, kind, partition, sequence_number FROM raw",
    options: str = "{starting: earliest, schema: {id: long, amount: long, kind: string}}",
    trigger: str = "{eventhub: {poll_seconds: 0.2}}",
    extra_odibi: str = "",
) -> Path:
    """An Event Hubs → SQL → Delta project (dead letters to Delta).

    The connection string is the secret ``EH_CONN``: set it in the environment (the CLI
    subprocesses inherit it), e.g. ``monkeypatch.setenv("EH_CONN", conn_str)``.
    """
    from tests.conftest import write_project

    odibi = (
        "project: eh\n"
        "checkpoint: {root: ./checkpoints}\n"
        "runtime: {lease_ttl_seconds: 1}\n"
        "connections:\n"
        '  hub: {type: eventhub, auth: {connection_string: "${secret:EH_CONN}"}}\n'
        "  lake: {type: local, base_path: ./data}\n"
        f"{extra_odibi}"
    )
    pipeline = f"""\
        pipeline: eh2delta
        trigger: {trigger}
        on_error: dead_letter
        dead_letter: {{connection: lake, path: dead_letter, format: delta}}
        nodes:
          - name: raw
            read: {{connection: hub, format: eventhub, topic: {hub}, options: {options},
                   incremental: {{mode: offsets, max_records_per_batch: {max_records}}}}}
          - name: clean
            depends_on: [raw]
            transform: {{sql: "{sql}"}}
            write: {{connection: lake, format: delta, path: out}}
        """
    return write_project(root, {"eh2delta": pipeline}, odibi_yaml=odibi)
