"""LocalCheckpointStore: the CheckpointStore on a local (POSIX) file system.

Atomicity comes from the file system, not from locks held by this process:

* ``create`` writes a hidden temp file in the target folder, fsyncs it and ``os.link``\\ s it to
  the final name. ``link`` fails if the name exists, so exactly one of several racing writers
  (threads or processes) wins, and the final name only ever points at a complete file.
* ``replace`` writes a temp file and ``os.replace``\\ s it over the final name (atomic rename).
* ``compare_and_swap`` serialises read-compare-replace with an ``flock`` on a hidden lock file
  per key, which excludes other threads and other processes alike. The lock is waited for at
  most ``lock_timeout`` seconds: a lock held by a foreign process (another local user running
  ``flock`` on it) is a :class:`~odibi_stream.exceptions.CheckpointUnavailable` naming the
  holder's pid, reported at once instead of blocking lease renewal silently.
* After each rename/link/unlink the folder is fsynced, so the directory entry is durable too.

Permissions: files are created with ``file_mode`` (``checkpoint.file_mode``, default 0600) and
folders with ``dir_mode`` (``checkpoint.dir_mode``, default 0700), set explicitly rather than
left to the umask; lock files are always 0600 and opened without following symlinks.

Temp and lock files start with ``.`` and are never listed; leftover temp files from a crash are
harmless.
"""

from __future__ import annotations

import builtins
import fcntl
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from odibi_stream.checkpoints.lock_holder import flock_holder
from odibi_stream.checkpoints.store import split_key
from odibi_stream.exceptions import CheckpointConflict, CheckpointUnavailable

DEFAULT_FILE_MODE = 0o600
DEFAULT_DIR_MODE = 0o700
LOCK_MODE = 0o600
DEFAULT_LOCK_TIMEOUT = 2.0
"""Our own critical sections take milliseconds; anything longer is a foreign lock holder."""


class LocalCheckpointStore:
    """A :class:`~odibi_stream.checkpoints.store.CheckpointStore` rooted at a local folder.

    Args:
        root: The checkpoint root folder; created on first write.
        file_mode: Permissions of the files it creates.
        dir_mode: Permissions of the folders it creates.
        lock_timeout: Seconds ``compare_and_swap`` waits for a key's lock file.
    """

    def __init__(
        self,
        root: Path,
        *,
        file_mode: int = DEFAULT_FILE_MODE,
        dir_mode: int = DEFAULT_DIR_MODE,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    ) -> None:
        self.root = Path(root).absolute()
        self.file_mode = file_mode
        self.dir_mode = dir_mode
        self.lock_timeout = lock_timeout
        self._known_dirs: set[Path] = set()
        self._dirs_lock = threading.Lock()

    # ------------------------------------------------------------------ protocol

    def read(self, key: str) -> bytes | None:
        """Return the bytes at ``key`` or ``None`` when absent."""
        path = self._path(key)
        try:
            with open(path, "rb") as f:
                return f.read()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise self._unavailable("read", key, exc) from exc

    def create(self, key: str, data: bytes) -> None:
        """Create ``key`` exclusively and durably (temp file + fsync + link + fsync dir)."""
        path = self._path(key)
        try:
            tmp = self._write_temp(path, data)
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise CheckpointConflict(
                    f"checkpoint entry {key!r} already exists in {self.describe()}",
                    hint="another process (or an older run of this one) wrote it first",
                ) from None
            finally:
                tmp.unlink(missing_ok=True)
            _fsync_dir(path.parent)
        except OSError as exc:
            raise self._unavailable("create", key, exc) from exc

    def replace(self, key: str, data: bytes) -> None:
        """Atomically and durably overwrite ``key`` (temp file + fsync + rename + fsync dir)."""
        path = self._path(key)
        try:
            self._replace_path(path, data)
        except OSError as exc:
            raise self._unavailable("replace", key, exc) from exc

    def compare_and_swap(self, key: str, data: bytes, expected: bytes | None) -> bool:
        """Replace ``key`` only if it currently holds ``expected`` (``None`` = absent)."""
        path = self._path(key)
        try:
            self._ensure_dir(path.parent)
            with self._key_lock(path):
                current = self.read(key)
                if current != expected:
                    return False
                self._replace_path(path, data)
                return True
        except OSError as exc:
            raise self._unavailable("compare_and_swap", key, exc) from exc

    def list(self, prefix: str) -> list[str]:
        """Return the keys of the files directly inside folder ``prefix``, sorted."""
        parts = split_key(prefix, allow_root=True)
        folder = self.root.joinpath(*parts)
        base = "/".join(parts)
        names = [e.name for e in self._scan(folder, prefix) if e.is_file(follow_symlinks=False)]
        return sorted(f"{base}/{n}" if base else n for n in names)

    def folders(self, prefix: str) -> builtins.list[str]:
        """Return the names of the sub-folders of ``prefix``, sorted."""
        folder = self.root.joinpath(*split_key(prefix, allow_root=True))
        return sorted(e.name for e in self._scan(folder, prefix) if e.is_dir(follow_symlinks=False))

    def delete(self, key: str) -> None:
        """Delete ``key`` durably; an absent key is fine."""
        path = self._path(key)
        try:
            path.unlink()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise self._unavailable("delete", key, exc) from exc
        try:
            _fsync_dir(path.parent)
        except OSError as exc:
            raise self._unavailable("delete", key, exc) from exc

    def describe(self) -> str:
        """Return ``file:///abs/root``."""
        return self.root.as_uri()

    def close(self) -> None:
        """Nothing to release: every call opens and closes its own files."""

    # ------------------------------------------------------------------ helpers

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*split_key(key))

    def _scan(self, folder: Path, prefix: str) -> Iterator[os.DirEntry[str]]:
        try:
            with os.scandir(folder) as it:
                entries = [e for e in it if not e.name.startswith(".")]
        except (FileNotFoundError, NotADirectoryError):
            return iter(())
        except OSError as exc:
            raise self._unavailable("list", prefix, exc) from exc
        return iter(entries)

    def _ensure_dir(self, folder: Path) -> None:
        # Remembering created folders keeps the hot path (one create per batch) to one mkdir
        # check per folder per process.
        if folder in self._known_dirs:
            return
        missing: list[Path] = []
        probe = folder
        while not probe.exists():
            missing.append(probe)
            probe = probe.parent
        for d in reversed(missing):
            d.mkdir(mode=self.dir_mode, exist_ok=True)
            _set_mode(os.chmod, d, self.dir_mode)
            _fsync_dir(d.parent)  # the new folder's entry must survive a crash too
        with self._dirs_lock:
            self._known_dirs.add(folder)

    def _write_temp(self, path: Path, data: bytes) -> Path:
        tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex}")
        self._ensure_dir(path.parent)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
        try:
            fd = os.open(tmp, flags, self.file_mode)
        except FileNotFoundError:
            # The folder was removed behind our back (an operator cleaned up): recreate it.
            with self._dirs_lock:
                self._known_dirs.discard(path.parent)
            self._ensure_dir(path.parent)
            fd = os.open(tmp, flags, self.file_mode)
        try:
            _set_mode(os.fchmod, fd, self.file_mode)
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        os.close(fd)
        return tmp

    def _replace_path(self, path: Path, data: bytes) -> None:
        tmp = self._write_temp(path, data)
        try:
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_dir(path.parent)

    @contextmanager
    def _key_lock(self, path: Path) -> Iterator[None]:
        # flock locks belong to the open file description, so each call opening the lock file
        # afresh excludes other threads of this process as well as other processes.
        lock_path = path.with_name(f".{path.name}.lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, LOCK_MODE)
        try:
            self._flock(fd, lock_path)
            yield
        finally:
            os.close(fd)  # closing releases the flock

    def _flock(self, fd: int, lock_path: Path) -> None:
        """Take the exclusive flock, waiting at most ``lock_timeout`` (polling, short naps)."""
        deadline = time.monotonic() + self.lock_timeout
        nap = 0.001
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    break
            time.sleep(nap)
            nap = min(nap * 2, 0.05)
        holder = flock_holder(fd)
        who = f"process {holder}" if holder else "another process"
        raise CheckpointUnavailable(
            f"checkpoint store {self.describe()}: lock file {lock_path.name} is held by {who} "
            f"for more than {self.lock_timeout:g}s",
            hint=f"a foreign process locks {lock_path}; stop it (e.g. `fuser -v {lock_path}`) — "
            "the lease cannot be renewed meanwhile",
        )

    def _unavailable(self, op: str, key: str, exc: OSError) -> CheckpointUnavailable:
        return CheckpointUnavailable(
            f"checkpoint store {self.describe()}: {op} {key!r} failed: {exc.strerror or exc}",
            hint="check that the checkpoint folder is reachable, writable and not full",
        )


def _set_mode(change: Callable[[Any, int], None], target: Any, mode: int) -> None:
    """Set exactly the configured mode (whatever the umask); a file system without POSIX
    permissions (some network mounts) refuses, and then its own rules apply."""
    with suppress(PermissionError, NotImplementedError):
        change(target, mode)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
