"""Error conditions the server sends, with the names Event Hubs uses for them."""

from __future__ import annotations

NOT_FOUND = "amqp:not-found"
UNAUTHORIZED = "amqp:unauthorized-access"
LINK_STOLEN = "amqp:link:stolen"
RESOURCE_LIMIT = "amqp:resource-limit-exceeded"
MESSAGE_SIZE_EXCEEDED = "amqp:link:message-size-exceeded"
CONNECTION_FORCED = "amqp:connection:forced"
DECODE_ERROR = "amqp:decode-error"
NOT_IMPLEMENTED = "amqp:not-implemented"
SERVER_BUSY = "com.microsoft:server-busy"
TIMEOUT = "com.microsoft:timeout"
ARGUMENT_OUT_OF_RANGE = "com.microsoft:argument-out-of-range"
ARGUMENT_ERROR = "com.microsoft:argument-error"


class ServiceError(Exception):
    """A refusal the server reports on the wire (link detach, rejected delivery, 4xx/5xx reply).

    Args:
        condition: the AMQP error condition symbol (one of this module's constants).
        description: the human-readable text, worded like the service's.
        status: the HTTP-style status used when the refusal answers a management request.
    """

    def __init__(self, condition: str, description: str, *, status: int = 400) -> None:
        super().__init__(description)
        self.condition = condition
        self.description = description
        self.status = status
