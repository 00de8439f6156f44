"""A process-wide cache of open Delta tables (delta-rs), refreshed incrementally.

Opening a ``DeltaTable`` replays its log (~7-14 ms on a short log, growing with its length);
``update_incremental()`` reads only the commits added since (~1-2 ms). A batch touches a sink's
table two or three times (idempotency check, write, version), so sharing one open table per
(uri, options) and refreshing it before each use is the single biggest per-batch saving.

Contract: :func:`delta_table` yields a table *current as of the call* (external writers are
seen), holding a per-table lock for the duration of the ``with`` block, so a check-then-write
sequence in one block cannot interleave with another thread's. A nested block of the same
thread reuses the table without refreshing it (it is current: the outer block holds the lock). Any error drops the cached
table, so the next use reopens from storage. Used by sinks (connectors) and the pandas engine.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError

_Key = tuple[str, tuple[tuple[str, str], ...]]
_guard = threading.Lock()
_tables: dict[_Key, DeltaTable] = {}
_locks: dict[_Key, threading.RLock] = {}
_held = threading.local()


def _key(uri: str, storage_options: Mapping[str, str] | None) -> _Key:
    return uri, tuple(sorted((storage_options or {}).items()))


@contextmanager
def delta_table(uri: str, storage_options: Mapping[str, str] | None = None) -> Iterator[DeltaTable | None]:
    """Yield the current table at ``uri`` (None if there is no table yet), locked for the block."""
    key = _key(uri, storage_options)
    with _guard:
        lock = _locks.setdefault(key, threading.RLock())
    with lock:
        depth: dict[_Key, int] = _held.__dict__.setdefault("depth", {})
        nested = depth.get(key, 0) > 0
        depth[key] = depth.get(key, 0) + 1
        try:
            # Nested in this thread's own block: the table is already current and locked.
            table = _tables.get(key) if nested else None
            yield table if table is not None else _current(key, uri, storage_options)
        except BaseException:
            _tables.pop(key, None)  # state unknown after a failure: reopen next time
            raise
        finally:
            depth[key] -= 1


def _current(key: _Key, uri: str, storage_options: Mapping[str, str] | None) -> DeltaTable | None:
    table = _tables.get(key)
    if table is not None:
        try:
            table.update_incremental()
            return table
        except Exception:
            # The table was deleted or replaced under us (its old log is gone): start afresh.
            _tables.pop(key, None)
    try:
        table = DeltaTable(uri, storage_options=dict(storage_options or {}))
    except TableNotFoundError:
        return None
    _tables[key] = table
    return table


def forget(uri: str, storage_options: Mapping[str, str] | None = None) -> None:
    """Drop the cached table (e.g. after it was deleted or replaced outside delta-rs)."""
    _tables.pop(_key(uri, storage_options), None)
