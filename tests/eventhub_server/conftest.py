"""The server's own tests use the shared fixtures."""

from __future__ import annotations

from tests.eventhub_server.fixtures import eventhub_live_connection, eventhub_server

__all__ = ["eventhub_live_connection", "eventhub_server"]
