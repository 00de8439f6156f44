"""Classifying Azure SDK errors, and the errors Blob file operations raise.

:func:`classify` sorts an ``azure.core`` exception into a :class:`Failure` by type and status
(never by message text); :func:`ambiguous` says whether a failed write may nevertheless have been
applied (the response was lost), which matters for create-exclusive writes that are retried.
The checkpoint store maps failures to checkpoint errors; :func:`file_error` maps them to
:class:`AzureStorageError` subclasses for file sources/sinks.

Outages (connection refused/reset, timeouts, 5xx, 408, 429) are retryable; authentication and
authorisation failures (401/403, credential errors) and an untrusted TLS certificate are
terminal with a hint; a missing container is terminal (a configuration problem, not an outage).
"""

from __future__ import annotations

import enum
import ssl
import time
from collections.abc import Callable
from typing import TypeVar

from odibi_stream.core.redact import redact
from odibi_stream.exceptions import ConnectorError

TLS_HINT = (
    "the endpoint's TLS certificate is not trusted: fix the endpoint, or trust its CA "
    "(ca_file / REQUESTS_CA_BUNDLE)"
)
AUTH_HINT = (
    "check the connection's auth: the key or SAS (expiry, permissions read/add/create/write/"
    "delete/list), or the identity's role (Storage Blob Data Contributor) on the container"
)


class Failure(enum.Enum):
    """What kind of failure an Azure SDK exception reports."""

    UNAVAILABLE = "unavailable"
    AUTH = "auth"
    TLS = "tls"
    BLOB_NOT_FOUND = "blob_not_found"
    CONTAINER_NOT_FOUND = "container_not_found"
    EXISTS = "exists"
    CONDITION = "condition"
    OTHER = "other"


def error_code(exc: BaseException) -> str | None:
    """The storage error code (``"BlobNotFound"``...) of an SDK error, if any."""
    code = getattr(exc, "error_code", None)
    if code is None:
        return None
    return str(getattr(code, "value", code))


def classify(exc: BaseException) -> Failure:
    """Sort an exception raised by azure-storage-blob / azure-identity into a :class:`Failure`."""
    from azure.core import exceptions as ae

    if isinstance(exc, ae.ClientAuthenticationError):  # includes credential failures
        return Failure.AUTH
    if _caused_by(exc, ssl.SSLCertVerificationError):
        return Failure.TLS  # a trust problem to fix, not an outage to wait out
    if isinstance(exc, (ae.ServiceRequestError, ae.ServiceResponseError)):
        return Failure.UNAVAILABLE
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return Failure.UNAVAILABLE
    if not isinstance(exc, ae.HttpResponseError):
        return Failure.OTHER
    status = exc.status_code
    if status is None or status >= 500 or status in (408, 429):
        return Failure.UNAVAILABLE
    if status in (401, 403):
        return Failure.AUTH
    if status == 404:
        return (
            Failure.CONTAINER_NOT_FOUND
            if error_code(exc) == "ContainerNotFound"
            else Failure.BLOB_NOT_FOUND
        )
    if status == 409:
        exists = (None, "BlobAlreadyExists", "ContainerAlreadyExists")
        return Failure.EXISTS if error_code(exc) in exists else Failure.OTHER
    if status in (304, 412):
        return Failure.CONDITION
    return Failure.OTHER


def _caused_by(exc: BaseException, kind: type[BaseException], depth: int = 8) -> bool:
    """True if ``kind`` is anywhere in the chain of causes (SDK, requests, urllib3 wrappers)."""
    seen: set[int] = set()
    todo: list[object] = [exc]
    while todo and len(seen) < depth * 4:
        cur = todo.pop()
        if not isinstance(cur, BaseException) or id(cur) in seen:
            continue
        if isinstance(cur, kind):
            return True
        seen.add(id(cur))
        todo += [getattr(cur, "inner_exception", None), getattr(cur, "reason", None)]
        todo += [cur.__cause__, cur.__context__, *cur.args]
    return False


def ambiguous(exc: BaseException) -> bool:
    """True if the request may have reached the service and been applied.

    A request that was never sent (connection refused, connect timeout) is not ambiguous; a lost
    response (reset, read timeout) or a 5xx is.
    """
    from azure.core import exceptions as ae

    if isinstance(exc, ae.ServiceRequestError):
        return False
    return classify(exc) is Failure.UNAVAILABLE


def describe_exc(exc: BaseException) -> str:
    """A short, redacted, one-line description of an SDK error for messages and logs."""
    first = (str(exc).strip().splitlines() or [""])[0]
    status = getattr(exc, "status_code", None)
    code = error_code(exc)
    head = " ".join(str(p) for p in (status, code) if p)
    text = redact(first)[:200]
    return f"{head}: {text}" if head else f"{type(exc).__name__}: {text}"


T = TypeVar("T")


class CallFailed(Exception):
    """An Azure call failed for good: the last error, its kind, and whether any attempt may
    have been applied by the service despite failing (see :func:`ambiguous`)."""

    def __init__(self, exc: BaseException, kind: Failure, was_ambiguous: bool) -> None:
        super().__init__(kind.value)
        self.exc = exc
        self.kind = kind
        self.was_ambiguous = was_ambiguous


def call(fn: Callable[[], T], *, attempts: int = 3, backoff: float = 0.1) -> T:
    """Call ``fn`` (one SDK request, made by a client that does not retry by itself),
    retrying outages ``attempts`` times in all with doubling pauses from ``backoff`` seconds.

    Raises:
        CallFailed: any other failure at once, or the last outage after the final attempt.
    """
    from azure.core.exceptions import AzureError

    was_ambiguous = False
    for attempt in range(max(1, attempts)):
        try:
            return fn()
        except (AzureError, ConnectionError, TimeoutError) as exc:
            kind = classify(exc)
            if kind is Failure.UNAVAILABLE:
                was_ambiguous = was_ambiguous or ambiguous(exc)
                if attempt + 1 < attempts:
                    time.sleep(backoff * (2**attempt))
                    continue
            raise CallFailed(exc, kind, was_ambiguous) from None
    raise AssertionError("unreachable")


class AzureStorageError(ConnectorError):
    """A Blob operation failed; ``retryable`` tells outages from permanent failures."""


class BlobNotFound(AzureStorageError):
    """The blob does not exist (or vanished)."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, retryable=False, hint=hint)


class BlobAlreadyExists(AzureStorageError):
    """A create-exclusive upload found the name taken."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, retryable=False, hint=hint)


class BlobChanged(AzureStorageError):
    """A conditional operation found the blob changed since its etag was read."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, retryable=False, hint=hint)


def file_error(op: str, name: str, where: str, failed: CallFailed) -> AzureStorageError:
    """Map a failed call of ``op`` on blob ``name`` (in ``where``) to an AzureStorageError."""
    kind, exc = failed.kind, failed.exc
    what = f"{where}: {op} {name!r} failed ({describe_exc(exc)})"
    if kind is Failure.BLOB_NOT_FOUND:
        return BlobNotFound(f"{where}: {name!r} does not exist")
    if kind is Failure.EXISTS:
        return BlobAlreadyExists(f"{where}: {name!r} already exists")
    if kind is Failure.CONDITION:
        return BlobChanged(f"{where}: {name!r} changed since it was listed")
    if kind is Failure.UNAVAILABLE:
        return AzureStorageError(
            what, retryable=True, hint="Azure storage is unreachable; retrying"
        )
    if kind is Failure.AUTH:
        return AzureStorageError(what, retryable=False, hint=AUTH_HINT)
    if kind is Failure.TLS:
        return AzureStorageError(what, retryable=False, hint=TLS_HINT)
    if kind is Failure.CONTAINER_NOT_FOUND:
        return AzureStorageError(
            what, retryable=False, hint="create the container, or fix the connection's container"
        )
    return AzureStorageError(what, retryable=False)
