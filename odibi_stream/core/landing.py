"""What a folder watcher saw land, shared by the watcher (writer) and a files source (reader).

A local files source would otherwise have to (a) wait ``settle_seconds`` after a file's last
change before trusting it is complete, and (b) list the whole folder at every plan, so a batch
costs time proportional to every file ever landed. The watcher knows better on both counts:

* a file *closed after writing* (inotify ``IN_CLOSE_WRITE``) or *renamed in*
  (``IN_MOVED_TO``) is complete: :meth:`LandingEvents.complete` records its identity (size,
  mtime) at that moment, and the source treats a listed file with exactly that identity as
  settled at once. A file written again after its close has another identity and settles the
  usual way (``settle_seconds``), so the fast path never reads a file still being written.
* every path the watcher saw change is a *candidate*; between full listings the source only
  looks at candidates (:meth:`take`) — plan cost follows what arrived, not what is there.

Events are a hint, never the truth: inotify can overflow, and nothing watched while the daemon
was down. So a full listing is due when a source first plans, when the watcher says events
may have been lost (:meth:`lost`), and at every reconciliation (the file_watch trigger's
``reconcile_seconds``); without a watcher attached (``odibi-stream run``, cloud folders) every
plan lists. The worst a lost event costs is a delay until the next reconciliation.

Lifecycle: a files source spec owns one instance for its life (so a reopened reader and the
trigger share it); the file_watch trigger calls :meth:`attach` on start and :meth:`detach` on
stop, and the record methods from its observer thread; the source calls :meth:`take` and
:meth:`completed` from the runner's thread. Thread-safe; bounded (:data:`MAX_TRACKED`).
"""

from __future__ import annotations

import os
import stat
import threading
from collections import OrderedDict

MAX_TRACKED = 100_000
"""Most paths remembered (complete identities, candidates); beyond, the oldest are dropped and
a full listing is requested, so memory stays bounded in a flood of events."""


class LandingEvents:
    """File events of one files source's folders (see the module docstring).

    Args:
        roots: Folders whose files count (paths outside are ignored).
    """

    def __init__(self, roots: tuple[str, ...] = ()) -> None:
        self.roots = tuple(os.path.normpath(r) for r in roots)
        self._lock = threading.Lock()
        self._complete: OrderedDict[str, tuple[int, int]] = OrderedDict()
        self._candidates: set[str] = set()
        self._watchers = 0
        self._full_due = True

    # ------------------------------------------------------------------ watcher side
    def attach(self) -> None:
        """A watcher started feeding events; the next plan still lists in full."""
        with self._lock:
            self._watchers += 1
            self._full_due = True

    def detach(self) -> None:
        """A watcher stopped: plans list in full again."""
        with self._lock:
            self._watchers = max(0, self._watchers - 1)
            self._full_due = True

    def owns(self, path: str) -> bool:
        """True if ``path`` lies under one of the roots."""
        return any(path == r or path.startswith(r + os.sep) for r in self.roots)

    def complete(self, path: str) -> None:
        """``path`` was closed after writing or renamed in: remember its identity now."""
        path = os.path.normpath(path)
        try:
            st = os.lstat(path)
        except OSError:
            return self.changed(path)  # gone already (renamed on): a listing settles it
        with self._lock:
            self._candidates.add(path)
            if stat.S_ISREG(st.st_mode):
                self._complete[path] = (st.st_size, st.st_mtime_ns)
                self._complete.move_to_end(path)
            self._bound()

    def changed(self, path: str) -> None:
        """``path`` was created, modified or removed: a candidate, not (yet) complete."""
        path = os.path.normpath(path)
        with self._lock:
            self._complete.pop(path, None)
            self._candidates.add(path)
            self._bound()

    def lost(self) -> None:
        """Events may have been missed (queue overflow, reconciliation): list in full next."""
        with self._lock:
            self._full_due = True

    def _bound(self) -> None:
        while len(self._complete) > MAX_TRACKED:
            self._complete.popitem(last=False)
        if len(self._candidates) > MAX_TRACKED:
            self._candidates.clear()
            self._full_due = True

    # ------------------------------------------------------------------ source side
    def take(self) -> tuple[bool, set[str]]:
        """``(full, candidates)``: whether a full listing is due, and the paths seen changing
        since the last call (consumed). ``full`` is always True without a watcher."""
        with self._lock:
            full = self._full_due or self._watchers == 0
            taken, self._candidates = self._candidates, set()
            self._full_due = False
            return full, taken

    def completed(self, path: str, size: int, mtime_ns: int) -> bool:
        """True if the watcher saw ``path`` complete with exactly this size and mtime."""
        with self._lock:
            return self._complete.get(os.path.normpath(path)) == (size, mtime_ns)

    def forget(self, paths: list[str]) -> None:
        """Drop what is remembered of ``paths`` (committed: no longer needed)."""
        with self._lock:
            for path in paths:
                self._complete.pop(os.path.normpath(path), None)
