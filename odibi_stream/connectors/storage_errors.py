"""Failures of Delta Lake I/O on Azure storage, sorted into retryable and terminal errors.

delta-rs (object_store) reports every storage failure as a plain ``OSError`` or a generic
``DeltaError`` carrying only text, and the Spark engine reports Java exceptions; neither says
*why* by type. Rather than parse their messages, :func:`azure_storage` asks the storage itself:
after such a failure it makes one cheap Blob API call on the location's container
(``get_container_properties``) and classifies that with
:func:`odibi_stream.clients.azure_errors.classify`:

* unreachable (connection refused, timeouts, 5xx, throttling) → a **retryable**
  Source/SinkError: the worker backs off, reports the pipeline degraded, and the batch resumes
  when storage returns;
* authentication / authorisation / untrusted TLS / missing container → a **terminal** error
  with the hint that fixes it;
* reachable and fine → the failure was not an outage now (or the outage just ended): an
  ``OSError`` stays a retryable storage error; a generic ``DeltaError`` is re-raised as itself,
  which the worker treats as *unexpected* and retries a bounded number of times; anything else
  (schema mismatch, commit conflict, our own errors) passes through unchanged.

Local locations are never touched by this module.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from deltalake.exceptions import DeltaError

from odibi_stream.clients.azure import AzureTarget, open_container, require_sdk
from odibi_stream.clients.azure_errors import AUTH_HINT, TLS_HINT, CallFailed, Failure, call
from odibi_stream.clients.locations import Location
from odibi_stream.core.redact import redact
from odibi_stream.exceptions import ConfigError, ConnectorError, EngineError, OdibiError

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_TERMINAL = {
    Failure.AUTH: AUTH_HINT,
    Failure.TLS: TLS_HINT,
    Failure.CONTAINER_NOT_FOUND: "create the container, or fix the connection's container",
}


def probe(target: AzureTarget) -> Failure | None:
    """One ``get_container_properties`` call: None if it works (or cannot be made: no SDK)."""
    try:
        require_sdk()
        handle = open_container(target, retry=False, connection_timeout=3, read_timeout=5)
    except ConfigError:
        return None
    try:
        call(handle.client.get_container_properties, attempts=1)
    except CallFailed as failed:
        return failed.kind
    finally:
        handle.close()
    return None


def short(exc: BaseException) -> str:
    """One redacted line of a library error (delta-rs messages carry colours and trees)."""
    text = " ".join(_ANSI.sub("", str(exc)).split())
    return redact(text)[:300]


def _storage_failure(exc: BaseException) -> BaseException | None:
    """The library error behind ``exc`` if it may be a storage failure, else None."""
    if isinstance(exc, EngineError):
        return exc.__cause__ if exc.__cause__ is not None else exc
    if isinstance(exc, OdibiError):
        return None
    if type(exc) is OSError or type(exc) is DeltaError:  # subclasses mean other things
        return exc
    return exc if isinstance(exc, (ConnectionError, TimeoutError)) else None


@contextmanager
def azure_storage(
    location: Location, what: str, error: type[ConnectorError] = ConnectorError
) -> Iterator[None]:
    """Classify storage failures of the block on an Azure ``location`` (see the module doc).

    Args:
        location: Where the block reads or writes.
        what: What the block does, for the message (``"write"``, ``"plan"`` ...).
        error: The error type to raise (SinkError for sinks, SourceError for sources).
    """
    if location.blob is None:
        yield
        return
    try:
        yield
    except Exception as exc:
        inner = _storage_failure(exc)
        if inner is None:
            raise
        kind = probe(location.blob.target)
        where = location.describe()
        if kind in _TERMINAL:
            raise error(
                f"{what} {where} failed: {short(inner)}", retryable=False, hint=_TERMINAL[kind]
            ) from exc
        if kind is Failure.UNAVAILABLE or type(inner) is OSError or isinstance(
            inner, (ConnectionError, TimeoutError)
        ):
            raise error(
                f"{what} {where} failed: storage unreachable or failing ({short(inner)})",
                retryable=True,
                hint="Azure storage is unreachable; the batch is retried with backoff",
            ) from exc
        if type(inner) is DeltaError:
            raise inner from None  # unexpected now that storage answers: bounded retries
        raise
