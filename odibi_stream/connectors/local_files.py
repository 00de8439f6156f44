"""Listing, opening and moving files in a local landing folder without following links.

Whoever can write a landing folder must not be able to make the daemon read, move or delete
anything outside it. So, under a connection root (an already resolved, symlink-free path):

* :func:`list_glob` walks the glob segment by segment with ``os.scandir`` and never follows a
  symbolic link (files or folders) unless ``follow_symlinks`` — and then only to targets inside
  the root (folder loops are cut). Only regular files are listed: FIFOs, sockets and devices
  never are, whatever their name.
* :func:`open_beneath` opens a listed file by walking its parent folders with
  ``O_DIRECTORY | O_NOFOLLOW`` from the root and the file with ``O_NOFOLLOW | O_NONBLOCK``, then
  checks ``S_ISREG`` on the open descriptor: a file swapped for a symlink (or a folder for a
  link to ``/proc``) between listing and reading fails here instead of being read. Readers that
  run in this process read *that descriptor* through its ``/proc/self/fd`` path (:func:`fd_path`),
  so nothing can be swapped in after the check either.
* :func:`remove_beneath` / :func:`move_beneath` (``after_read: delete | archive``) act through
  descriptors of the parent folders the same way, so a folder swapped for a link cannot redirect
  them.

Lifecycle: :class:`~odibi_stream.connectors.files.FileSource` calls these per plan, read and
commit; nothing here keeps state beyond a call.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

from odibi_stream.exceptions import SourceError

log = logging.getLogger(__name__)

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_PROC_FD = Path("/proc/self/fd")
_MAX_WARNED = 1000


@dataclass(frozen=True)
class Listed:
    """A regular file found by :func:`list_glob`.

    Attributes:
        rel: Path relative to the root, ``/``-separated (for a followed link: the link's path).
        size: Size in bytes.
        mtime_ns: Modification time in nanoseconds.
    """

    rel: str
    size: int
    mtime_ns: int


class _Walk:
    def __init__(self, root: Path, parts: list[str], follow: bool, skip: Path | None) -> None:
        self.root = root
        self.real_root = os.path.realpath(root)
        self.parts = parts
        self.follow = follow
        self.skip = skip
        self.found: dict[str, Listed] = {}
        self.seen_dirs: set[tuple[int, int]] = set()

    def run(self) -> list[Listed]:
        self._step(self.root, (), 0)
        return list(self.found.values())

    def _step(self, folder: Path, rel: tuple[str, ...], i: int) -> None:
        part = self.parts[i]
        if part == "**":
            if i + 1 < len(self.parts):
                self._step(folder, rel, i + 1)  # zero folders
            for name, path, _st in self._entries(folder, want_dir=True):
                if self._enter(path):
                    self._step(path, (*rel, name), i)
            return
        last = i == len(self.parts) - 1
        for name, path, st in self._entries(folder, want_dir=not last, pattern=part):
            if last:
                key = "/".join((*rel, name))
                self.found[key] = Listed(key, st.st_size, st.st_mtime_ns)
            elif self._enter(path):
                self._step(path, (*rel, name), i + 1)

    def _enter(self, path: Path) -> bool:
        if self.skip is not None and (path == self.skip or self.skip in path.parents):
            return False
        try:
            st = os.stat(path)
        except OSError:
            return False
        ident = (st.st_dev, st.st_ino)
        if ident in self.seen_dirs:
            return False  # a loop through a followed link
        self.seen_dirs.add(ident)
        return True

    def _entries(
        self, folder: Path, *, want_dir: bool, pattern: str | None = None
    ) -> Iterator[tuple[str, Path, os.stat_result]]:
        try:
            with os.scandir(folder) as it:
                entries = [e for e in it if pattern is None or fnmatchcase(e.name, pattern)]
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            return
        for entry in entries:
            st = self._kind_ok(entry, want_dir)
            if st is not None:
                yield entry.name, Path(entry.path), st

    def _kind_ok(self, entry: os.DirEntry[str], want_dir: bool) -> os.stat_result | None:
        try:
            st = entry.stat(follow_symlinks=False)
            if stat.S_ISLNK(st.st_mode):
                if not self.follow:
                    _warn_once(entry.path, "symbolic link (follow_symlinks is false)")
                    return None
                if not _inside(os.path.realpath(entry.path), self.real_root):
                    _warn_once(entry.path, "symbolic link to a target outside the connection")
                    return None
                st = os.stat(entry.path)
        except OSError:
            return None  # vanished meanwhile, or a dangling link
        if want_dir:
            return st if stat.S_ISDIR(st.st_mode) else None
        if stat.S_ISREG(st.st_mode):
            return st
        if not stat.S_ISDIR(st.st_mode):
            _warn_once(entry.path, "not a regular file (FIFO, socket or device)")
        return None


_warned: set[str] = set()


def _warn_once(path: str, why: str) -> None:
    if path in _warned or len(_warned) >= _MAX_WARNED:
        return
    _warned.add(path)
    log.warning("skipping %s: %s", path, why)


def _inside(real: str, real_root: str) -> bool:
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)


def list_glob(
    root: Path, parts: list[str], *, follow_symlinks: bool = False, skip: Path | None = None
) -> list[Listed]:
    """Regular files under ``root`` matching the glob ``parts`` (``**`` recursive).

    Args:
        root: The connection root (resolved).
        parts: Glob components relative to ``root`` (no ``..``).
        follow_symlinks: Follow links whose targets are inside ``root``.
        skip: A folder not to descend into (the archive).
    """
    if not parts:
        return []
    return _Walk(root, parts, follow_symlinks, skip).run()


def _real_parts(root: Path, rel: str, follow: bool) -> list[str]:
    """Components to open: ``rel``'s own, or (following links) its target's, inside ``root``."""
    parts = [p for p in rel.split("/") if p]
    if not follow:
        return parts
    real_root = os.path.realpath(root)
    real = os.path.realpath(os.path.join(root, *parts))
    if not _inside(real, real_root) or real == real_root:
        raise _not_regular(rel, "its link target is outside the connection")
    return list(Path(real).relative_to(real_root).parts)


@contextmanager
def _folder_fd(root: Path, parts: list[str], create: bool = False) -> Iterator[int]:
    """A descriptor of ``root/parts`` reached without following any link (mkdir if asked)."""
    fd = os.open(root, _DIR_FLAGS)
    try:
        for part in parts:
            if create:
                with suppress(FileExistsError):
                    os.mkdir(part, 0o777, dir_fd=fd)
            child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = child
        yield fd
    finally:
        os.close(fd)


def open_beneath(root: Path, rel: str, *, follow_symlinks: bool = False) -> int:
    """Open the regular file ``rel`` under ``root`` read-only, following no link; returns an fd.

    Raises:
        SourceError: it is gone, not a regular file, or reached through a link (not retryable).
    """
    parts = _real_parts(root, rel, follow_symlinks)
    try:
        with _folder_fd(root, parts[:-1]) as folder:
            fd = os.open(parts[-1], _FILE_FLAGS, dir_fd=folder)
    except FileNotFoundError:
        raise _not_regular(rel, "it vanished") from None
    except OSError as exc:
        raise _not_regular(rel, f"it was replaced by a link or is unreadable ({exc.strerror})") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise _not_regular(rel, "it is not a regular file")
    return fd


def _not_regular(rel: str, why: str) -> SourceError:
    return SourceError(
        f"file {rel!r} of the planned batch cannot be read safely: {why}",
        retryable=False,
        hint="something changed the landing folder after the batch was planned: restore the "
        "original file, then `odibi-stream retry PROJECT PIPELINE`; or drop the whole batch with "
        "`odibi-stream skip PROJECT PIPELINE` (its other files are then not processed either); "
        "with after_read archive/delete, nothing else may move the files",
    )


def fd_path(fd: int) -> str | None:
    """A path that opens exactly the file of ``fd`` in this process (Linux ``/proc``), if any."""
    return str(_PROC_FD / str(fd)) if _PROC_FD.is_dir() else None


def open_all(root: Path, rels: list[str], stack: ExitStack, follow: bool) -> list[int]:
    """Open every file (see :func:`open_beneath`); ``stack`` closes them."""
    fds = []
    for rel in rels:
        fd = open_beneath(root, rel, follow_symlinks=follow)
        stack.callback(os.close, fd)
        fds.append(fd)
    return fds


def remove_beneath(root: Path, rel: str) -> None:
    """Delete ``rel`` under ``root`` through its folder's descriptor (absent is fine)."""
    parts = [p for p in rel.split("/") if p]
    try:
        with _folder_fd(root, parts[:-1]) as folder:
            os.unlink(parts[-1], dir_fd=folder)
    except FileNotFoundError:
        return


def move_beneath(root: Path, rel: str, target: Path) -> None:
    """Move ``rel`` under ``root`` to ``target/rel`` (creating folders), following no link.

    ``target`` must lie under ``root``. An absent source is fine (moved by an earlier attempt).
    """
    parts = [p for p in rel.split("/") if p]
    dest = list(target.relative_to(root).parts) + parts[:-1]
    try:
        with _folder_fd(root, parts[:-1]) as src, _folder_fd(root, dest, create=True) as dst:
            os.replace(parts[-1], parts[-1], src_dir_fd=src, dst_dir_fd=dst)
    except FileNotFoundError:
        return
