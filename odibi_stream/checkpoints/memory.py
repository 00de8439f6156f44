"""MemoryCheckpointStore: the CheckpointStore contract in process memory.

For tests and embedding (``checkpoint: {root: "memory://NAME"}``): stores of the same name in
one process share their data, so a daemon and a ``checkpoint`` command in the same test see the
same checkpoints. Nothing survives the process, so it offers no crash recovery — never use it
for data you care about. One lock guards everything: operations are atomic with respect to each
other, which is exactly the contract's guarantee (create-exclusive, compare-and-swap).
"""

from __future__ import annotations

import builtins
import threading

from odibi_stream.checkpoints.store import split_key
from odibi_stream.exceptions import CheckpointConflict

_registry_lock = threading.Lock()
_registry: dict[str, tuple[dict[str, bytes], threading.Lock]] = {}


class MemoryCheckpointStore:
    """A :class:`~odibi_stream.checkpoints.store.CheckpointStore` held in a dict.

    Args:
        name: Stores created with the same name in one process share their contents;
            ``None`` makes a private store.
    """

    def __init__(self, name: str | None = None) -> None:
        self.name = name or f"private-{id(self):x}"
        if name is None:
            self._data: dict[str, bytes] = {}
            self._lock = threading.Lock()
        else:
            with _registry_lock:
                self._data, self._lock = _registry.setdefault(name, ({}, threading.Lock()))

    def read(self, key: str) -> bytes | None:
        """See ``CheckpointStore.read``."""
        split_key(key)
        with self._lock:
            return self._data.get(key)

    def create(self, key: str, data: bytes) -> None:
        """See ``CheckpointStore.create``."""
        split_key(key)
        with self._lock:
            if key in self._data:
                raise CheckpointConflict(f"checkpoint entry {key!r} already exists in {self.describe()}")
            self._data[key] = bytes(data)

    def replace(self, key: str, data: bytes) -> None:
        """See ``CheckpointStore.replace``."""
        split_key(key)
        with self._lock:
            self._data[key] = bytes(data)

    def compare_and_swap(self, key: str, data: bytes, expected: bytes | None) -> bool:
        """See ``CheckpointStore.compare_and_swap``."""
        split_key(key)
        with self._lock:
            if self._data.get(key) != expected:
                return False
            self._data[key] = bytes(data)
            return True

    def list(self, prefix: str) -> list[str]:
        """See ``CheckpointStore.list``."""
        parts = split_key(prefix, allow_root=True)
        depth = len(parts)
        with self._lock:
            keys = list(self._data)
        return sorted(k for k in keys if k.split("/")[:depth] == parts and k.count("/") == depth)

    def folders(self, prefix: str) -> builtins.list[str]:
        """See ``CheckpointStore.folders``."""
        parts = split_key(prefix, allow_root=True)
        depth = len(parts)
        with self._lock:
            keys = list(self._data)
        return sorted({k.split("/")[depth] for k in keys if k.split("/")[:depth] == parts and k.count("/") > depth})

    def delete(self, key: str) -> None:
        """See ``CheckpointStore.delete``."""
        split_key(key)
        with self._lock:
            self._data.pop(key, None)

    def describe(self) -> str:
        """``memory://<name>``."""
        return f"memory://{self.name}"

    def close(self) -> None:
        """Nothing to release (the data stays for other stores of the same name)."""
