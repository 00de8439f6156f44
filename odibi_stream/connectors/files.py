"""Incremental source over files arriving in a folder (``incremental.mode: files``).

The folder is a local (or mounted) folder, or an Azure Blob/ADLS prefix: where the files live
is a :class:`~odibi_stream.connectors.file_store.FileStore` — :class:`LocalFiles` here,
:class:`~odibi_stream.connectors.blob_files.BlobFiles` for Azure connections — and planning,
bounds, reads and ``after_read`` are one code path over it.

Positions:
    * range: ``{"files": [{"path": rel, "size": n, "mtime_ns": t}, ...]}`` ordered by
      (mtime, path); ``rel`` is relative to the connection root, with ``/`` separators; blob
      entries also carry the ``etag``.
    * state: ``{"version": 2, "seen": {rel: [size, mtime_ns(, etag)]}, "newest_ns": t}`` (see
      :mod:`~odibi_stream.connectors.files_state`). A file's identity is (path, size, mtime)
      plus the etag on Azure: a file re-written later is *new again* and will be read again.
      ``seen`` keeps every committed identity (also of archived/deleted files) — or, with
      ``max_file_age``, those within the horizon (older files are ignored).

``location`` is the resolved read path (``resolve_location(project, connection, read.path)``,
so its uri is the glob); the connection root is recovered from it, and ``archive_path`` is
relative to that root. Planning lists the glob (``**`` is recursive), skips
names starting with ``.`` or ``_`` (writers' temp files) and marker files, and keeps only
*settled* files: ``<file><marker_suffix>`` exists, or a ``file_watch`` trigger saw the local file
closed after writing or renamed in with exactly its current size and mtime (read at once, see
:mod:`odibi_stream.core.landing`), or — the fallback for files not seen closing: network
mounts, cloud listings, ``run`` — the file's mtime (a blob's Last-Modified) is at least
``settle_seconds`` old by the spec's clock (a file still being written keeps getting a fresh
mtime, so an old mtime means size and mtime have been stable that long). With a watcher
attached, plans look at the paths it saw change plus a full listing at each reconciliation
(:mod:`~odibi_stream.connectors.files_plan`). Batches are
bounded by ``max_files_per_batch``, ``max_bytes_per_batch`` and ``max_records_per_batch``
(always at least one file). Records are counted at plan time only when
``max_records_per_batch`` is set — lines for csv/json/jsonl (a CSV header line, with ``header: true``, is not a record), the
footer for parquet — and cached by file identity, so a backlog is counted once, streaming,
without holding it in memory.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from odibi_stream.clients.locations import Location, require_blob_sdk
from odibi_stream.config.base import parse_duration
from odibi_stream.config.models import IncrementalConfig, ReadConfig
from odibi_stream.config.options import CsvReadOptions
from odibi_stream.connectors.base import Position
from odibi_stream.connectors.file_store import (
    VANISHED_HINT,
    Entry,
    Fetched,
    FileStore,
    count_records,
    identity,
)
from odibi_stream.connectors.files_plan import Candidates, lookup_local
from odibi_stream.connectors.files_state import SeenIndex
from odibi_stream.connectors.local_files import (
    fd_path,
    list_glob,
    move_beneath,
    open_all,
    open_beneath,
    remove_beneath,
)
from odibi_stream.connectors.paths import connection_root, path_parts
from odibi_stream.core.clock import SYSTEM_CLOCK, Clock
from odibi_stream.core.landing import LandingEvents
from odibi_stream.core.wake import FolderWatch, Watch
from odibi_stream.engines.base import Engine, ReadResult, eager_reads
from odibi_stream.exceptions import ConfigError, OdibiError, SourceError

log = logging.getLogger(__name__)
FILE_FORMATS = ("csv", "json", "jsonl", "parquet")
_GLOB_CHARS = set("*?[")


def _fd_identity(fd: int) -> list[int]:
    st = os.fstat(fd)
    return [st.st_size, st.st_mtime_ns]


@dataclass(frozen=True)
class FilesSpec:
    """A validated files source (``incremental.mode: files``); opens a :class:`FileSource`.

    Raises (on construction):
        ConfigError: neither a local folder nor an Azure connection, a format the source cannot
            read, no path, the ``azure`` extra missing for an Azure folder.
    """

    node: str
    location: Location
    read: ReadConfig
    clock: Clock = field(default=SYSTEM_CLOCK, compare=False)
    events: LandingEvents = field(default_factory=LandingEvents, compare=False, init=False)
    """Shared by :meth:`watch` (the trigger writes) and every reader :meth:`open` makes."""

    def __post_init__(self) -> None:
        if not self.location.is_local and self.location.blob is None:
            raise ConfigError(
                f"node {self.node}: incremental files sources read local folders and "
                "azure_blob/adls connections",
                hint="use a local or Azure connection, or land the data in Delta and use mode: column",
            )
        read = self.read
        if read.format not in FILE_FORMATS or not read.path or read.incremental is None:
            raise ConfigError(
                f"node {self.node}: a files source needs format in {FILE_FORMATS}, a path and incremental"
            )
        path_parts(read.path)  # rejects '..' now, not at the first plan
        if read.incremental.archive_path:
            path_parts(read.incremental.archive_path)
        require_blob_sdk(self.location, f"node {self.node}")
        if self.location.blob is None:
            object.__setattr__(self, "events", LandingEvents((str(self._watched()),)))

    @property
    def root(self) -> Path:
        """The local connection root the glob and ``archive_path`` are relative to."""
        assert self.read.path is not None  # checked in __post_init__
        return connection_root(self.location, self.read.path)

    def store(self) -> FileStore:
        """A new store over the folder (local, or Blob API: no network I/O yet)."""
        if self.location.blob is not None:
            from odibi_stream.connectors.blob_files import BlobFiles

            return BlobFiles(self.location.blob, self.read, self.clock)
        return LocalFiles(self)

    def open(self) -> FileSource:
        """A reader over the folder; it owns its store's client until closed."""
        return FileSource(self, self.store())

    def watch(self) -> Watch:
        """Local: the glob's non-wildcard prefix folder, files settling after
        ``settle_seconds``. Azure: a poll of the prefix listing (see ``blob_files``)."""
        assert self.read.path is not None and self.read.incremental is not None
        if self.location.blob is not None:
            from odibi_stream.connectors.blob_files import listing_watch

            return listing_watch(self.location.blob, self.read, self.clock)
        inc = self.read.incremental
        settle = 0.0 if inc.marker_suffix else inc.settle_seconds
        return FolderWatch((self._watched(),), settle_seconds=settle, events=self.events)

    def _watched(self) -> Path:
        """The glob's non-wildcard prefix folder."""
        assert self.read.path is not None
        prefix: list[str] = []
        for part in path_parts(self.read.path)[:-1]:
            if _GLOB_CHARS & set(part):
                break
            prefix.append(part)
        return self.root.joinpath(*prefix)


class LocalFiles:
    """The :class:`~odibi_stream.connectors.file_store.FileStore` of a local folder.

    The folder may be written by parties we do not trust: listing never follows symbolic links
    (``incremental.follow_symlinks: true`` follows them to targets inside the connection root
    only) and lists regular files only; a planned file is opened without following links and
    read through that very descriptor (:attr:`by_descriptor`) — see
    :mod:`odibi_stream.connectors.local_files`.
    """

    def __init__(self, spec: FilesSpec) -> None:
        read = spec.read
        assert read.path is not None and read.incremental is not None  # validated by the spec
        self._root = spec.root
        self._parts = path_parts(read.path)
        self._inc: IncrementalConfig = read.incremental
        self._follow = self._inc.follow_symlinks
        archive = self._inc.archive_path
        self._archive = self._root.joinpath(*path_parts(archive)) if archive else None
        self.by_descriptor = True
        """Hand readers ``/proc/self/fd/N`` paths (in-process readers); else the checked paths."""

    def describe(self) -> str:
        """The root folder."""
        return str(self._root)

    @property
    def root(self) -> Path:
        """The connection root."""
        return self._root

    def lookup(self) -> Callable[[str], Entry | None] | None:
        """Looks one relative path up like :meth:`listing` would; None when links are followed
        (only a listing applies those rules)."""
        if self._follow:
            return None
        return lookup_local(self._root, self._parts, self._is_data, self._archive)

    def _is_data(self, name: str) -> bool:
        if name.startswith((".", "_")):
            return False
        suffix = self._inc.marker_suffix
        return not (suffix and name.endswith(suffix))

    def listing(self) -> list[Entry]:
        """Every data file matching the glob, with its identity (in no particular order)."""
        listed = list_glob(self._root, self._parts, follow_symlinks=self._follow, skip=self._archive)
        # Per-file work is the cost of a 100k-file folder: no sort here (the source orders the
        # few unseen files it plans), names sliced once.
        return [
            {"path": rel, "size": size, "mtime_ns": mtime}
            for rel, size, mtime in listed
            if self._is_data(rel[rel.rfind("/") + 1 :])
        ]

    def has_marker(self, name: str) -> bool:
        """True if the marker file exists (a link counts as present; it is never opened)."""
        return os.path.lexists(self._root / name)

    def count(self, entry: Entry, fmt: str, header: bool) -> int:
        """Records in the file, read through a descriptor opened without following links."""
        fd = open_beneath(self._root, entry["path"], follow_symlinks=self._follow)
        try:
            return count_records(Path(fd_path(fd) or self._root / entry["path"]), fmt, header)
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def fetch(self, entries: Sequence[Entry]) -> Iterator[Fetched]:
        """The files, each opened without following links (see the class docstring).

        Raises:
            SourceError: a listed file vanished, changed since it was planned (a file rewritten
                in place is planned again as a new file: reading it in this batch too would
                process it twice), or is no longer a regular file reached without links (not
                retryable).
        """
        rels = [f["path"] for f in entries]
        real = [str(self._root / rel) for rel in rels]
        with contextlib.ExitStack() as stack:
            fds = open_all(self._root, rels, stack, self._follow)
            changed = [real[i] for i, (fd, f) in enumerate(zip(fds, entries, strict=True))
                       if _fd_identity(fd) != [f["size"], f["mtime_ns"]]]
            if changed:
                raise SourceError(
                    f"{len(changed)} file(s) of the planned batch changed since planned, e.g. {changed[0]}",
                    retryable=False,
                    hint=VANISHED_HINT,
                )
            by_fd = [p for fd in fds if (p := fd_path(fd))] if self.by_descriptor else []
            if not by_fd or len(by_fd) != len(fds):
                yield Fetched(real, lasting=True)
                return
            # Longest first: Fetched renames by prefix, and /proc/self/fd/1 prefixes .../fd/12.
            order = sorted(range(len(fds)), key=lambda i: len(by_fd[i]), reverse=True)
            yield Fetched(by_fd, {by_fd[i]: real[i] for i in order})

    def after_read(self, name: str, action: str, etag: str | None = None) -> None:
        """Delete, or move under ``archive_path`` (same relative name); repeats are no-ops.

        Both act through folder descriptors: a folder swapped for a link cannot redirect them.
        """
        if action == "delete":
            remove_beneath(self._root, name)
            return
        assert self._archive is not None  # config validation requires archive_path
        move_beneath(self._root, name, self._archive)  # absent: archived by an earlier attempt

    def close(self) -> None:
        """Nothing to release."""


class FileSource:
    """Source protocol implementation for files in a folder (see module docstring)."""

    def __init__(self, spec: FilesSpec, store: FileStore) -> None:
        read = spec.read
        assert read.path is not None and read.incremental is not None  # validated by the spec
        self.node = spec.node
        self._store = store
        self._location = spec.location
        self._read = read
        self._inc: IncrementalConfig = read.incremental
        self._clock = spec.clock
        self._records: dict[tuple[Any, ...], int] = {}
        age = self._inc.max_file_age
        self._max_age_ns = None if age is None else int(parse_duration(age).total_seconds() * 1e9)
        self._index = SeenIndex(self._max_age_ns)
        local = isinstance(store, LocalFiles)
        self._events = spec.events if local else None
        self._root = store.root if isinstance(store, LocalFiles) else None
        lookup = store.lookup() if isinstance(store, LocalFiles) else None
        self._candidates = Candidates(store, self._events, self._root, lookup)

    def _settled(self, entry: dict[str, Any]) -> bool:
        suffix = self._inc.marker_suffix
        if suffix and self._store.has_marker(entry["path"] + suffix):
            return True
        if self._events is not None and self._root is not None and self._events.completed(
            os.path.join(self._root, entry["path"]), entry["size"], entry["mtime_ns"]
        ):
            return True  # seen closed after writing (or renamed in) exactly as it is now
        return bool(self._clock.time() - entry["mtime_ns"] / 1e9 >= self._inc.settle_seconds)

    def _unseen(self, state: Position) -> list[dict[str, Any]]:
        return self._candidates.unseen(state, self._max_age_ns)

    # -- Source protocol -------------------------------------------------------------------
    def initial_state(self) -> Position:
        """No file seen."""
        return {"seen": {}}

    def fold(self, state: Position, rng: Position) -> Position:
        """Mark the range's files as seen (pure for the caller; see ``files_state``)."""
        return self._index.fold(state, rng)

    def plan(self, state: Position) -> Position | None:
        """The oldest settled unseen files, bounded by files/bytes; None if there are none."""
        settled = [f for f in self._unseen(state) if self._settled(f)]
        chosen: list[dict[str, Any]] = []
        total = 0
        records = 0
        max_files = self._inc.max_files_per_batch
        max_bytes = self._inc.max_bytes_per_batch
        max_records = self._inc.max_records_per_batch
        for f in settled:
            if chosen and max_files is not None and len(chosen) >= max_files:
                break
            if chosen and max_bytes is not None and total + f["size"] > max_bytes:
                break
            if max_records is not None:
                n = self._count(f)
                if chosen and records + n > max_records:
                    break
                records += n
            chosen.append(f)
            total += f["size"]
        return {"files": chosen} if chosen else None

    def _count(self, entry: dict[str, Any]) -> int:
        """Records in a file (cached by identity); see the module docstring."""
        key = (entry["path"], *identity(entry))
        if key not in self._records:
            options = self._read.options
            header = isinstance(options, CsvReadOptions) and options.header
            self._records[key] = self._store.count(entry, self._read.format, header)
        return self._records[key]

    def read(self, engine: Engine, rng: Position) -> ReadResult:
        """Read exactly the range's files, in range order.

        Raises:
            SourceError: a listed file no longer exists or changed (not retryable).
        """
        if isinstance(self._store, LocalFiles):
            # Only an in-process engine can open this process's /proc/self/fd paths.
            self._store.by_descriptor = engine.name == "pandas"
        try:
            with self._store.fetch(rng["files"]) as fetched, (contextlib.nullcontext() if fetched.lasting else eager_reads()):
                result = engine.read_files(
                    fetched.paths,
                    self._read.format,
                    self._read.options,
                    self._location.storage_options,
                )
                return fetched.rename(result)
        except SourceError as exc:
            raise SourceError(f"node {self.node}: {exc.message}", retryable=exc.retryable, hint=exc.hint) from exc

    def range_size(self, rng: Position) -> dict[str, int]:
        """Number of files and bytes in the range."""
        return {"files": len(rng["files"]), "bytes": sum(int(f["size"]) for f in rng["files"])}

    def lag(self, state: Position) -> dict[str, int] | None:
        """Files matching the glob not yet committed (settled or not)."""
        return {"files": len(self._unseen(state))}

    def on_commit(self, rng: Position) -> None:
        """Archive or delete the range's files (and markers); tolerate repeats."""
        action = self._inc.after_read
        if self._events is not None and self._root is not None:
            self._events.forget([os.path.join(self._root, f["path"]) for f in rng["files"]])
        if action == "keep":
            return
        suffix = self._inc.marker_suffix
        for f in rng["files"]:
            names = [(f["path"], f.get("etag"))] + ([(f["path"] + suffix, None)] if suffix else [])
            for rel, etag in names:
                try:
                    self._store.after_read(rel, action, etag)
                except (OSError, OdibiError) as exc:
                    log.warning("node %s: after_read %s of %s failed: %s", self.node, action, rel, exc)

    def close(self) -> None:
        """Release the store's client."""
        self._store.close()
