"""Where a files source's files live: the :class:`FileStore` protocol.

The files source (:mod:`odibi_stream.connectors.files`) plans, bounds, reads and archives
through one of these, so local folders and cloud prefixes share one code path:
:class:`~odibi_stream.connectors.files.LocalFiles` (a local or mounted folder) and
:class:`~odibi_stream.connectors.blob_files.BlobFiles` (an Azure Blob / ADLS prefix, through
the Blob API).

Entries are the JSON-able dicts stored in batch ranges: ``{"path", "size", "mtime_ns"}`` plus
``"etag"`` where the store has one. ``path`` is relative to the connection root with ``/``
separators; ``mtime_ns`` is the last modification (local mtime, or the blob's Last-Modified,
whole seconds) as nanoseconds since the epoch.

Lifecycle: the source spec builds the store when the source is opened; the source calls
:meth:`FileStore.close` when it is closed. ``listing`` and ``has_marker`` are called by
``plan``/``lag`` (the marker check answers from the latest listing where it can),
``fetch`` by ``read``, ``after_read`` by ``on_commit`` (repeated after a crash: it must be
idempotent).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from odibi_stream.engines.base import ReadResult, Reject

Entry = dict[str, Any]

VANISHED_HINT = (
    "restore the original file(s), then `odibi-stream retry PROJECT PIPELINE`; or drop the whole "
    "batch with `odibi-stream skip PROJECT PIPELINE` (its other files are then not processed "
    "either); with after_read archive/delete, nothing else may move the files"
)


def identity(entry: Entry) -> list[Any]:
    """What makes a file *this* version of it: size and mtime, plus the etag if known."""
    ident: list[Any] = [entry["size"], entry["mtime_ns"]]
    if "etag" in entry:
        ident.append(entry["etag"])
    return ident


@dataclass(frozen=True)
class Fetched:
    """Local copies of a batch's files, ready for an engine.

    Attributes:
        paths: Local paths, in range order.
        names: Local path prefix → the name to report instead (for rejects' sources).
        lasting: The paths stay readable after the ``fetch`` block (the files themselves, not
            temporary copies or descriptors), so a deferred read may run after it.
    """

    paths: list[str]
    names: dict[str, str] = field(default_factory=dict)
    lasting: bool = False

    def rename(self, result: ReadResult) -> ReadResult:
        """``result`` with reject sources naming the original files, not the local copies.

        Copies are never :attr:`lasting`, so their reads are eager: the rejects are all here.
        """
        if not self.names or not result.rejects:
            return result
        rejects = [Reject(r.record, r.error, self._name(r.source)) for r in result.rejects]
        return ReadResult(result.frame, rejects, rows=result.rows)

    def _name(self, source: str) -> str:
        for prefix, name in self.names.items():
            if source.startswith(prefix):
                return name + source[len(prefix) :]
        return source


def count_records(path: Path, fmt: str, header: bool) -> int:
    """Count a file's records without parsing it: the parquet footer, else lines.

    Args:
        path: The file.
        fmt: Its format.
        header: The first line is a header, not a record (csv with ``header: true``).
    """
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)
    lines = 0
    last = b"\n"
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    if last != b"\n":
        lines += 1  # a final line without a newline
    return max(0, lines - 1) if header else lines


class FileStore(Protocol):
    """A folder of files a files source reads (see the module docstring for the lifecycle)."""

    def listing(self) -> list[Entry]:
        """Every data file matching the glob, in any order (the source orders what it plans);
        no marker files, no names starting with ``.``/``_``, nothing under ``archive_path``."""
        ...

    def has_marker(self, name: str) -> bool:
        """True if the marker file ``name`` (relative to the root) exists."""
        ...

    def count(self, entry: Entry, fmt: str, header: bool) -> int:
        """Records in the file; ``header``: its first line is a CSV header, not a record
        (see :func:`odibi_stream.connectors.files.count_records`)."""
        ...

    def fetch(self, entries: Sequence[Entry]) -> AbstractContextManager[Fetched]:
        """Local paths holding exactly these versions of the files, for the block's duration.

        Raises:
            SourceError: a file vanished or changed since it was planned (not retryable).
        """
        ...

    def after_read(self, name: str, action: str, etag: str | None = None) -> None:
        """Archive or delete ``name`` (``action`` = ``archive``/``delete``); a file already
        gone is fine; a file rewritten since (``etag`` differs) is left alone."""
        ...

    def describe(self) -> str:
        """Printable location of the root (no secrets)."""
        ...

    def close(self) -> None:
        """Release the store's client (idempotent)."""
        ...
