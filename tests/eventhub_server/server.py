"""``EventHubServer``: an Event Hubs namespace on a loopback port for the unmodified SDK.

Usage::

    with EventHubServer() as server:
        server.create_hub("telemetry", partitions=4)
        conn = server.connection_string("telemetry")   # UseDevelopmentEmulator=true: plain AMQP
        producer = EventHubProducerClient.from_connection_string(conn)

Lifecycle: :meth:`start` binds (port 0 picks a free one, kept for later starts) and accepts
connections, one thread each; :meth:`stop` closes the listener and drops every connection
without a close frame, like an outage; the hubs and their events survive, and a later
:meth:`start` listens on the same port. The control methods (hubs, retention, faults, seeding)
work whether the server is started or not, from any thread.
"""

from __future__ import annotations

import base64
import logging
import secrets
import select
import socket
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from tests.eventhub_server.amqp_connection import Connection
from tests.eventhub_server.amqp_message import StoredEvent, decode_stored, seed_event
from tests.eventhub_server.auth import DEFAULT_POLICY, LISTEN, MANAGE, SEND, Authenticator, Policy
from tests.eventhub_server.context import MAX_MESSAGE_SIZE, ServerContext
from tests.eventhub_server.errors import SERVER_BUSY
from tests.eventhub_server.faults import FaultBook, Operation
from tests.eventhub_server.ownership import OwnershipRegistry
from tests.eventhub_server.store import DEFAULT_CONSUMER_GROUP, Namespace, PartitionProperties

log = logging.getLogger(__name__)
LOOPBACK = "127.0.0.1"


class EventHubServer:
    """A wire-level Event Hubs endpoint (AMQP 1.0, no TLS) backed by in-memory partitions.

    Args:
        port: the port to listen on (0: a free one, chosen at the first start and reused).
        key_name: the shared access policy name in connection strings.
        key: its key (default: random per server).
        max_frame_size: the largest AMQP frame either side sends (events above it are split).
        max_message_size: the largest event or batch a producer may send.
    """

    is_live = False
    """Always False: tests branch on it to skip what only a live namespace can do."""

    def __init__(
        self,
        *,
        port: int = 0,
        key_name: str = DEFAULT_POLICY,
        key: str | None = None,
        max_frame_size: int = 65536,
        max_message_size: int = MAX_MESSAGE_SIZE,
    ) -> None:
        self.key_name = key_name
        self.key = key or base64.b64encode(secrets.token_bytes(32)).decode()
        self.namespace = Namespace()
        self.faults = FaultBook()
        self.authenticator = Authenticator.with_policies([Policy(key_name, self.key)])
        self._ctx = ServerContext(
            namespace=self.namespace,
            authenticator=self.authenticator,
            faults=self.faults,
            ownership=OwnershipRegistry(),
            host=LOOPBACK,
            max_frame_size=max_frame_size,
            max_message_size=max_message_size,
        )
        self._port = port
        self._listener: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self._stop_r: socket.socket | None = None
        self._stop_w: socket.socket | None = None
        self._connections: set[Connection] = set()
        self._lock = threading.Lock()

    # -- lifecycle -------------------------------------------------------------------------
    @property
    def port(self) -> int:
        """The listening port (0 before the first start when none was given)."""
        return self._port

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._listener is not None

    def start(self) -> EventHubServer:
        """Listen (idempotent); after a stop, on the same port with the same data."""
        if self._listener is not None:
            return self
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((LOOPBACK, self._port))
        listener.listen(64)
        self._port = listener.getsockname()[1]
        self._ctx = replace(self._ctx, host=f"{LOOPBACK}:{self._port}")
        self._listener = listener
        self._stop_r, self._stop_w = socket.socketpair()
        self._accept_thread = threading.Thread(
            target=self._accept_loop, args=(listener, self._stop_r), name="eventhub-test-accept", daemon=True
        )
        self._accept_thread.start()
        log.debug("event hubs test server listening on %s:%d", LOOPBACK, self._port)
        return self

    def stop(self) -> None:
        """Stop listening and drop every connection (no close frames); keep all data."""
        if self._listener is None:
            return
        assert self._stop_w is not None and self._accept_thread is not None
        self._stop_w.send(b"\0")
        self._accept_thread.join(10)
        for sock in (self._listener, self._stop_r, self._stop_w):
            if sock is not None:
                sock.close()
        self._listener = self._stop_r = self._stop_w = None
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            conn.abort()
        for conn in connections:
            conn.thread.join(10)
        log.debug("event hubs test server on port %d stopped", self._port)

    def __enter__(self) -> EventHubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _accept_loop(self, listener: socket.socket, stop: socket.socket) -> None:
        while True:
            readable, _, _ = select.select([listener, stop], [], [])
            if stop in readable:
                return
            try:
                sock, _addr = listener.accept()
            except OSError:
                return
            conn = Connection(sock, self._ctx, self._forget)
            with self._lock:
                self._connections.add(conn)
            conn.start()

    def _forget(self, conn: Connection) -> None:
        with self._lock:
            self._connections.discard(conn)

    def _wake_all(self) -> None:
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            conn.wake()

    # -- addressing ------------------------------------------------------------------------
    def connection_string(
        self, hub: str | None = None, *, key: str | None = None, key_name: str | None = None
    ) -> str:
        """A connection string for this server (``UseDevelopmentEmulator=true``: plain AMQP).

        Args:
            hub: added as ``EntityPath`` when given.
            key: a different key (e.g. a wrong one, to test authentication failures).
            key_name: a different policy name.
        """
        if not self._port:
            raise RuntimeError("start the server first: its port is not chosen yet")
        return format_connection_string(self._port, key_name or self.key_name, key or self.key, hub)

    # -- control ---------------------------------------------------------------------------
    def create_hub(self, name: str, partitions: int = 4, *, consumer_groups: Sequence[str] = ()) -> str:
        """Create an event hub with partitions "0".."n-1" (plus ``$Default``); returns its name."""
        self.namespace.create_hub(name, partitions, consumer_groups)
        return name

    def trim(self, hub: str, partition: str, before_seq: int) -> int:
        """Drop the events of a partition below ``before_seq`` (retention); returns how many."""
        return self.namespace.hub(hub).partition(partition).trim(before_seq)

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
        """Fail the next ``count`` sends / receives / management requests on ``hub``.

        See :mod:`tests.eventhub_server.faults` for what each operation does on the wire.
        """
        self.faults.arm(
            operation,
            hub,
            partition=partition,
            condition=condition,
            description=description,
            status=status,
            count=count,
        )
        self._wake_all()  # an attached, waiting receiver meets the fault at its next delivery

    def publish(
        self,
        hub: str,
        bodies: Iterable[bytes | str],
        *,
        partition: str | None = None,
        partition_key: str | None = None,
        properties: Mapping[str, Any] | None = None,
    ) -> list[tuple[str, int]]:
        """Append events directly (test data, no AMQP); returns (partition, sequence number).

        Without ``partition`` each event is routed as a producer's would be (key hash, else
        round robin, one event at a time).
        """
        target = self.namespace.hub(hub)
        events = [seed_event(b, partition_key=partition_key, properties=properties) for b in bodies]
        if partition is not None:
            part = target.partition(partition)
            return [(part.id, seq) for seq in part.append(events)]
        out: list[tuple[str, int]] = []
        for event in events:
            part = target.route(partition_key)
            out += [(part.id, seq) for seq in part.append([event])]
        return out

    def add_partitions(self, hub: str, total: int) -> None:
        """Grow ``hub`` to ``total`` partitions (clients see them in the hub's properties)."""
        self.namespace.hub(hub).add_partitions(total)

    def events(self, hub: str, partition: str) -> list[StoredEvent]:
        """The events a partition still holds, decoded (fast assertions without a receiver)."""
        stored = self.namespace.hub(hub).partition(partition).stored()
        return [decode_stored(payload) for payload in stored.payloads]

    def partition_properties(self, hub: str, partition: str) -> PartitionProperties:
        """What ``$management`` would report for the partition."""
        return self.namespace.hub(hub).partition(partition).properties()

    def attached_receivers(self, hub: str, partition: str, consumer_group: str = DEFAULT_CONSUMER_GROUP) -> int:
        """How many receivers are attached to the partition in ``consumer_group`` now."""
        return self._ctx.ownership.attached((hub.lower(), consumer_group.lower(), partition))

    def add_policy(self, name: str, key: str, rights: Iterable[str] = (LISTEN, SEND, MANAGE)) -> None:
        """Another shared access policy (e.g. listen-only) for connection strings."""
        self.authenticator.policies[name] = Policy(name, key, frozenset(rights))

    def register_bearer_token(
        self, token: str, rights: Iterable[str] = (LISTEN, SEND, MANAGE), ttl_seconds: float = 3600
    ) -> None:
        """Accept ``token`` from a ``TokenCredential`` (token type ``jwt``) for ``ttl_seconds``."""
        self.authenticator.register_bearer_token(token, rights, ttl_seconds)


def format_connection_string(port: int, key_name: str, key: str, hub: str | None = None) -> str:
    """The connection string of a loopback test server (``UseDevelopmentEmulator=true``)."""
    text = (
        f"Endpoint=sb://{LOOPBACK}:{port}/;SharedAccessKeyName={key_name};"
        f"SharedAccessKey={key};UseDevelopmentEmulator=true"
    )
    return f"{text};EntityPath={hub}" if hub else text
