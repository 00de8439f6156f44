"""AzureBlobCheckpointStore: the CheckpointStore on Azure Blob Storage / ADLS Gen2 (Blob API).

Each key is one block blob ``<prefix>/<key>``. Atomicity comes from the service's conditional
requests, never from locks held by this process, so it holds between processes and hosts:

* ``create`` is one ``Put Blob`` with ``If-None-Match: *``: of several racing writers exactly
  one gets 201, the others 409 (→ :class:`~odibi_stream.exceptions.CheckpointConflict`).
* ``compare_and_swap`` is a ``Put Blob`` with ``If-Match: <etag>`` of the value the caller
  expects (``If-None-Match: *`` when it expects absence); 412/409 → False. The etag of every
  value read or written recently is cached (bounded LRU), so a lease renewal costs one round
  trip; a stale cached etag costs one extra read, never a wrong answer (the comparison is by
  value, the etag only makes the write conditional on that value).
* ``replace`` is an unconditional ``Put Blob`` (atomic for readers: a blob is replaced whole).
* ``list``/``folders`` are one delimiter listing (``prefix/``, ``/``); names whose last segment
  starts with ``.`` are never returned.

A returned write is durable (Azure commits it before answering). Outages (connection errors,
timeouts, 5xx, 408, 429) are retried briefly in-process, then raise
:class:`~odibi_stream.exceptions.CheckpointUnavailable`. A write whose response was lost
(ambiguous) and whose retry then meets a conflict is resolved by reading the key back: if it
holds exactly our bytes, our first attempt won. Authentication/authorisation failures raise
:class:`~odibi_stream.exceptions.CheckpointAccessDenied`, a missing container a terminal
:class:`~odibi_stream.exceptions.CheckpointError`; neither is retried.

Lifecycle: build one store per checkpoint root (:meth:`AzureBlobCheckpointStore.open`) and share
it between threads (one HTTP connection pool); :meth:`close` it on shutdown.
"""

from __future__ import annotations

import builtins
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar

from odibi_stream.checkpoints.store import split_key
from odibi_stream.clients.azure import AzureTarget, ContainerHandle, open_container
from odibi_stream.clients.azure_errors import (
    AUTH_HINT,
    TLS_HINT,
    CallFailed,
    Failure,
    call,
    describe_exc,
)
from odibi_stream.clients.locations import azure_target
from odibi_stream.config.azure_auth import AzureAuth, DefaultAuth
from odibi_stream.config.checkpoint_target import CheckpointTarget
from odibi_stream.exceptions import (
    CheckpointAccessDenied,
    CheckpointConflict,
    CheckpointError,
    CheckpointUnavailable,
)

if TYPE_CHECKING:
    from azure.storage.blob import BlobClient, ContainerClient

T = TypeVar("T")
_CACHE_SIZE = 256
_CAS_ROUNDS = 5


class AzureBlobCheckpointStore:
    """A :class:`~odibi_stream.checkpoints.store.CheckpointStore` in a Blob container.

    Args:
        container: The container client (its pipeline must not retry on its own: this store
            retries, and must know whether an attempt may have been applied).
        prefix: Folder inside the container holding the checkpoint root (``""`` = top level).
        location: Printable location of the root for messages (no secrets).
        handle: The handle that owns ``container`` (closed by :meth:`close`), if any.
        attempts: Tries per operation on outages before CheckpointUnavailable.
        backoff: First pause between tries, seconds (doubles each time).
    """

    def __init__(
        self,
        container: ContainerClient,
        prefix: str = "",
        *,
        location: str = "",
        handle: ContainerHandle | None = None,
        attempts: int = 3,
        backoff: float = 0.1,
    ) -> None:
        self._container = container
        self._prefix = "/".join(split_key(prefix, allow_root=True))
        self._location = location or ContainerHandle(container).describe(self._prefix)
        self._handle = handle
        self._attempts = max(1, attempts)
        self._backoff = backoff
        self._etags: OrderedDict[str, tuple[bytes, str]] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def open(
        cls,
        target: AzureTarget,
        prefix: str = "",
        *,
        ca_file: str | None = None,
        attempts: int = 3,
        backoff: float = 0.1,
    ) -> AzureBlobCheckpointStore:
        """Build a store for ``prefix`` in the target's container (no network I/O).

        Raises:
            ConfigError: the target lacks a container/account or its auth cannot reach storage.
        """
        handle = open_container(target, ca_file=ca_file, retry=False)
        where = handle.describe(prefix)
        return cls(
            handle.client, prefix, location=where, handle=handle, attempts=attempts, backoff=backoff
        )

    # ------------------------------------------------------------------ protocol

    def read(self, key: str) -> bytes | None:
        """Return the bytes at ``key`` or ``None`` when absent (one GET)."""
        name = self._name(key)
        try:
            data, etag = self._run("read", key, lambda: self._download(name))
        except CallFailed as rej:
            if rej.kind is Failure.BLOB_NOT_FOUND:
                self._forget(key)
                return None
            raise self._rejected("read", key, rej) from None
        self._remember(key, data, etag)
        return data

    def create(self, key: str, data: bytes) -> None:
        """Create ``key`` only if absent: one ``Put Blob`` with ``If-None-Match: *``."""
        blob = self._blob(self._name(key))
        try:
            etag = self._run("create", key, lambda: _put(blob, data, if_none_match=True))
        except CallFailed as rej:
            if rej.kind in (Failure.EXISTS, Failure.CONDITION):
                if rej.was_ambiguous and self.read(key) == data:
                    return  # our own earlier attempt landed; its answer was lost
                raise CheckpointConflict(
                    f"checkpoint entry {key!r} already exists in {self._location}",
                    hint="another process (or an older run of this one) wrote it first",
                ) from None
            raise self._rejected("create", key, rej) from None
        self._remember(key, data, etag)

    def replace(self, key: str, data: bytes) -> None:
        """Atomically overwrite (or create) ``key``: one unconditional ``Put Blob``."""
        blob = self._blob(self._name(key))
        try:
            etag = self._run("replace", key, lambda: _put(blob, data))
        except CallFailed as rej:
            raise self._rejected("replace", key, rej) from None
        self._remember(key, data, etag)

    def compare_and_swap(self, key: str, data: bytes, expected: bytes | None) -> bool:
        """Set ``key`` to ``data`` if it holds ``expected`` (``None`` = absent); see module doc."""
        blob = self._blob(self._name(key))
        for _ in range(_CAS_ROUNDS):
            if expected is None:
                return self._cas_put(key, blob, data, None)
            cached = self._cached(key)
            if cached is None or cached[0] != expected:
                current = self.read(key)
                if current != expected:
                    return False
                cached = self._cached(key)
                if cached is None or cached[0] != expected:
                    continue  # changed again under us; look once more
            if self._cas_put(key, blob, data, cached[1]):
                return True
            self._forget(key)  # the etag was stale: re-read and compare by value
        return False

    def list(self, prefix: str) -> list[str]:
        """Keys of the blobs directly inside folder ``prefix``, sorted (one listing)."""
        rel = "/".join(split_key(prefix, allow_root=True))
        names = [n for n, is_dir in self._walk(prefix) if not is_dir]
        return sorted(f"{rel}/{n}" if rel else n for n in names)

    def folders(self, prefix: str) -> builtins.list[str]:
        """Names of the sub-folders of ``prefix``, sorted (one listing)."""
        return sorted(n for n, is_dir in self._walk(prefix) if is_dir)

    def delete(self, key: str) -> None:
        """Delete ``key``; an absent key is fine."""
        blob = self._blob(self._name(key))
        try:
            self._run("delete", key, lambda: blob.delete_blob(delete_snapshots="include"))
        except CallFailed as rej:
            if rej.kind is not Failure.BLOB_NOT_FOUND:
                raise self._rejected("delete", key, rej) from None
        self._forget(key)

    def describe(self) -> str:
        """``az://<account>/<container>/<prefix>`` (plus a non-default endpoint); no secrets."""
        return self._location

    # ------------------------------------------------------------------ extras

    def ensure_container(self) -> None:
        """Create the container if it does not exist (needs account-level permission)."""
        try:
            self._run("create container", "", self._create_container)
        except CallFailed as rej:
            if rej.kind is not Failure.EXISTS:
                raise self._rejected("create container", "", rej) from None

    def probe(self) -> None:
        """Check that the checkpoint location is reachable and readable (one listing call).

        Raises:
            CheckpointUnavailable, CheckpointAccessDenied, CheckpointError: as for any call.
        """
        self._walk("")

    def close(self) -> None:
        """Release the HTTP connection pool (and the credential, if this store owns it)."""
        if self._handle is not None:
            self._handle.close()
        else:
            self._container.close()

    def __enter__(self) -> AzureBlobCheckpointStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ helpers

    def _name(self, key: str) -> str:
        rel = "/".join(split_key(key))
        return f"{self._prefix}/{rel}" if self._prefix else rel

    def _blob(self, name: str) -> BlobClient:
        return self._container.get_blob_client(name)

    def _download(self, name: str) -> tuple[bytes, str]:
        downloader = self._blob(name).download_blob()
        return downloader.readall(), str(downloader.properties.etag)

    def _create_container(self) -> None:
        self._container.create_container()

    def _cas_put(self, key: str, blob: BlobClient, data: bytes, etag: str | None) -> bool:
        try:
            new = self._run(
                "compare_and_swap",
                key,
                lambda: _put(blob, data, if_match=etag, if_none_match=etag is None),
            )
        except CallFailed as rej:
            if rej.kind in (Failure.EXISTS, Failure.CONDITION):
                return bool(rej.was_ambiguous and self.read(key) == data)
            raise self._rejected("compare_and_swap", key, rej) from None
        self._remember(key, data, new)
        return True

    def _walk(self, prefix: str) -> builtins.list[tuple[str, bool]]:
        rel = "/".join(split_key(prefix, allow_root=True))
        start = "/".join(p for p in (self._prefix, rel) if p)
        start = f"{start}/" if start else ""

        def listing() -> builtins.list[tuple[str, bool]]:
            out = []
            for item in self._container.walk_blobs(name_starts_with=start or None, delimiter="/"):
                name = item.name[len(start) :]
                is_dir = name.endswith("/")
                name = name.rstrip("/")
                if name and not name.startswith("."):
                    out.append((name, is_dir))
            return out

        try:
            return self._run("list", prefix or "/", listing)
        except CallFailed as rej:
            raise self._rejected("list", prefix or "/", rej) from None

    def _run(self, op: str, key: str, fn: Callable[[], T]) -> T:
        """Call ``fn``, retrying outages; definite refusals (exists/condition/404) re-raise
        :class:`CallFailed` for the caller to interpret; the rest become checkpoint errors."""
        try:
            return call(fn, attempts=self._attempts, backoff=self._backoff)
        except CallFailed as failed:
            kind, why = failed.kind, describe_exc(failed.exc)
            where = f"checkpoint store {self._location}"
            if kind in (Failure.EXISTS, Failure.CONDITION, Failure.BLOB_NOT_FOUND):
                raise
            if kind is Failure.UNAVAILABLE:
                raise CheckpointUnavailable(
                    f"{where}: {op} {key!r} failed: {why}",
                    hint="Azure storage is unreachable or overloaded; the runtime retries",
                ) from None
            if kind is Failure.AUTH:
                raise CheckpointAccessDenied(
                    f"{where}: {op} {key!r} was refused: {why}", hint=AUTH_HINT
                ) from None
            if kind is Failure.TLS:
                raise CheckpointError(
                    f"{where}: {op} {key!r} failed: {why}", hint=TLS_HINT
                ) from None
            if kind is Failure.CONTAINER_NOT_FOUND:
                raise CheckpointError(
                    f"{where}: the container does not exist",
                    hint="create it (az storage container create) or fix the connection's "
                    "container",
                ) from None
            raise CheckpointError(f"{where}: {op} {key!r} failed: {why}") from None

    def _rejected(self, op: str, key: str, rej: CallFailed) -> CheckpointError:
        return CheckpointError(f"checkpoint store {self._location}: {op} {key!r}: {rej.kind.value}")

    def _remember(self, key: str, data: bytes, etag: str) -> None:
        with self._lock:
            self._etags[key] = (data, etag)
            self._etags.move_to_end(key)
            while len(self._etags) > _CACHE_SIZE:
                self._etags.popitem(last=False)

    def _cached(self, key: str) -> tuple[bytes, str] | None:
        with self._lock:
            return self._etags.get(key)

    def _forget(self, key: str) -> None:
        with self._lock:
            self._etags.pop(key, None)


def _put(
    blob: BlobClient, data: bytes, *, if_match: str | None = None, if_none_match: bool = False
) -> str:
    """One ``Put Blob``; returns the new etag. ``if_none_match`` = create-only."""
    from azure.core import MatchConditions

    kwargs: dict[str, Any] = {"overwrite": True}
    if if_none_match:
        kwargs = {"overwrite": False}  # the SDK sends If-None-Match: *
    elif if_match is not None:
        kwargs.update(etag=if_match, match_condition=MatchConditions.IfNotModified)
    result = blob.upload_blob(data, length=len(data), **kwargs)
    return str(result["etag"])


def open_azure_store(target: CheckpointTarget) -> AzureBlobCheckpointStore:
    """The store of an ``azure`` checkpoint target (the store factory's Azure branch).

    Without a connection the account is reached with ``DefaultAzureCredential``.

    Raises:
        ConfigError: the ``azure`` extra is missing, or the target lacks an account/container.
    """
    conn = target.connection
    if conn is None:
        azure = AzureTarget(target.account, target.container, AzureAuth(default=DefaultAuth()))
    else:  # the connection's endpoint and auth, translated as for its data (clients.locations)
        azure = replace(
            azure_target(conn),
            account_name=target.account or conn.account_name,
            container=target.container,
        )
    return AzureBlobCheckpointStore.open(azure, target.location)
