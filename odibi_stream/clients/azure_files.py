"""A small Blob "file system": list, glob, download, create-exclusive upload, copy, delete.

For cloud landing zones (the files source), file sinks and dead letters. Names are relative to a
root folder inside one container (``/``-separated). Works on flat Blob accounts and ADLS Gen2
(HNS) alike, through the Blob API; on HNS accounts the zero-length directory placeholders
(metadata ``hdi_isfolder=true``) are not files and are skipped.

A file's identity is ``(name, etag, size, last_modified)``; etags are always in their quoted form
(listings return them bare, headers quoted). ``last_modified`` is a timezone-aware
UTC datetime with *one-second* resolution (HTTP dates): the etag, not the time, detects a
rewrite. Conditional variants (``etag=``) of read/copy/delete fail with
:class:`~odibi_stream.clients.azure_errors.BlobChanged` if the blob changed since it was listed,
so a file rewritten after planning is never archived/deleted unread.

Errors: every call retries outages briefly, then raises a retryable
:class:`~odibi_stream.clients.azure_errors.AzureStorageError`; not-found, already-exists,
changed, auth and missing-container failures are terminal subclasses/instances (see
:func:`~odibi_stream.clients.azure_errors.file_error`).

Lifecycle: one :class:`BlobFileSystem` per connection root, shared between threads; ``close()``.
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar

from odibi_stream.clients.azure import AzureTarget, ContainerHandle, open_container, resolve
from odibi_stream.clients.azure_errors import (
    AzureStorageError,
    CallFailed,
    Failure,
    call,
    file_error,
)
from odibi_stream.clients.globbing import glob_base, glob_regex

if TYPE_CHECKING:
    from azure.storage.blob import BlobClient, ContainerClient

T = TypeVar("T")
_COPY_TIMEOUT = 300.0


@dataclass(frozen=True)
class BlobFile:
    """One listed blob. ``name`` is relative to the file system root."""

    name: str
    size: int
    etag: str
    last_modified: datetime


class BlobFileSystem:
    """Files under ``root`` in one container (see the module docstring).

    Args:
        container: A container client whose pipeline does not retry by itself.
        root: Folder inside the container that names are relative to (``""`` = top).
        location: Printable location of the root for messages (no secrets).
        handle: The handle owning ``container`` (closed by :meth:`close`), if any.
        source_sas: The SAS the client authenticates with, if any (server-side copies must
            present it on the source URL).
        attempts: Tries per call on outages.
        backoff: First pause between tries, seconds (doubles).
    """

    def __init__(
        self,
        container: ContainerClient,
        root: str = "",
        *,
        location: str = "",
        handle: ContainerHandle | None = None,
        source_sas: str | None = None,
        attempts: int = 4,
        backoff: float = 0.25,
    ) -> None:
        self._container = container
        self._root = root.strip("/")
        self.location = location or ContainerHandle(container).describe(self._root)
        self._handle = handle
        self._sas = source_sas
        self._attempts = attempts
        self._backoff = backoff

    @classmethod
    def open(
        cls,
        target: AzureTarget,
        root: str = "",
        *,
        ca_file: str | None = None,
        attempts: int = 4,
        backoff: float = 0.25,
    ) -> BlobFileSystem:
        """Build a file system on the target's container (no network I/O)."""
        handle = open_container(target, ca_file=ca_file, retry=False)
        return cls(
            handle.client,
            root,
            location=handle.describe(root),
            handle=handle,
            source_sas=resolve(target).sas_token,
            attempts=attempts,
            backoff=backoff,
        )

    # ------------------------------------------------------------------ listing

    def list(self, prefix: str = "", *, recursive: bool = False) -> list[BlobFile]:
        """Files directly in folder ``prefix`` (or anywhere below it if ``recursive``),
        sorted by name."""
        start = self._full(prefix.strip("/"))
        start = f"{start}/" if start else ""

        def listing() -> list[BlobFile]:
            if recursive:
                items: Any = self._container.list_blobs(
                    name_starts_with=start or None, include=["metadata"]
                )
            else:
                items = self._container.walk_blobs(
                    name_starts_with=start or None, delimiter="/", include=["metadata"]
                )
            return [self._file(b) for b in items if _is_file(b)]

        return sorted(self._call("list", prefix or "/", listing), key=lambda f: f.name)

    def glob(self, pattern: str) -> builtins.list[BlobFile]:
        """Files whose relative name matches ``pattern`` (see :func:`glob_regex`), by name."""
        base, recursive = glob_base(pattern)
        rx = glob_regex(pattern)
        return [f for f in self.list(base, recursive=recursive) if rx.match(f.name)]

    def stat(self, name: str) -> BlobFile | None:
        """The file's current identity, or None if it does not exist."""
        blob = self._blob(name)
        try:
            props = self._call("stat", name, blob.get_blob_properties, missing=True)
        except _Missing:
            return None
        return BlobFile(name, int(props.size), _etag(props.etag), _utc(props.last_modified))

    def exists(self, name: str) -> bool:
        """True if ``name`` exists."""
        return self.stat(name) is not None

    # ------------------------------------------------------------------ reading

    def read_bytes(self, name: str, *, etag: str | None = None) -> bytes:
        """The whole content of ``name`` (only if its etag is still ``etag``, when given)."""
        blob = self._blob(name)
        return self._call("read", name, lambda: blob.download_blob(**_if_match(etag)).readall())

    def download(self, name: str, dest: str | os.PathLike[str], *, etag: str | None = None) -> Path:
        """Download ``name`` to the local file ``dest`` (overwritten); returns its path."""
        blob, path = self._blob(name), Path(dest)

        def fetch() -> Path:
            with open(path, "wb") as fh:
                blob.download_blob(**_if_match(etag)).readinto(fh)
            return path

        return self._call("download", name, fetch)

    @contextlib.contextmanager
    def temp_download(
        self, name: str, *, etag: str | None = None, folder: str | None = None
    ) -> Iterator[Path]:
        """Download ``name`` to a temporary file (same suffix), yield its path, delete it."""
        fd, tmp = tempfile.mkstemp(suffix=Path(name).suffix, dir=folder, prefix=".odibi-")
        os.close(fd)
        try:
            yield self.download(name, tmp, etag=etag)
        finally:
            Path(tmp).unlink(missing_ok=True)

    # ------------------------------------------------------------------ writing

    def upload(
        self, name: str, data: bytes | str | os.PathLike[str], *, overwrite: bool = False
    ) -> BlobFile:
        """Upload bytes or a local file to ``name``; create-exclusive unless ``overwrite``.

        A create whose first attempt's answer was lost and whose retry finds the name taken
        counts as ours when the stored MD5 and size equal the upload's.

        Raises:
            BlobAlreadyExists: ``name`` exists (create-exclusive only).
        """
        from azure.storage.blob import ContentSettings

        blob = self._blob(name)
        size, md5 = _measure(data)
        settings = ContentSettings(content_md5=bytearray(md5))

        def put() -> dict[str, Any]:
            with _body(data) as body:
                result: dict[str, Any] = blob.upload_blob(
                    body, length=size, overwrite=overwrite, content_settings=settings
                )
                return result

        try:
            res = call(put, attempts=self._attempts, backoff=self._backoff)
        except CallFailed as failed:
            if failed.kind is Failure.EXISTS and failed.was_ambiguous:
                mine = self._same_content(blob, size, md5)
                if mine is not None:
                    return BlobFile(name, size, *mine)
            raise file_error("upload", name, self.location, failed) from None
        return BlobFile(name, size, _etag(res["etag"]), _utc(res["last_modified"]))

    def copy(self, src: str, dst: str, *, etag: str | None = None) -> None:
        """Server-side copy ``src`` → ``dst`` (overwriting ``dst``), waiting for completion.

        Raises:
            BlobNotFound: ``src`` does not exist.
            BlobChanged: ``src`` no longer has ``etag``.
        """
        from azure.core import MatchConditions

        source, target = self._blob(src), self._blob(dst)
        url = f"{source.url}?{self._sas}" if self._sas else source.url
        kwargs: dict[str, Any] = {}
        if etag is not None:
            kwargs = {"source_etag": etag, "source_match_condition": MatchConditions.IfNotModified}
        started = self._call("copy", src, lambda: target.start_copy_from_url(url, **kwargs))
        if started.get("copy_status") != "success":
            self._await_copy(target, dst)

    def delete(self, name: str, *, etag: str | None = None) -> bool:
        """Delete ``name`` (only if its etag is still ``etag``, when given).

        Returns:
            False if it did not exist.
        """
        blob = self._blob(name)
        try:
            self._call(
                "delete",
                name,
                lambda: blob.delete_blob(delete_snapshots="include", **_if_match(etag)),
                missing=True,
            )
        except _Missing:
            return False
        return True

    def close(self) -> None:
        """Release the connection pool (and the owned credential)."""
        if self._handle is not None:
            self._handle.close()
        else:
            self._container.close()

    def __enter__(self) -> BlobFileSystem:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ helpers

    def _full(self, name: str) -> str:
        name = name.strip("/")
        return f"{self._root}/{name}".strip("/") if self._root else name

    def _blob(self, name: str) -> BlobClient:
        if not name.strip("/"):
            raise AzureStorageError(f"{self.location}: empty blob name", retryable=False)
        return self._container.get_blob_client(self._full(name))

    def _file(self, item: Any) -> BlobFile:
        rel = item.name[len(self._root) + 1 :] if self._root else item.name
        return BlobFile(rel, int(item.size), _etag(item.etag), _utc(item.last_modified))

    def _call(self, op: str, name: str, fn: Callable[[], T], *, missing: bool = False) -> T:
        try:
            return call(fn, attempts=self._attempts, backoff=self._backoff)
        except CallFailed as failed:
            if missing and failed.kind is Failure.BLOB_NOT_FOUND:
                raise _Missing() from None
            raise file_error(op, name, self.location, failed) from None

    def _same_content(self, blob: BlobClient, size: int, md5: bytes) -> tuple[str, datetime] | None:
        try:
            props = call(blob.get_blob_properties, attempts=self._attempts, backoff=self._backoff)
        except CallFailed:
            return None
        stored = props.content_settings.content_md5
        if int(props.size) == size and stored is not None and bytes(stored) == md5:
            return _etag(props.etag), _utc(props.last_modified)
        return None

    def _await_copy(self, target: BlobClient, dst: str) -> None:
        deadline = time.monotonic() + _COPY_TIMEOUT
        while True:
            props = self._call("copy", dst, target.get_blob_properties)
            status = props.copy.status
            if status == "success":
                return
            if status in ("failed", "aborted") or time.monotonic() > deadline:
                raise AzureStorageError(
                    f"{self.location}: copy to {dst!r} ended {status or 'without finishing'}",
                    retryable=True,
                )
            time.sleep(0.2)  # the service offers no completion notification; poll


class _Missing(Exception):
    """Internal: the blob does not exist (turned into None/False by the public methods)."""


def _is_file(item: Any) -> bool:
    if item.name.endswith("/") or not hasattr(item, "size"):
        return False  # a BlobPrefix (virtual folder)
    meta = getattr(item, "metadata", None) or {}
    return str(meta.get("hdi_isfolder", "")).lower() != "true"


def _etag(value: object) -> str:
    # Listings return etags bare (0x8D...), response headers quoted ("0x8D..."): one form, the
    # quoted one conditional headers expect, so identities from either compare equal.
    return '"' + str(value).strip('"') + '"'


def _utc(value: datetime) -> datetime:
    return (
        value.replace(tzinfo=timezone.utc)
        if value.tzinfo is None
        else value.astimezone(timezone.utc)
    )


def _if_match(etag: str | None) -> dict[str, Any]:
    if etag is None:
        return {}
    from azure.core import MatchConditions

    return {"etag": etag, "match_condition": MatchConditions.IfNotModified}


def _measure(data: bytes | str | os.PathLike[str]) -> tuple[int, bytes]:
    """(size, MD5) of bytes or a local file (the MD5 is stored with the blob)."""
    if isinstance(data, bytes):
        return len(data), hashlib.md5(data, usedforsecurity=False).digest()
    digest = hashlib.md5(usedforsecurity=False)
    size = 0
    with open(data, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.digest()


@contextlib.contextmanager
def _body(data: bytes | str | os.PathLike[str]) -> Iterator[bytes | IO[bytes]]:
    # A fresh file object per attempt: a retried upload must start from the first byte.
    if isinstance(data, bytes):
        yield data
        return
    with open(data, "rb") as fh:
        yield fh
