"""A wire-level Azure Event Hubs test server (AMQP 1.0) for the unmodified ``azure-eventhub`` SDK.

See ``server.py`` (the server and its controls), ``fixtures.py`` (pytest fixtures, local or a
live namespace), ``control.py`` (the same server in a child process) and ``sdk.py`` (SDK
helpers for tests). Nothing in ``odibi_stream`` imports this package.
"""

from tests.eventhub_server.server import EventHubServer

__all__ = ["EventHubServer"]
