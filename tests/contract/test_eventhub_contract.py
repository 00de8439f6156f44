"""The exported Source and Sink contract suites, run on the Event Hubs connector.

Against the wire-level test server by default; against a live namespace when
``ODIBI_EVENTHUB_CONNECTION`` is set (see tests/eventhub_server/fixtures.py). Live hubs are not
empty and keep their events: the source starts at the hub's current end (``starting:
{partition: sequence_number}``) and the sink writes under a unique ``message_id_prefix``, so
earlier runs' events count for nothing.
"""

from __future__ import annotations

import uuid

import orjson
import pytest

from odibi_stream.testing.contracts import SinkCase, SinkContract, SourceCase, SourceContract
from tests.eventhub_fixtures import ends, hub_events, send_json, sink_spec, source_spec
from tests.eventhub_server.fixtures import EventHubTarget, eventhub_live_connection, eventhub_server

__all__ = ["eventhub_live_connection", "eventhub_server"]

PARTITIONS = 4
TOTAL = 21


@pytest.fixture
def hub(eventhub_server: EventHubTarget) -> str:
    return eventhub_server.create_hub(f"contract-{uuid.uuid4().hex[:8]}", PARTITIONS)


class TestEventHubSource(SourceContract):
    @pytest.fixture
    def source_case(self, eventhub_server: EventHubTarget, hub: str) -> SourceCase:
        conn = eventhub_server.connection_string(hub)
        spec = source_spec(conn, hub, max_records=4, starting=ends(eventhub_server, hub))

        def add(start: int) -> None:
            send_json(
                eventhub_server, hub, ({"id": i} for i in range(start, start + TOTAL)), PARTITIONS
            )

        return SourceCase(spec=spec, add=add, total=TOTAL)


class TestEventHubSink(SinkContract):
    @pytest.fixture
    def sink_case(self, eventhub_server: EventHubTarget, hub: str) -> SinkCase:
        conn = eventhub_server.connection_string(hub)
        since = ends(eventhub_server, hub)
        prefix = f"contract-{uuid.uuid4().hex[:8]}/"
        spec = sink_spec(conn, hub, message_id_prefix=prefix)

        def rows() -> list[int]:
            ours = [
                e
                for e in hub_events(eventhub_server, hub, since)
                if str(e.message_id).startswith(prefix)
            ]
            return [orjson.loads(e.body)["id"] for e in ours]

        return SinkCase(spec=spec, rows=rows)
