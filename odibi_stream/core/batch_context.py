"""The batch a thread is working on, so log lines (and traces) can name it.

Lifecycle contract: the protocol (``runtime.batch.run_one_batch``) binds a
:class:`BatchContext` for the duration of one batch attempt with :func:`bound`; code running
inside it — in that thread, or in threads started through ``contextvars.copy_context()`` (the
executor's node pool) — sees it through :func:`current`. The logging filter adds its
``trace_id`` to every record; tracing exports the batch's spans under the same id, so a log line
and the batch's trace can be joined.

Trace ids follow W3C Trace Context: 16 random bytes as 32 lowercase hex digits.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


def new_trace_id() -> str:
    """A fresh W3C trace id (32 hex digits, never all zero)."""
    while True:
        value = os.urandom(16).hex()
        if value.strip("0"):
            return value


@dataclass
class BatchContext:
    """What is known about the batch being run (``batch`` is set once it is planned).

    Attributes:
        pipeline: Pipeline name.
        trace_id: The batch attempt's trace id.
        batch: Batch number once planned, else None.
    """

    pipeline: str
    trace_id: str
    batch: int | None = None


_current: ContextVar[BatchContext | None] = ContextVar("odibi_batch_context", default=None)


def current() -> BatchContext | None:
    """The batch bound in this context, or None outside a batch."""
    return _current.get()


@contextmanager
def bound(context: BatchContext) -> Iterator[BatchContext]:
    """Bind ``context`` for the ``with`` block (restored afterwards, also on errors)."""
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)
