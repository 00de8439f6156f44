"""Errors injected on demand: the next N operations of a kind fail with a chosen condition.

Operations:

* ``send``: the next deliveries from a producer to ``hub`` (``partition``: only those routed
  there) are rejected with the condition (the SDK raises ``EventDataSendError`` once its
  retries are spent; ``com.microsoft:server-busy`` is what the service uses when throttling).
* ``receive``: the next receiver attach on ``hub``/``partition``, or the next delivery to an
  attached receiver, detaches the link with the condition.
* ``management``: the next ``$management`` request about ``hub`` answers with ``status``.
* ``stall``: the next delivery to an attached receiver is withheld, and the link silently
  delivers nothing more while it stays attached (credit lost somewhere between client and
  service: no error, no detach). The condition is unused.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Literal

from tests.eventhub_server.errors import SERVER_BUSY, ServiceError

Operation = Literal["send", "receive", "management", "stall"]
OPERATIONS: tuple[Operation, ...] = ("send", "receive", "management", "stall")


@dataclass
class Fault:
    """One armed fault: fails ``remaining`` more matching operations."""

    operation: Operation
    hub: str
    partition: str | None
    condition: str
    description: str
    status: int
    remaining: int

    def matches(self, operation: str, hub: str, partition: str | None) -> bool:
        """True when this fault applies to the operation about to run."""
        return (
            self.remaining > 0
            and self.operation == operation
            and self.hub.lower() == hub.lower()
            and (self.partition is None or self.partition == partition)
        )


class FaultBook:
    """Armed faults, consumed by the connection threads (thread-safe)."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._armed = False  # lock-free fast path for the delivery loop

    def arm(
        self,
        operation: Operation,
        hub: str,
        *,
        partition: str | None = None,
        condition: str = SERVER_BUSY,
        description: str | None = None,
        status: int = 503,
        count: int = 1,
    ) -> None:
        """Fail the next ``count`` matching operations."""
        if operation not in OPERATIONS:
            raise ValueError(f"unknown operation {operation!r}; expected one of {OPERATIONS}")
        if count < 1:
            raise ValueError("count must be at least 1")
        text = description or _default_description(condition)
        with self._lock:
            self._faults.append(Fault(operation, hub, partition, condition, text, status, count))
            self._armed = True

    def take(self, operation: Operation, hub: str, partition: str | None = None) -> ServiceError | None:
        """Consume one matching fault and return the error to report (None: proceed)."""
        if not self._armed:
            return None
        with self._lock:
            for fault in self._faults:
                if fault.matches(operation, hub, partition):
                    fault.remaining -= 1
                    self._faults = [f for f in self._faults if f.remaining > 0]
                    self._armed = bool(self._faults)
                    return ServiceError(fault.condition, fault.description, status=fault.status)
        return None

    def pending(self) -> int:
        """How many injected failures have not fired yet."""
        with self._lock:
            return sum(f.remaining for f in self._faults)

    def clear(self) -> None:
        """Disarm everything."""
        with self._lock:
            self._faults.clear()
            self._armed = False


def _default_description(condition: str) -> str:
    if condition == SERVER_BUSY:
        return (
            "The request was terminated because the entity is being throttled. Error code : 50002. "
            "Please wait 4 seconds and try again."
        )
    return f"Injected failure ({condition})."
