"""The seen set of a files source: folded in place across batches, bounded by ``max_file_age``.

State (persisted in checkpoint snapshots)::

    {"version": 2, "seen": {rel: [size, mtime_ns(, etag)]}, "newest_ns": t}

``newest_ns`` is the newest committed file's mtime (it sets the ``max_file_age`` horizon, see
:mod:`odibi_stream.connectors.files_plan`). Version-1 states (``{"seen": ...}`` only, written
by earlier releases) are read as they are: ``newest_ns`` is derived from the seen set once.

Why in place: a batch commits a few files, but copying a seen set of N files at every fold
makes each batch — and a recovery that folds the retained commits — cost O(N) per batch.
:class:`SeenIndex` copies a state's seen set once, the first time it is folded, and from then
on folds into *the set it returned last*. The runtime replaces its in-memory state with each
fold's result and never reads the state it passed in again, and every other state (a
snapshot's, a decoded one) is a different object and is copied — so each caller still sees
``fold`` as pure.

Lifecycle: one per opened :class:`~odibi_stream.connectors.files.FileSource`.
"""

from __future__ import annotations

from typing import Any

from odibi_stream.connectors.file_store import identity

STATE_VERSION = 2


class SeenIndex:
    """Folds committed ranges into a files source's state (see the module docstring).

    Args:
        max_age_ns: ``max_file_age`` in nanoseconds, or None (keep every identity).
    """

    def __init__(self, max_age_ns: int | None) -> None:
        self.max_age_ns = max_age_ns
        self._owned: dict[str, list[Any]] | None = None
        self._pruned_size = 0

    def fold(self, state: dict[str, Any], rng: dict[str, Any]) -> dict[str, Any]:
        """The state past ``rng``'s files (see the module docstring for what is reused)."""
        seen: dict[str, list[Any]] = state.get("seen", {})
        if seen is not self._owned:
            seen = dict(seen)
        newest = state.get("newest_ns")
        if newest is None and seen:
            newest = max(int(v[1]) for v in seen.values())
        for f in rng["files"]:
            seen[f["path"]] = identity(f)
            mtime = int(f["mtime_ns"])
            newest = mtime if newest is None else max(newest, mtime)
        self._owned = seen
        out: dict[str, Any] = {"version": STATE_VERSION, "seen": seen}
        if newest is not None:
            out["newest_ns"] = newest
            self._prune(seen, newest)
        return out

    def _prune(self, seen: dict[str, list[Any]], newest: int) -> None:
        """Drop identities behind the horizon; amortised (a pass when the set has doubled),
        so the set holds at most about twice the files within the horizon."""
        if self.max_age_ns is None or len(seen) < max(1024, 2 * self._pruned_size):
            return
        horizon = newest - self.max_age_ns
        for rel in [r for r, v in seen.items() if int(v[1]) < horizon]:
            del seen[rel]
        self._pruned_size = len(seen)
