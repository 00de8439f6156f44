"""Requests and responses of the control plane as plain values, and their JSON encoding.

Lifecycle contract:
    * The connection layer (:mod:`odibi_stream.server.connection`) parses bytes into a
      :class:`Request` and writes a :class:`Response` back; the routers map one to the other and
      never see sockets.
    * Every string of a JSON payload passes through
      :func:`~odibi_stream.core.redact.redact`; error payloads are fixed strings and
      never quote request input (a reflected, redacted value is an oracle for the secret).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import PurePath
from typing import Any
from urllib.parse import urlsplit

import orjson

from odibi_stream.core.redact import redact

JSON = "application/json"

_BASE_HEADERS = (
    ("Cache-Control", "no-store"),
    ("X-Content-Type-Options", "nosniff"),
)


@dataclass(frozen=True)
class Request:
    """One complete HTTP request (head and bounded body).

    Attributes:
        method: Upper-case method.
        target: Request target as sent (path and query).
        headers: Header values by lower-case name (repeated headers joined with ``", "``).
        body: The body (at most ``server.limits.max_body_bytes``).
    """

    method: str
    target: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def path(self) -> str:
        """The path part of the target."""
        return urlsplit(self.target).path


@dataclass(frozen=True)
class Response:
    """A complete response.

    Attributes:
        status: HTTP status code.
        body: Payload bytes.
        content_type: ``Content-Type`` value.
        headers: Extra headers.
        close: Close the connection after sending (an unread body, a protocol error).
    """

    status: int
    body: bytes
    content_type: str = JSON
    headers: tuple[tuple[str, str], ...] = ()
    close: bool = False

    def all_headers(self) -> list[tuple[str, str]]:
        """Every header to send, standard ones first."""
        base = [("Content-Type", self.content_type), *_BASE_HEADERS, *self.headers]
        if self.close:
            base.append(("Connection", "close"))
        return base


def json_response(
    status: int, payload: Any, headers: tuple[tuple[str, str], ...] = (), *, close: bool = False
) -> Response:
    """Encode ``payload`` (scrubbed of secrets) as a JSON response."""
    body = orjson.dumps(
        scrub(payload),
        default=_json_default,
        option=orjson.OPT_NON_STR_KEYS | orjson.OPT_NAIVE_UTC | orjson.OPT_SERIALIZE_NUMPY,
    )
    return Response(status, body, JSON, headers, close)


def error(status: int, message: str, *, hint: str | None = None, close: bool = False,
          headers: tuple[tuple[str, str], ...] = ()) -> Response:
    """A fixed-text error response (never pass request input as ``message``)."""
    payload: dict[str, str] = {"error": message}
    if hint:
        payload["hint"] = hint
    return json_response(status, payload, headers, close=close)


def scrub(value: Any) -> Any:
    """Redact every string of an API payload (error messages may quote connection settings)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: scrub(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub(item) for item in value]
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    if isinstance(value, (PurePath, date, datetime)):
        return str(value)
    as_dict = getattr(value, "as_dict", None)
    if callable(as_dict):
        return as_dict()
    return str(value)
