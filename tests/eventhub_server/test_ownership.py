"""Owner levels (epochs): a higher or equal level pre-empts, a lower one is refused."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest
from azure.eventhub import EventData, EventHubConsumerClient
from azure.eventhub.exceptions import ConnectionLostError, EventHubError

from tests.eventhub_server.errors import RESOURCE_LIMIT, ServiceError
from tests.eventhub_server.fixtures import EventHubTarget
from tests.eventhub_server.ownership import MAX_RECEIVERS_WITHOUT_LEVEL, OwnershipRegistry
from tests.eventhub_server.sdk import send, wait_for


class BackgroundReceiver:
    """A ``receive_batch`` on one partition from the start, in a thread, keeping what it got."""

    def __init__(self, conn: str, owner_level: int | None) -> None:
        self.events: list[EventData] = []
        self.errors: list[Exception] = []
        self._client = EventHubConsumerClient.from_connection_string(conn, "$Default", retry_total=0)
        self._thread = threading.Thread(
            target=self._client.receive_batch,
            kwargs={
                "on_event_batch": lambda _ctx, batch: self.events.extend(batch),
                "on_error": lambda _ctx, error: self.errors.append(error),
                "partition_id": "0",
                "starting_position": "-1",
                "owner_level": owner_level,
                "max_wait_time": 0.2,
            },
            daemon=True,
        )
        self._thread.start()

    def wait_receiving(self, count: int = 1) -> None:
        """Until this receiver holds ``count`` events (so its link is attached) or an error."""
        wait_for(lambda: len(self.events) >= count or bool(self.errors), 30, "the receiver to attach")

    def close(self) -> None:
        self._client.close()
        self._thread.join(10)


@pytest.fixture
def hub_conn(eventhub_server: EventHubTarget) -> str:
    hub = eventhub_server.create_hub(f"own-{uuid.uuid4().hex[:8]}", 1)
    conn = eventhub_server.connection_string(hub)
    send(conn, [b"seed"], partition_id="0")
    return conn


def _run(conn: str, *levels: int | None) -> list[BackgroundReceiver]:
    receivers: list[BackgroundReceiver] = []
    for level in levels:
        receiver = BackgroundReceiver(conn, level)
        receiver.wait_receiving()
        receivers.append(receiver)
    return receivers


def _stolen(receiver: BackgroundReceiver, text: str) -> None:
    wait_for(lambda: bool(receiver.errors), 30, "the pre-emption error")
    error: Any = receiver.errors[0]
    assert isinstance(error, ConnectionLostError), repr(error)
    assert "link:stolen" in str(error) and text in str(error)


@pytest.mark.parametrize("second", [2, 1], ids=["higher", "equal"])
def test_a_higher_or_equal_owner_level_preempts(hub_conn: str, second: int) -> None:
    first, newer = _run(hub_conn, 1, second)
    try:
        _stolen(first, f"higher epoch of '{second}'")
        assert newer.errors == []
        marker = f"after-{uuid.uuid4().hex}"  # unique: a live hub keeps earlier tests' events
        send(hub_conn, [marker.encode()], partition_id="0")
        wait_for(lambda: any(e.body_as_str() == marker for e in newer.events), 30, "the new owner")
        assert not any(e.body_as_str() == marker for e in first.events)
    finally:
        first.close()
        newer.close()


def test_a_lower_owner_level_is_refused(hub_conn: str) -> None:
    owner, lower = _run(hub_conn, 5, 3)
    try:
        _stolen(lower, "cannot be created")
        assert owner.errors == []
    finally:
        owner.close()
        lower.close()


def test_no_owner_level_is_refused_while_one_owns(hub_conn: str) -> None:
    owner, plain = _run(hub_conn, 1, None)
    try:
        _stolen(plain, "non-epoch receiver is not allowed")
        assert owner.errors == []
    finally:
        owner.close()
        plain.close()


def test_an_owner_level_preempts_receivers_without_one(hub_conn: str) -> None:
    plain_a, plain_b, owner = _run(hub_conn, None, None, 0)
    try:
        _stolen(plain_a, "higher epoch of '0'")
        _stolen(plain_b, "higher epoch of '0'")
        assert owner.errors == []
        assert all(isinstance(e, EventHubError) for e in plain_a.errors + plain_b.errors)
    finally:
        for receiver in (plain_a, plain_b, owner):
            receiver.close()


class _Attached:
    """A receiver as the registry sees it: an owner level, and a pre-emption to record."""

    def __init__(self, epoch: int | None) -> None:
        self.epoch = epoch
        self.preempted: list[str] = []

    def preempt(self, error: ServiceError) -> None:
        self.preempted.append(error.condition)


def test_at_most_five_receivers_without_a_level() -> None:
    registry = OwnershipRegistry()
    key = ("hub", "$default", "0")
    for _ in range(MAX_RECEIVERS_WITHOUT_LEVEL):
        registry.claim(key, _Attached(None))
    with pytest.raises(ServiceError) as refused:
        registry.claim(key, _Attached(None))
    assert refused.value.condition == RESOURCE_LIMIT
    registry.claim(("hub", "$default", "1"), _Attached(None))  # other partitions are separate
    owner = _Attached(3)
    registry.claim(key, owner)
    assert registry.attached(key) == 1
    registry.release(key, owner)
    assert registry.attached(key) == 0
