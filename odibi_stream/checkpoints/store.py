"""The CheckpointStore protocol: a durable key-value store of small files.

A store holds the checkpoint of every pipeline of a project under one root. Keys are
``/``-separated relative paths such as ``"orders/offsets/3.json"``; values are the bytes of
small JSON documents (a few KB). Backends: :mod:`~odibi_stream.checkpoints.local` (a local or
mounted file system), :mod:`~odibi_stream.checkpoints.azure_blob` (Azure Blob / ADLS) and
:mod:`~odibi_stream.checkpoints.memory` (tests, embedding); the contract suite
(``odibi_stream.testing.contracts.CheckpointStoreContract``) runs against every backend.

Lifecycle contract:
    * Created once per checkpoint root by the store factory (through
      :class:`~odibi_stream.checkpoints.manager.CheckpointManager`) and shared by every pipeline
      log and lease of that root, from several threads at once; closed once by its owner.
      Every method is thread-safe; ``create`` and ``compare_and_swap`` are also safe between
      processes (two daemons on one root).
    * Every write is durable when it returns: a crash or power loss afterwards keeps it.
    * Readers never observe a torn value: a key is either absent, or holds a complete value
      written by exactly one ``create``/``replace``/``compare_and_swap``.
    * Storage outages raise :class:`~odibi_stream.exceptions.CheckpointUnavailable`
      (retryable). A lost create race raises :class:`~odibi_stream.exceptions.CheckpointConflict`.
    * Keys whose segments start with ``.`` are reserved for the backend (temp and lock files) and
      are never returned by ``list``/``folders``.
"""

from __future__ import annotations

import builtins
from typing import Protocol, runtime_checkable

from odibi_stream.exceptions import CheckpointError


@runtime_checkable
class CheckpointStore(Protocol):
    """Durable key-value storage of small checkpoint files (see the module docstring)."""

    def read(self, key: str) -> bytes | None:
        """Return the value at ``key``, or ``None`` when it does not exist."""
        ...

    def create(self, key: str, data: bytes) -> None:
        """Durably write ``key`` only if it does not exist yet.

        Raises:
            CheckpointConflict: the key already exists (whoever wrote it first wins; the
                existing value is left untouched).
        """
        ...

    def replace(self, key: str, data: bytes) -> None:
        """Atomically and durably overwrite (or create) ``key``."""
        ...

    def compare_and_swap(self, key: str, data: bytes, expected: bytes | None) -> bool:
        """Atomically set ``key`` to ``data`` if its current value equals ``expected``.

        Args:
            key: The key.
            data: The new value.
            expected: The value the caller last saw; ``None`` means "the key must be absent".

        Returns:
            True if the value was written, False if the current value differed.
        """
        ...

    def list(self, prefix: str) -> list[str]:
        """Return the full keys of the values directly inside folder ``prefix``, sorted.

        Sub-folders are not included (see :meth:`folders`). ``""`` is the root. A missing
        folder lists as empty.
        """
        ...

    def folders(self, prefix: str) -> builtins.list[str]:
        """Return the names (last segment only) of the sub-folders of ``prefix``, sorted."""
        ...

    def delete(self, key: str) -> None:
        """Durably delete ``key``; deleting an absent key is not an error."""
        ...

    def describe(self) -> str:
        """Return a printable location such as ``file:///abs/root``; never contains secrets."""
        ...

    def close(self) -> None:
        """Release connections (idempotent); the owner calls it once, when done with the store."""
        ...


def split_key(key: str, *, allow_root: bool = False) -> list[str]:
    """Validate a key (or folder prefix) and return its segments.

    Args:
        key: A ``/``-separated relative path.
        allow_root: Accept ``""`` (the root folder, for ``list``/``folders``).

    Raises:
        CheckpointError: the key is absolute, has empty, ``.``/``..`` or reserved segments.
    """
    stripped = key.strip("/") if allow_root else key
    if stripped == "":
        if allow_root:
            return []
        raise CheckpointError("empty checkpoint key")
    parts = stripped.split("/")
    for part in parts:
        if part == "" or part.startswith(".") or "\\" in part or "\x00" in part:
            raise CheckpointError(f"invalid checkpoint key {key!r}")
    return parts


def join_key(*parts: str) -> str:
    """Join key segments with ``/`` (empty segments are dropped)."""
    return "/".join(p.strip("/") for p in parts if p.strip("/"))
