"""Test-only fault injection: kill the process at a named step of the batch protocol.

The chaos harness sets ``ODIBI_FAULT=<point>:<n>`` in a child process's environment; the n-th
time that process reaches ``fault_point(<point>)`` it SIGKILLs itself, exactly like a power cut
at that instant. Without the variable this is one dict lookup per step.
"""

from __future__ import annotations

import os
import signal
import threading

_ENV = "ODIBI_FAULT"
_lock = threading.Lock()
_hits: dict[str, int] = {}


def _target() -> tuple[str, int] | None:
    spec = os.environ.get(_ENV)
    if not spec:
        return None
    point, _, count = spec.partition(":")
    return point, int(count or 1)


def fault_point(name: str) -> None:
    """Die here (SIGKILL) if the harness asked for this point and its hit count is reached."""
    target = _target()
    if target is None or target[0] != name:
        return
    with _lock:
        _hits[name] = _hits.get(name, 0) + 1
        if _hits[name] >= target[1]:
            os.kill(os.getpid(), signal.SIGKILL)


POINTS = (
    "before_write_ahead",
    "after_write_ahead",
    "after_read",
    "after_sink",
    "after_dead_letter",
    "before_commit",
    "after_commit",
    "after_acknowledge",
    "during_retain",
)
"""Every point the protocol exposes, in protocol order (the chaos suite iterates over these)."""

CHAIN_POINTS = ("during_retain", "after_state_chain")
"""Points of a compaction into a chained snapshot (``runtime.retention``): reached only when
a snapshot is large; the chaos suite kills there with a small ``ODIBI_SNAPSHOT_INLINE_BYTES``."""
