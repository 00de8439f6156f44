"""What a files source may plan: its unseen files, found without listing everything each time.

:class:`Candidates` keeps, across plans, the files of the folder that are not yet in the seen
set (a backlog, usually small). It is rebuilt from a full listing of the store when one is due
(first plan, no watcher attached, a reconciliation, lost events — see
:mod:`odibi_stream.core.landing`), and otherwise updated from the paths the watcher saw change:
each is looked up on its own (:func:`lookup_local`). So with a watcher attached a plan costs
the files that arrived, not every file ever processed.

``max_file_age`` (like Auto Loader's ``maxFileAge``) bounds history: the *horizon* is the newest
committed file's mtime minus the age; files modified before it are ignored — never planned,
and dropped from the seen set. The horizon is a function of the committed files, so a replay
or a recovery computes the same one.

Lifecycle: the :class:`~odibi_stream.connectors.files.FileSource` owns one :class:`Candidates`
and calls :meth:`Candidates.unseen` from ``plan``/``lag`` (the runner's thread).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from odibi_stream.connectors.file_store import Entry, FileStore, identity
from odibi_stream.core.landing import LandingEvents

Lookup = Callable[[str], "Entry | None"]
"""``lookup(rel)``: the entry of one connection-relative path if it is a plannable data file."""


def glob_matches(parts: list[str], rel: list[str]) -> bool:
    """Whether the relative path components ``rel`` match the glob ``parts`` (``**`` recursive)."""
    if not parts:
        return not rel
    head, rest = parts[0], parts[1:]
    if head == "**":
        return any(glob_matches(rest, rel[i:]) for i in range(len(rel) + 1))
    return bool(rel) and fnmatchcase(rel[0], head) and glob_matches(rest, rel[1:])


def lookup_local(
    root: Path, parts: list[str], is_data: Callable[[str], bool], archive: Path | None
) -> Lookup:
    """A :data:`Lookup` for a local folder, with the listing's rules (see ``local_files``):
    regular files only, no link followed, nothing under ``archive``, data names only."""
    archive_rel = archive.relative_to(root).parts if archive is not None else None

    def lookup(rel: str) -> Entry | None:
        comps = rel.split("/")
        if archive_rel and tuple(comps[: len(archive_rel)]) == archive_rel:
            return None
        if not glob_matches(parts, comps) or not is_data(comps[-1]):
            return None
        try:
            st = os.lstat(root.joinpath(*comps))
        except OSError:
            return None  # gone
        if not stat.S_ISREG(st.st_mode):
            return None  # links, FIFOs...: the listing decides (and warns)
        return {"path": rel, "size": st.st_size, "mtime_ns": st.st_mtime_ns}

    return lookup


def horizon_ns(state: dict[str, Any], max_age_ns: int | None) -> int | None:
    """Files modified before this (ns) are ignored; None when ``max_file_age`` is not set."""
    newest = state.get("newest_ns")
    if max_age_ns is None or newest is None:
        return None
    return int(newest) - max_age_ns


class Candidates:
    """The unseen files of one files source (see the module docstring).

    Args:
        store: Where the files are listed.
        events: The watcher's records, or None (every plan lists).
        root: The local connection root event paths are relative to (None: not local).
        lookup: Looks one relative path up (None: every plan lists).
    """

    def __init__(
        self, store: FileStore, events: LandingEvents | None, root: Path | None, lookup: Lookup | None
    ) -> None:
        self._store = store
        self._events = events if lookup is not None and root is not None else None
        self._root = str(root) if root is not None else ""
        self._lookup = lookup
        self._known: dict[str, Entry] | None = None

    def unseen(self, state: dict[str, Any], max_age_ns: int | None) -> list[Entry]:
        """Files not in ``state``'s seen set (nor older than the horizon), by (mtime, path)."""
        seen: dict[str, list[Any]] = state.get("seen", {})
        full, changed = self._events.take() if self._events is not None else (True, set())
        if full or self._known is None:
            self._known = {f["path"]: f for f in self._store.listing()}
        else:
            assert self._lookup is not None
            for path in changed:
                rel = self._relative(path)
                if rel is None:
                    continue
                entry = self._lookup(rel)
                if entry is None:
                    self._known.pop(rel, None)
                else:
                    self._known[rel] = entry
        horizon = horizon_ns(state, max_age_ns)
        floor = horizon if horizon is not None else -1
        # Committed files stay in the seen set, not here; files behind the horizon never plan.
        done = [r for r, f in self._known.items() if f["mtime_ns"] < floor or seen.get(r) == identity(f)]
        for rel in done:
            del self._known[rel]
        return sorted(self._known.values(), key=lambda f: (f["mtime_ns"], f["path"]))

    def _relative(self, path: str) -> str | None:
        rel = os.path.relpath(path, self._root)
        if rel.startswith("..") or rel == ".":
            return None
        return rel.replace(os.sep, "/")
