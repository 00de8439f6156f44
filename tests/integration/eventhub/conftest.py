"""Event Hubs connector tests: the wire-level test server, or a live namespace (see fixtures)."""

from __future__ import annotations

from tests.eventhub_server.fixtures import eventhub_live_connection, eventhub_server

__all__ = ["eventhub_live_connection", "eventhub_server"]
