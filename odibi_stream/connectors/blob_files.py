"""A files source's folder on Azure Blob Storage / ADLS Gen2, through the Blob API.

:class:`BlobFiles` is the :class:`~odibi_stream.connectors.file_store.FileStore` of a cloud
landing zone: one prefix listing per plan (a delimiter listing of the glob's literal folder, or
a flat one below it for ``**``), works on flat and hierarchical accounts alike.

* **Identity** = path + etag + size + Last-Modified (``mtime_ns``, whole seconds). The etag is
  what detects a rewrite; reads are conditional on it (``If-Match``), so a batch reads exactly
  the versions it planned, or fails (not retryable) if a file changed or vanished since.
* **Settle rule**: Last-Modified at least ``settle_seconds`` old by the spec's clock (the
  storage service's clock sets Last-Modified: keep ``settle_seconds`` above the skew), or the
  marker ``<file><marker_suffix>`` is in the same listing.
* **Reading**: each batch's files are downloaded, in parallel, into a private temporary folder
  that is deleted when the engine has read them (both engines materialise reads), and the
  engine reads local files — the same readers, rejects and types as for local folders. Reject
  sources name the blob (its ABFS URI), not the temporary copy.
* **after_read** ``archive``: server-side copy to ``archive_path/<rel>`` then delete, both
  conditional on the planned etag; ``delete``: conditional delete. Repeated after a crash, a
  missing source means "done"; a file rewritten since is left in place (it is new data).
* **Wake-ups**: :func:`listing_watch` returns a :class:`~odibi_stream.core.wake.PollWatch`
  whose probe is the listing's digest (names, etags, which files are settled). Under a
  ``file_watch`` trigger it is polled every ``file_watch.reconcile_seconds``; interval and cron
  triggers need no probe. Event-driven notification (Event Grid → queue) is a later step.

Lifecycle: one :class:`BlobFiles` per opened source (and one per started probe), each owning a
:class:`~odibi_stream.clients.azure_files.BlobFileSystem` until :meth:`BlobFiles.close`.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from odibi_stream.clients.azure_errors import BlobChanged, BlobNotFound
from odibi_stream.clients.azure_options import abfs_uri
from odibi_stream.clients.globbing import glob_base, glob_regex
from odibi_stream.clients.locations import BlobRoot
from odibi_stream.config.models import IncrementalConfig, ReadConfig
from odibi_stream.connectors.file_store import VANISHED_HINT, Entry, Fetched
from odibi_stream.connectors.paths import path_parts
from odibi_stream.core.clock import SYSTEM_CLOCK, Clock
from odibi_stream.core.wake import PollWatch
from odibi_stream.exceptions import SourceError

if TYPE_CHECKING:
    from odibi_stream.clients.azure_files import BlobFile, BlobFileSystem

log = logging.getLogger(__name__)
MAX_DOWNLOADS = 8
DEFAULT_POLL_SECONDS = 5.0
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def mtime_ns(when: datetime) -> int:
    """Nanoseconds since the epoch of an aware datetime (exact for whole microseconds)."""
    return (when - _EPOCH) // timedelta(microseconds=1) * 1000


class BlobFiles:
    """The FileStore of a Blob/ADLS prefix (see the module docstring); also a listing probe.

    Args:
        root: The read location's Blob view: ``base`` is the connection root the glob
            (``path``) and ``archive_path`` are relative to.
        read: The read node's settings (glob, incremental).
        clock: Clock of the settle rule (the probe reports which files are settled).
        fs: An open file system on ``root.base`` (tests); default: opened from ``root``.
    """

    def __init__(
        self,
        root: BlobRoot,
        read: ReadConfig,
        clock: Clock = SYSTEM_CLOCK,
        fs: BlobFileSystem | None = None,
    ) -> None:
        assert read.path is not None and read.incremental is not None  # validated by the spec
        self._root = root
        self._fs = fs if fs is not None else root.open()
        pattern = "/".join(path_parts(read.path))
        self._folder, self._recursive = glob_base(pattern)
        self._match = glob_regex(pattern)
        self._inc: IncrementalConfig = read.incremental
        archive = self._inc.archive_path
        self._archive = "/".join(path_parts(archive)) + "/" if archive else None
        self._clock = clock
        self._names: set[str] = set()

    def describe(self) -> str:
        """The prefix, as ``az://account/container/base`` (no secrets)."""
        return self._root.describe("")

    # ------------------------------------------------------------------ listing

    def _is_data(self, name: str) -> bool:
        base = name.rsplit("/", 1)[-1]
        if base.startswith((".", "_")) or not self._match.match(name):
            return False
        suffix = self._inc.marker_suffix
        if suffix and name.endswith(suffix):
            return False
        return not (self._archive is not None and name.startswith(self._archive))

    def _list(self) -> list[BlobFile]:
        files = self._fs.list(self._folder, recursive=self._recursive)
        self._names = {f.name for f in files}
        return files

    def listing(self) -> list[Entry]:
        """Data files matching the glob, with identity, ordered by (mtime, path)."""
        found = [
            {"path": f.name, "size": f.size, "mtime_ns": mtime_ns(f.last_modified), "etag": f.etag}
            for f in self._list()
            if self._is_data(f.name)
        ]
        return sorted(found, key=lambda f: (f["mtime_ns"], f["path"]))

    def has_marker(self, name: str) -> bool:
        """True if ``name`` was in the latest listing (markers sit next to their files)."""
        return name in self._names

    def positions(self) -> str:
        """Probe: a digest of the data files' names and etags and which are settled now, so
        a new file, a rewrite, a marker or a file becoming settled all change it."""
        digest = hashlib.sha256()
        now = self._clock.time()
        for f in self.listing():
            marker = self._inc.marker_suffix
            settled = (marker is not None and self.has_marker(f["path"] + marker)) or (
                now - f["mtime_ns"] / 1e9 >= self._inc.settle_seconds
            )
            digest.update(f"{f['path']}\0{f['etag']}\0{int(settled)}\n".encode())
        return digest.hexdigest()

    # ------------------------------------------------------------------ reading

    def count(self, entry: Entry, fmt: str, header: bool) -> int:
        """Records in the file (downloaded once to count; the source caches the answer)."""
        from odibi_stream.connectors.files import count_records

        with self._fs.temp_download(entry["path"], etag=entry.get("etag")) as path:
            return count_records(path, fmt, header)

    @contextlib.contextmanager
    def fetch(self, entries: Sequence[Entry]) -> Iterator[Fetched]:
        """Download exactly the planned versions into a temporary folder, in parallel.

        Raises:
            SourceError: a file vanished or changed since planning (not retryable).
            AzureStorageError: storage unreachable (retryable).
        """
        folder = Path(tempfile.mkdtemp(prefix="odibi-blob-"))
        try:
            locals_ = [folder / f["path"] for f in entries]
            for path in locals_:
                path.parent.mkdir(parents=True, exist_ok=True)
            jobs = list(zip(entries, locals_, strict=True))
            try:
                if len(jobs) <= 1:
                    for entry, path in jobs:
                        self._download(entry, path)
                else:
                    workers = min(MAX_DOWNLOADS, len(jobs))
                    with ThreadPoolExecutor(workers, thread_name_prefix="odibi-blob") as pool:
                        list(pool.map(lambda job: self._download(*job), jobs))
            except (BlobNotFound, BlobChanged) as exc:
                raise SourceError(
                    f"a file of the planned batch vanished or changed: {exc.message}",
                    retryable=False,
                    hint=VANISHED_HINT,
                ) from exc
            prefix = abfs_uri(self._root.target, self._root.base)
            yield Fetched([str(p) for p in locals_], {f"{folder}/": f"{prefix}/"})
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def _download(self, entry: Entry, path: Path) -> None:
        self._fs.download(entry["path"], path, etag=entry.get("etag"))

    # ------------------------------------------------------------------ after_read

    def after_read(self, name: str, action: str, etag: str | None = None) -> None:
        """Delete, or copy under ``archive_path`` and delete; conditional on ``etag``."""
        try:
            if action == "archive":
                assert self._archive is not None  # config validation requires archive_path
                self._fs.copy(name, self._archive + name, etag=etag)
            self._fs.delete(name, etag=etag)
        except BlobNotFound:
            return  # done by an earlier (crashed) attempt
        except BlobChanged:
            log.warning("%s: %s was rewritten since it was read; left in place", self.describe(), name)

    def close(self) -> None:
        """Close the file system's connection pool."""
        self._fs.close()


def listing_watch(root: BlobRoot, read: ReadConfig, clock: Clock = SYSTEM_CLOCK) -> PollWatch:
    """The wake-up of a cloud folder: poll the listing (see the module docstring)."""
    return PollWatch(
        open_probe=lambda: BlobFiles(root, read, clock),
        name=f"files:{root.describe()}",
        default_interval=DEFAULT_POLL_SECONDS,
        folder=True,
    )
