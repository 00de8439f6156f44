"""What every connection of one server shares: the data, the security, the faults, the limits."""

from __future__ import annotations

from dataclasses import dataclass

from tests.eventhub_server.auth import Authenticator
from tests.eventhub_server.faults import FaultBook
from tests.eventhub_server.ownership import OwnershipRegistry
from tests.eventhub_server.store import Namespace

MAX_MESSAGE_SIZE = 1024 * 1024
"""The largest event or batch a producer may send (Standard tier: 1 MB)."""


@dataclass(frozen=True)
class ServerContext:
    """Shared state handed to each connection (all members are thread-safe).

    Attributes:
        namespace: the hubs and their events (kept across server stop/start).
        authenticator: policies and accepted bearer tokens.
        faults: injected errors waiting to fire.
        ownership: attached receivers per partition, for owner-level (epoch) rules.
        host: the namespace host name used in entity URIs and error texts.
        max_frame_size: the largest frame the server accepts (and advertises).
        max_message_size: the largest message a producer may send.
    """

    namespace: Namespace
    authenticator: Authenticator
    faults: FaultBook
    ownership: OwnershipRegistry
    host: str
    max_frame_size: int = 65536
    max_message_size: int = MAX_MESSAGE_SIZE
