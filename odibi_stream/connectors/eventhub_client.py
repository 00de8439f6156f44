"""The azure-eventhub SDK behind the Event Hubs connector: clients, management, errors.

Imported only by opened readers, writers and probes (never while validating). What the public
SDK API does not offer, and why this module reaches one level below it (every such use is in
this module, most with a fallback to the public API; the extra pins ``azure-eventhub<6``):

* **A kept-open management link.** ``get_partition_properties`` opens a new AMQP connection
  per call and polls its readiness with 50 ms sleeps (~0.4 s per call here; more over TLS to
  Azure). Planning needs every partition's positions per batch and the data trigger polls
  them, so :class:`Management` keeps one connection open and sends the same ``$management``
  READ requests the SDK sends over it, re-opening after any error. If the SDK's internals it
  uses are missing (a future SDK), it falls back to the public calls.
* **Partition receivers driven from our own thread** (``EventHubConsumerClient._create_consumer``
  + ``EventHubConsumer.receive``, what the SDK's EventProcessor does inside ``receive_batch``):
  the EventProcessor restarts a failed partition from its original position after a 30 s
  load-balancing pause, while the connector must read an exact sequence-number range and
  decide about retries itself. See :mod:`~odibi_stream.connectors.eventhub_receiver`.
* **Received AMQP messages, not EventData**: a receiver hands its buffered pyamqp messages
  over as they are (:data:`Received`), skipping the ``EventData`` wrapper the SDK builds per
  event — about a third of its CPU per event — since the connector decodes the message fields
  itself (:func:`as_message` accepts either).
* **One send per batch** (:func:`send_once`): ``send_batch`` re-sends after any error, which
  duplicates a batch whose acknowledgement was lost; the sink re-scans the hub instead.
* **Errors by kind** (:func:`connector_error`): authentication, a missing hub or consumer group
  and a stolen partition (owner level) are terminal; everything else — connection loss,
  ``server-busy`` throttling, timeouts — is a retryable outage.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from azure.eventhub import (
    EventDataBatch,
    EventHubConsumerClient,
    EventHubProducerClient,
    TransportType,
)
from azure.eventhub.exceptions import AuthenticationError, EventHubError

from odibi_stream.clients.azure_eventhub import eventhub_auth
from odibi_stream.connectors.eventhub_target import EventHubTarget
from odibi_stream.core.redact import redact
from odibi_stream.exceptions import ConnectorError

log = logging.getLogger("odibi_stream.connectors.eventhub")

RETRY_TOTAL = 0
"""SDK-level retries per operation: none. A receiver's internal retry re-attaches from the
last event it handed over and, per ``receive`` call, swallows a refused attach (a missing
consumer group would look like silence); a producer's would re-send a batch whose
acknowledgement was lost. Outages are retried by the runtime, with backoff, after a re-scan."""
MGMT_TIMEOUT = 30.0
_TERMINAL_CONDITIONS = ("not-found", "unauthorized-access", "link:stolen", "argument-error")


@dataclass(frozen=True)
class PartitionInfo:
    """A partition's available sequence numbers ``[first, end)`` (end = the next to be assigned)
    and when its newest event was enqueued (epoch milliseconds; 0 if it never had one)."""

    partition: str
    first: int
    end: int
    last_enqueued_ms: int = 0

    @classmethod
    def of(cls, partition: str, props: dict[Any, Any]) -> PartitionInfo:
        """From ``$management`` fields (the SDK's dict or the raw response's bytes keys)."""
        begin = int(_field(props, "beginning_sequence_number", b"begin_sequence_number"))
        last = int(_field(props, "last_enqueued_sequence_number", b"last_enqueued_sequence_number"))
        empty = bool(_field(props, "is_empty", b"is_partition_empty"))
        when = _field(props, "last_enqueued_time_utc", b"last_enqueued_time_utc")
        millis = int(when.timestamp() * 1000) if isinstance(when, datetime) else int(when or 0)
        end = max(last + 1, 0)
        return cls(partition, end if empty else max(begin, 0), end, millis)


def _field(props: dict[Any, Any], name: str, raw: bytes) -> Any:
    return props[name] if name in props else props[raw]


Received = Any
"""A received event: the SDK's pyamqp ``Message`` (``message_annotations``, ``data``,
``application_properties``, ``properties``), or an ``EventData`` from an SDK without the hook."""
SEQUENCE = b"x-opt-sequence-number"


def as_message(received: Received) -> Any:
    """The pyamqp message of a received event (an ``EventData`` keeps it in ``_message``)."""
    return received if hasattr(received, "message_annotations") else received._message


def sequence_of(received: Received) -> int | None:
    """The sequence number the service assigned to a received event."""
    notes = as_message(received).message_annotations or {}
    value = notes.get(SEQUENCE)
    return None if value is None else int(value)


def _client_kwargs(target: EventHubTarget) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"retry_total": RETRY_TOTAL, "retry_backoff_factor": 0.5}
    for key, value in target.client_options.items():
        if key == "transport_type":
            websocket = str(value).lower() in ("amqp_websocket", "amqpoverwebsocket", "websocket")
            kwargs[key] = TransportType.AmqpOverWebsocket if websocket else TransportType.Amqp
        else:
            kwargs[key] = value
    return kwargs


def consumer_client(target: EventHubTarget, consumer_group: str) -> EventHubConsumerClient:
    """A consumer client of ``target`` (connects lazily; the caller closes it).

    Raises:
        ConfigError: the auth block cannot be used for Event Hubs.
    """
    auth = eventhub_auth(target.auth)
    kwargs = _client_kwargs(target)
    if auth.connection_string is not None:
        return EventHubConsumerClient.from_connection_string(
            auth.connection_string, consumer_group, eventhub_name=target.hub, **kwargs
        )
    return EventHubConsumerClient(
        target.namespace, target.hub, consumer_group, auth.credential, **kwargs
    )


def producer_client(target: EventHubTarget) -> EventHubProducerClient:
    """A producer client of ``target`` (connects lazily; the caller closes it)."""
    auth = eventhub_auth(target.auth)
    kwargs = _client_kwargs(target)
    if auth.connection_string is not None:
        return EventHubProducerClient.from_connection_string(
            auth.connection_string, eventhub_name=target.hub, **kwargs
        )
    return EventHubProducerClient(target.namespace, target.hub, auth.credential, **kwargs)


def open_consumer(
    client: EventHubConsumerClient,
    consumer_group: str,
    partition: str,
    position: int | datetime,
    on_events: Callable[[list[Received]], None],
    *,
    owner_level: int | None,
    prefetch: int,
) -> Any:
    """An ``EventHubConsumer`` of one partition attached at ``position`` (inclusive).

    ``consumer.receive(batch=True, max_batch_size=n, max_wait_time=None)`` runs one connection
    iteration and passes up to ``n`` buffered messages to ``on_events``; ``close()`` detaches.
    An int position is a sequence number, a datetime an enqueued time. The consumer runs no
    keep-alive thread: the SDK's pings read the socket from a second thread, concurrently with
    ``receive``, which can append two deliveries to the buffer out of order (and makes
    ``close`` wait up to a second for the thread).
    """
    create: Any = client._create_consumer  # the SDK's own building block of receive_batch
    consumer = create(
        consumer_group,
        partition,
        position,
        on_events,
        event_position_inclusive=True,
        owner_level=owner_level,
        prefetch=prefetch,
    )
    consumer._keep_alive = None  # read when the consumer opens its handler
    buffer = getattr(consumer, "_message_buffer", None)
    if buffer is not None and hasattr(consumer, "_next_message_in_buffer"):
        consumer._next_message_in_buffer = buffer.popleft  # hand over messages, not EventData
    return consumer


def send_once(client: EventHubProducerClient, batch: EventDataBatch, partition: str) -> None:
    """Send ``batch`` to ``partition`` exactly one time (raises on any failure).

    ``EventHubProducerClient.send_batch`` rebuilds its partition producer and sends again after
    any error — a duplicate whenever the first attempt landed but its acknowledgement was lost.
    The sink instead fails the write and re-scans the hub before the runtime retries, so it
    drives the partition producer itself (with the SDK's own helpers).
    """
    sdk: Any = client
    try:
        sdk._start_producer(partition, None)
        producer = sdk._producers[partition]
    except (AttributeError, KeyError, TypeError):  # the SDK moved an internal: its public call
        client.send_batch(batch)
        return
    producer.send(batch)


def close_quietly(closable: Any, *, background: bool = False) -> None:
    """``closable.close()``, errors logged; in a daemon thread when ``background``."""

    def run() -> None:
        try:
            closable.close()
        except Exception as exc:  # a broken connection has nothing left to release
            log.debug("closing %s failed: %s", type(closable).__name__, exc)

    if background:
        threading.Thread(target=run, name="odibi-eh-close", daemon=True).start()
    else:
        run()


def connector_error(exc: BaseException, what: str, kind: type[ConnectorError]) -> ConnectorError:
    """Map an SDK (or socket) error to ``kind``, retryable unless it cannot heal by waiting."""
    text = redact(str(exc)).strip().splitlines()
    detail = text[0][:500] if text else type(exc).__name__
    condition = getattr(exc, "error", None) or ""
    if isinstance(exc, AuthenticationError) or "unauthorized" in condition:
        return kind(
            f"{what}: authentication failed: {detail}",
            retryable=False,
            hint="check the connection's auth (key, policy rights, token audience)",
        )
    if condition in _TERMINAL_CONDITIONS or any(
        c in detail.lower() for c in ("could not be found", "not-found")
    ):
        hint = (
            (
                "another reader with a higher owner level took the partition: is another pipeline or "
                "process reading this hub with the same consumer group?"
            )
            if "stolen" in condition
            else "check the hub name, partition and consumer group"
        )
        return kind(f"{what}: {detail}", retryable=False, hint=hint)
    return kind(f"{what}: {detail}", retryable=True, hint="is the Event Hubs namespace reachable?")


class Management:
    """``$management`` reads (hub and partition properties) over one kept-open connection.

    Thread-safe (one request at a time). ``close`` is idempotent.
    """

    def __init__(self, client: EventHubConsumerClient | EventHubProducerClient) -> None:
        self._client = client
        self._lock = threading.Lock()
        self._mgmt: Any = None
        self._auth: Any = None
        self._public_only = False

    def partition_ids(self) -> list[str]:
        """The hub's partition ids, in the service's order."""
        with self._lock:
            if not self._public_only:
                try:
                    value = self._request(
                        {"name": self._client.eventhub_name}, b"com.microsoft:eventhub"
                    )
                    return [
                        p.decode() if isinstance(p, bytes) else str(p)
                        for p in value[b"partition_ids"]
                    ]
                except _Fallback:
                    pass
            return list(self._client.get_partition_ids())

    def partitions(self, ids: list[str]) -> dict[str, PartitionInfo]:
        """Positions of each partition in ``ids``."""
        with self._lock:
            out: dict[str, PartitionInfo] = {}
            for p in ids:
                if not self._public_only:
                    try:
                        props = {"name": self._client.eventhub_name, "partition": p}
                        out[p] = PartitionInfo.of(
                            p, self._request(props, b"com.microsoft:partition")
                        )
                        continue
                    except _Fallback:
                        pass
                out[p] = PartitionInfo.of(p, self._client.get_partition_properties(p))
            return out

    def _request(self, properties: dict[str, str], op_type: bytes) -> Any:
        for attempt in (1, 2):
            try:
                mgmt, auth = self._open()
                return self._send(mgmt, auth, properties, op_type)
            except AttributeError as exc:  # the SDK moved an internal: use the public calls
                log.warning(
                    "event hubs management link unavailable (%s); using per-call connections", exc
                )
                self._public_only = True
                self._drop()
                raise _Fallback from exc
            except Exception as exc:
                self._drop()  # a broken or timed-out link is never reused
                if attempt == 2:
                    raise self._sdk_error(exc) from exc
        raise AssertionError("unreachable")

    def _sdk_error(self, exc: Exception) -> Exception:
        if isinstance(exc, EventHubError):
            return exc
        try:
            converted: Exception = self._client._amqp_transport._create_eventhub_exception(exc)  # type: ignore[union-attr]
        except Exception:  # not an AMQP error the SDK knows: keep it
            return exc
        return converted

    def _open(self) -> tuple[Any, Any]:
        if self._mgmt is None:
            client: Any = self._client
            auth = client._create_auth()
            mgmt = client._amqp_transport.create_mgmt_client(
                client._address, mgmt_auth=auth, config=client._config
            )
            try:
                mgmt.open(
                    connection=client._conn_manager.get_connection(
                        endpoint=client._address.hostname, auth=auth
                    )
                )
                deadline = time.monotonic() + MGMT_TIMEOUT
                # client_ready() blocks on the socket (no busy loop, unlike the SDK's 50 ms sleeps).
                while not mgmt.client_ready():
                    if time.monotonic() > deadline:
                        raise TimeoutError("management link not ready")
            except BaseException:
                mgmt.close()
                raise
            self._mgmt, self._auth = mgmt, auth
        return self._mgmt, self._auth

    def _send(self, mgmt: Any, auth: Any, properties: dict[str, str], op_type: bytes) -> Any:
        transport: Any = self._client._amqp_transport  # type: ignore[union-attr]
        message = transport.build_message(application_properties=dict(properties))
        message.application_properties["security_token"] = transport.get_updated_token(auth)
        status, description, response = transport.mgmt_client_request(
            mgmt,
            message,
            operation=b"READ",
            operation_type=op_type,
            status_code_field=b"status-code",
            description_fields=b"status-description",
            timeout=MGMT_TIMEOUT,
        )
        if int(status) >= 400:
            text = description.decode() if isinstance(description, bytes) else str(description)
            raise transport._create_eventhub_exception(transport.get_error(int(status), text))
        return response.value

    def _drop(self) -> None:
        mgmt, self._mgmt, self._auth = self._mgmt, None, None
        if mgmt is not None:
            try:
                mgmt.close()
            except Exception as exc:  # closing a broken link may fail; nothing to release then
                log.debug("closing the management link failed: %s", exc)

    def close(self) -> None:
        """Close the kept-open connection (idempotent)."""
        with self._lock:
            self._drop()


class _Fallback(Exception):
    """Internal: answer through the public SDK API instead."""


def is_sdk_error(exc: BaseException) -> bool:
    """True for errors the SDK or the network raise (mapped by :func:`connector_error`)."""
    return isinstance(exc, (EventHubError, OSError, TimeoutError))
