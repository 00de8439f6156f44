"""Small helpers that drive the unmodified ``azure-eventhub`` SDK (for tests of any layer).

They work against the test server and a live namespace alike: each takes a connection string.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, cast

from azure.eventhub import EventData, EventHubConsumerClient, EventHubProducerClient

StartingPosition = int | str | datetime


def send(
    conn_str: str,
    bodies: Iterable[bytes | str],
    *,
    partition_id: str | None = None,
    partition_key: str | None = None,
    properties: Mapping[str, Any] | None = None,
    **client_kwargs: Any,
) -> int:
    """Send ``bodies`` in as few batches as fit; returns how many events were sent."""
    producer = EventHubProducerClient.from_connection_string(conn_str, **client_kwargs)
    sent = 0
    with producer:
        batch = producer.create_batch(partition_id=partition_id, partition_key=partition_key)
        for body in bodies:
            event = EventData(body)
            if properties:
                event.properties = cast(dict[str | bytes, Any], dict(properties))
            try:
                batch.add(event)
            except ValueError:  # full: ship it and start the next one
                producer.send_batch(batch)
                batch = producer.create_batch(partition_id=partition_id, partition_key=partition_key)
                batch.add(event)
            sent += 1
        if len(batch):
            producer.send_batch(batch)
    return sent


class ReceiveError(AssertionError):
    """The receiver reported an error (``errors`` holds what the SDK passed to on_error)."""

    def __init__(self, errors: list[Exception], events: list[EventData]) -> None:
        super().__init__(f"receive failed: {errors[0]!r}")
        self.errors = errors
        self.events = events


def receive(
    conn_str: str,
    partition_id: str,
    *,
    starting_position: StartingPosition = "-1",
    inclusive: bool = False,
    expect: int | None = None,
    idle_seconds: float = 0.3,
    empty_grace: float = 1.5,
    timeout: float = 30.0,
    consumer_group: str = "$Default",
    **receive_kwargs: Any,
) -> list[EventData]:
    """Events of one partition from a starting position.

    Stops after ``expect`` events, else once the partition is drained: a short batch (the SDK
    waited ``idle_seconds`` without filling it) that ends at the partition's last event, or,
    when nothing arrives, empty batches for ``empty_grace`` seconds. Raises
    :class:`ReceiveError` when the SDK reports an error and ``TimeoutError`` when neither
    happens within ``timeout``.
    """
    client = EventHubConsumerClient.from_connection_string(
        conn_str, consumer_group, retry_total=receive_kwargs.pop("retry_total", 0)
    )
    events: list[EventData] = []
    errors: list[Exception] = []
    done = threading.Event()

    batch_size = receive_kwargs.pop("max_batch_size", min(expect, 300) if expect else 300)
    # A short batch alone is no proof of a drained partition: on a loaded machine the first
    # delivery can take longer than idle_seconds, and the SDK then hands over an empty batch.
    last = None if expect is not None else _last_sequence_number(client, partition_id)
    empty_since: list[float] = []

    def drained(batch: list[EventData]) -> bool:
        if len(batch) >= batch_size:
            return False
        if events or last is None:
            return last is None or seq(events[-1]) >= last
        empty_since[:] = empty_since or [time.monotonic()]
        return time.monotonic() - empty_since[0] >= empty_grace

    def on_batch(_ctx: Any, batch: list[EventData]) -> None:
        events.extend(batch)
        if (expect is None and drained(batch)) or (expect is not None and len(events) >= expect):
            done.set()

    def on_error(_ctx: Any, error: Exception) -> None:
        errors.append(error)
        done.set()

    worker = threading.Thread(
        target=client.receive_batch,
        kwargs={
            "on_event_batch": on_batch,
            "on_error": on_error,
            "partition_id": partition_id,
            "starting_position": starting_position,
            "starting_position_inclusive": inclusive,
            "max_wait_time": idle_seconds,
            # The SDK holds a batch back until it is full or max_wait_time passes: ask for
            # exactly what is expected so the callback fires as soon as it has arrived.
            "max_batch_size": batch_size,
            **receive_kwargs,
        },
        daemon=True,
    )
    worker.start()
    finished = done.wait(timeout)
    client.close()
    worker.join(10)
    if errors:
        raise ReceiveError(errors, events)
    if not finished:
        raise TimeoutError(f"partition {partition_id}: {len(events)} events after {timeout}s")
    return events


def _last_sequence_number(client: EventHubConsumerClient, partition_id: str) -> int | None:
    """The partition's last sequence number; None when the management call fails (the
    receiver then meets the same fault and reports it through on_error)."""
    try:
        return int(client.get_partition_properties(partition_id)["last_enqueued_sequence_number"])
    except Exception:
        return None


def wait_for(predicate: Any, timeout: float = 10.0, what: str = "condition") -> None:
    """Poll ``predicate()`` until true, failing after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reached within {timeout}s")
        time.sleep(0.02)


def receive_each(conn_str: str, partition_id: str, variants: list[dict[str, Any]]) -> list[list[EventData]]:
    """:func:`receive` once per keyword set in ``variants``, concurrently; results in order."""
    results: list[list[EventData] | BaseException] = [[] for _ in variants]

    def run(i: int) -> None:
        try:
            results[i] = receive(conn_str, partition_id, **variants[i])
        except BaseException as exc:  # re-raised below, in the caller's thread
            results[i] = exc

    workers = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(variants))]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    out: list[list[EventData]] = []
    for result in results:
        if isinstance(result, BaseException):
            raise result
        out.append(result)
    return out


def seq(event: EventData) -> int:
    """The event's sequence number (always set on received events)."""
    assert event.sequence_number is not None
    return event.sequence_number


def enqueued(event: EventData) -> datetime:
    """The event's enqueued time (always set on received events)."""
    assert event.enqueued_time is not None
    return event.enqueued_time


def body_bytes(event: EventData) -> bytes:
    """The event's body (data sections joined)."""
    return b"".join(cast(Iterable[bytes], event.body))
