"""Owner levels (epochs): who may receive from a partition of a consumer group.

The service's rules, per (hub, consumer group, partition):

* a receiver with owner level E disconnects every receiver with a level <= E and every
  receiver without one (``amqp:link:stolen``);
* a receiver with a level below the highest attached one is refused (``amqp:link:stolen``);
* a receiver without a level is refused while a leveled one is attached, and at most five
  receivers without a level may be attached (``amqp:resource-limit-exceeded``).
"""

from __future__ import annotations

import threading
from typing import Protocol

from tests.eventhub_server.errors import LINK_STOLEN, RESOURCE_LIMIT, ServiceError

ReceiverKey = tuple[str, str, str]
"""(hub, consumer group, partition id), hub and group lower-cased."""
MAX_RECEIVERS_WITHOUT_LEVEL = 5


class Preemptible(Protocol):
    """A receiver link as the registry sees it."""

    @property
    def epoch(self) -> int | None:
        """The owner level the receiver attached with (None: no level)."""
        ...

    def preempt(self, error: ServiceError) -> None:
        """Detach with ``error``; called from any thread, must only schedule the detach."""
        ...


class OwnershipRegistry:
    """The attached receivers of every partition, shared by all connections."""

    def __init__(self) -> None:
        self._receivers: dict[ReceiverKey, list[Preemptible]] = {}
        self._lock = threading.Lock()

    def claim(self, key: ReceiverKey, receiver: Preemptible) -> None:
        """Register ``receiver`` or raise the refusal; pre-empts the receivers it outranks."""
        with self._lock:
            attached = self._receivers.setdefault(key, [])
            levels = [r.epoch for r in attached if r.epoch is not None]
            top = max(levels) if levels else None
            if receiver.epoch is None:
                _check_without_level(top, len(attached))
                attached.append(receiver)
                return
            if top is not None and receiver.epoch < top:
                raise ServiceError(
                    LINK_STOLEN,
                    f"Receiver 'nil' with higher epoch of '{top}' already exists. Receiver 'nil' with "
                    f"epoch {receiver.epoch} cannot be created. Make sure you are creating receiver with "
                    "increasing epoch value to ensure connectivity, or ensure all old epoch receivers "
                    "are closed or disconnected.",
                )
            losers = list(attached)
            attached[:] = [receiver]
        for loser in losers:
            loser.preempt(
                ServiceError(
                    LINK_STOLEN,
                    f"New receiver 'nil' with higher epoch of '{receiver.epoch}' is created hence "
                    f"current receiver 'nil' with epoch '{loser.epoch}' is getting disconnected. If you "
                    "are recreating the receiver, make sure a higher epoch is used.",
                )
            )

    def release(self, key: ReceiverKey, receiver: Preemptible) -> None:
        """Forget ``receiver`` (detached, pre-empted or its connection closed)."""
        with self._lock:
            attached = self._receivers.get(key, [])
            if receiver in attached:
                attached.remove(receiver)

    def attached(self, key: ReceiverKey) -> int:
        """How many receivers are attached to ``key`` now."""
        with self._lock:
            return len(self._receivers.get(key, []))


def _check_without_level(top: int | None, count: int) -> None:
    if top is not None:
        raise ServiceError(
            LINK_STOLEN,
            f"At least one receiver for the endpoint is created with epoch of '{top}', and so "
            "non-epoch receiver is not allowed. Either reconnect with a higher epoch, or make sure "
            "all epoch receivers are closed or disconnected.",
        )
    if count >= MAX_RECEIVERS_WITHOUT_LEVEL:
        raise ServiceError(
            RESOURCE_LIMIT,
            "Exceeded the maximum number of allowed receivers per partition in a consumer group "
            f"which is {MAX_RECEIVERS_WITHOUT_LEVEL}.",
        )
