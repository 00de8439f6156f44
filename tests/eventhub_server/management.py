"""The request/response nodes: ``$cbs`` (put-token) and ``$management`` (hub/partition reads).

Each handler turns one decoded request message into a :class:`Reply`; the link layer sends it
back on the client's receiving link of the same node, correlated by message id. Status codes
and descriptions follow the service (202 for an accepted token, 401 for a bad one, 404 for an
unknown entity), which the SDK maps to ``AuthenticationError`` / ``ConnectError``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, cast

from azure.eventhub._pyamqp.message import Message, Properties
from azure.eventhub._pyamqp.types import TYPE, VALUE, AMQPTypes

from tests.eventhub_server.auth import SAS_TOKEN_TYPE, Grant, entity_path
from tests.eventhub_server.context import ServerContext
from tests.eventhub_server.errors import ServiceError

EVENTHUB_TYPE = "com.microsoft:eventhub"
PARTITION_TYPE = "com.microsoft:partition"


@dataclass(frozen=True)
class Reply:
    """A response: status code and description (application properties) and an optional body."""

    status: int
    description: str
    body: Any = None

    @classmethod
    def of(cls, error: ServiceError) -> Reply:
        """The reply reporting ``error``."""
        return cls(error.status, error.description)


def text(value: Any) -> str | None:
    """A decoded AMQP string/symbol (bytes) or str as str."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return None if value is None else str(value)


def request_properties(request: Message) -> dict[str, Any]:
    """The request's application properties with str keys and str values where textual."""
    props = request.application_properties or {}
    return {text(k) or "": (text(v) if isinstance(v, bytes) else v) for k, v in props.items()}


def response_message(request: Message, reply: Reply) -> Message:
    """The message answering ``request`` (correlation id = the request's message id)."""
    request_id = request.properties.message_id if request.properties else None
    return Message(
        # The request's message id is a UUID (the SDK's stub says str/bytes; the codec takes both).
        properties=Properties(message_id=uuid.uuid4(), correlation_id=cast(Any, request_id)),
        application_properties={"status-code": reply.status, "status-description": reply.description},
        value=reply.body,
    )


def put_token(ctx: ServerContext, request: Message) -> tuple[Reply, Grant | None]:
    """Handle a ``$cbs`` put-token: a grant for the audience, or the refusal."""
    props = request_properties(request)
    audience = props.get("name") or ""
    token = text(request.value) or ""
    try:
        hub = entity_path(audience).split("/")[0]
        if hub:
            ctx.namespace.hub(hub, ctx.host)
        grant = ctx.authenticator.validate(token, props.get("type") or SAS_TOKEN_TYPE, audience)
    except ServiceError as error:
        return Reply.of(error), None
    return Reply(202, "Accepted"), grant


def _timestamp(ms: int) -> dict[str, Any]:
    return {TYPE: AMQPTypes.timestamp, VALUE: ms}


def _long(value: int) -> dict[str, Any]:
    return {TYPE: AMQPTypes.long, VALUE: value}


def management_read(ctx: ServerContext, request: Message) -> Reply:
    """Handle a ``$management`` READ of an event hub's or a partition's properties."""
    props = request_properties(request)
    name = props.get("name") or ""
    try:
        injected = ctx.faults.take("management", name)
        if injected is not None:
            raise injected
        token = props.get("security_token") or ""
        token_type = SAS_TOKEN_TYPE if token.startswith("SharedAccessSignature") else "jwt"
        ctx.authenticator.validate(token, token_type, f"sb://{ctx.host}/{name}")
        hub = ctx.namespace.hub(name, ctx.host)
        kind = props.get("type")
        if kind == EVENTHUB_TYPE:
            return Reply(
                200,
                "OK",
                {
                    "name": hub.name,
                    "type": EVENTHUB_TYPE,
                    "created_at": _timestamp(hub.created_ms),
                    "partition_count": len(hub.partitions),
                    "partition_ids": {TYPE: AMQPTypes.array, VALUE: list(hub.partitions)},
                },
            )
        if kind == PARTITION_TYPE:
            pid = props.get("partition") or ""
            info = hub.partition(pid).properties()
            return Reply(
                200,
                "OK",
                {
                    "name": hub.name,
                    "type": PARTITION_TYPE,
                    "partition": pid,
                    "begin_sequence_number": _long(info.beginning_sequence_number),
                    "last_enqueued_sequence_number": _long(info.last_enqueued_sequence_number),
                    "last_enqueued_offset": info.last_enqueued_offset,
                    "last_enqueued_time_utc": _timestamp(info.last_enqueued_time_ms),
                    "is_partition_empty": info.is_empty,
                },
            )
        return Reply(400, f"The management operation type '{kind}' is not supported.")
    except ServiceError as error:
        return Reply.of(error)
