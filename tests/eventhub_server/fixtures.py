"""Pytest fixtures: an Event Hubs namespace for tests, local by default, live on request.

``eventhub_server`` (function scope) yields an object with this API (see
:class:`EventHubTarget`)::

    connection_string(hub=None, *, key=None, key_name=None) -> str
    create_hub(name, partitions=4, *, consumer_groups=()) -> str       # the hub name to use
    trim(hub, partition, before_seq) -> int                             # local only
    inject_error(hub, operation, *, partition=None, condition=..., count=1, ...) -> None  # local only
    stop() / start()                                                    # local only
    is_live: bool

Locally it is a fresh :class:`~tests.eventhub_server.server.EventHubServer` on a free
loopback port, stopped after the test. When ``ODIBI_EVENTHUB_CONNECTION`` holds a real
namespace's connection string (and ``ODIBI_EVENTHUB_HUB`` or its ``EntityPath`` names an
existing hub), the same tests run against it: ``create_hub`` returns that hub (skipping when
it has fewer partitions than asked for), and the server-only controls skip the test with
the reason. Tests meant to run live must not assume empty partitions.

Use from any test folder: ``from tests.eventhub_server.fixtures import eventhub_server`` in
that folder's ``conftest.py``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any, NoReturn, Protocol

import pytest

from tests.eventhub_server.errors import SERVER_BUSY
from tests.eventhub_server.faults import Operation
from tests.eventhub_server.server import EventHubServer

ENV_CONNECTION = "ODIBI_EVENTHUB_CONNECTION"
ENV_HUB = "ODIBI_EVENTHUB_HUB"


class EventHubTarget(Protocol):
    """What tests get from ``eventhub_server``: the test server or a live namespace."""

    is_live: bool

    def connection_string(
        self, hub: str | None = None, *, key: str | None = None, key_name: str | None = None
    ) -> str:
        """A connection string (with ``EntityPath=hub`` when given)."""
        ...

    def create_hub(self, name: str, partitions: int = 4, *, consumer_groups: Sequence[str] = ()) -> str:
        """An event hub with at least ``partitions`` partitions; returns the name to use."""
        ...

    def trim(self, hub: str, partition: str, before_seq: int) -> int:
        """Drop events below ``before_seq`` (retention). Local only."""
        ...

    def inject_error(
        self,
        hub: str,
        operation: Operation,
        *,
        partition: str | None = None,
        condition: str = SERVER_BUSY,
        description: str | None = None,
        status: int = 503,
        count: int = 1,
    ) -> None:
        """Fail the next operations of a kind (see ``faults.py``). Local only."""
        ...

    def stop(self) -> None:
        """Take the endpoint down (data kept). Local only."""
        ...

    def start(self) -> Any:
        """Bring it back on the same port. Local only."""
        ...


def _connection_fields(conn_str: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for part in conn_str.split(";"):
        if "=" in part:
            key, _, value = part.partition("=")
            fields[key.strip()] = value.strip()
    return fields


class LiveNamespace:
    """A real Event Hubs namespace behind the :class:`EventHubTarget` API.

    Args:
        conn_str: a namespace or hub connection string (SharedAccessKey or SAS).
        hub: the existing hub tests use (default: the connection string's ``EntityPath``).
    """

    is_live = True

    def __init__(self, conn_str: str, hub: str | None = None) -> None:
        self._fields = _connection_fields(conn_str)
        self.hub = hub or self._fields.get("EntityPath")
        if not self.hub:
            raise pytest.UsageError(f"{ENV_CONNECTION} needs an EntityPath, or set {ENV_HUB}")

    def connection_string(
        self, hub: str | None = None, *, key: str | None = None, key_name: str | None = None
    ) -> str:
        fields = dict(self._fields)
        fields["EntityPath"] = hub or self.hub or ""
        if key is not None:
            fields["SharedAccessKey"] = key
        if key_name is not None:
            fields["SharedAccessKeyName"] = key_name
        return ";".join(f"{k}={v}" for k, v in fields.items())

    def create_hub(self, name: str, partitions: int = 4, *, consumer_groups: Sequence[str] = ()) -> str:
        from azure.eventhub import EventHubProducerClient

        if consumer_groups:
            pytest.skip("live namespace: tests cannot create consumer groups")
        with EventHubProducerClient.from_connection_string(self.connection_string()) as client:
            available = len(client.get_partition_ids())
        if available < partitions:
            pytest.skip(f"live hub {self.hub!r} has {available} partitions; the test needs {partitions}")
        assert self.hub is not None
        return self.hub

    def trim(self, hub: str, partition: str, before_seq: int) -> int:
        _server_only("trim (retention on demand)")

    def inject_error(
        self,
        hub: str,
        operation: Operation,
        *,
        partition: str | None = None,
        condition: str = SERVER_BUSY,
        description: str | None = None,
        status: int = 503,
        count: int = 1,
    ) -> None:
        _server_only("inject_error (faults on demand)")

    def stop(self) -> None:
        _server_only("stop (an outage on demand)")

    def start(self) -> Any:
        _server_only("start")

    def __getattr__(self, name: str) -> Any:
        # Any other server-side control (publish, partition_properties, ...) is local only.
        if name.startswith("_"):
            raise AttributeError(name)
        _server_only(name)


def _server_only(what: str) -> NoReturn:
    pytest.skip(f"{what} needs the local test server; {ENV_CONNECTION} points at a live namespace")


def local_server(target: EventHubTarget, why: str) -> EventHubServer:
    """``target`` as the local server, or skip (printing ``why``) against a live namespace."""
    if not isinstance(target, EventHubServer):
        pytest.skip(f"{why} needs the local test server; {ENV_CONNECTION} points at a live namespace")
    return target


@pytest.fixture(scope="session")
def eventhub_live_connection() -> str | None:
    """``$ODIBI_EVENTHUB_CONNECTION`` (a live namespace for the whole session) or None."""
    return os.environ.get(ENV_CONNECTION) or None


@pytest.fixture
def eventhub_server(eventhub_live_connection: str | None) -> Iterator[EventHubTarget]:
    """A fresh local Event Hubs server (or the live namespace, see the module docstring)."""
    if eventhub_live_connection:
        yield LiveNamespace(eventhub_live_connection, os.environ.get(ENV_HUB))
        return
    server = EventHubServer().start()
    try:
        yield server
    finally:
        server.stop()
