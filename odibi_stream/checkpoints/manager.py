"""CheckpointManager: the checkpoint store and pipeline logs of one project.

Lifecycle contract:
    * Built once per project by the runtime (or the ``checkpoint`` CLI) from the project's
      checkpoint root; lives as long as the daemon.
    * Hands out one :class:`~odibi_stream.checkpoints.log.PipelineLog` per pipeline (cached, so
      every caller in the process shares it); thread-safe.
    * Never writes anything until a log is written to.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

from odibi_stream.checkpoints.local import LocalCheckpointStore
from odibi_stream.checkpoints.log import PipelineLog
from odibi_stream.checkpoints.store import CheckpointStore
from odibi_stream.exceptions import ConfigError

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_REMOTE_SCHEMES = {"az", "abfs", "abfss", "wasb", "wasbs"}


def store_for_root(root: str | Path) -> CheckpointStore:
    """Return the store backend for a checkpoint root (a path or ``file://`` URI).

    Raises:
        ConfigError: the root names a backend this build cannot use.
    """
    if isinstance(root, Path):
        return LocalCheckpointStore(root)
    m = _SCHEME.match(root)
    if m is None:
        return LocalCheckpointStore(Path(root))
    scheme = m.group(1).lower()
    if scheme == "file":
        return LocalCheckpointStore(Path(root[len("file://") :]))
    if scheme in _REMOTE_SCHEMES:
        raise ConfigError(
            f"checkpoint root {scheme}://... needs the Azure checkpoint store, which is not available yet",
            hint="use a local (or mounted) folder for checkpoint.root for now",
        )
    raise ConfigError(
        f"unsupported checkpoint root scheme {scheme!r}",
        hint="checkpoint.root must be a folder path (or a file:// URI)",
    )


class CheckpointManager:
    """Owns the checkpoint store of a project and the logs of its pipelines.

    Args:
        root: The checkpoint root (a folder path or ``file://`` URI).
        store: A ready store to use instead of building one from ``root`` (tests, other backends).
    """

    def __init__(self, root: str | Path, store: CheckpointStore | None = None) -> None:
        self.root = root
        self.store: CheckpointStore = store if store is not None else store_for_root(root)
        self._logs: dict[str, PipelineLog] = {}
        self._lock = threading.Lock()

    def log(self, pipeline: str) -> PipelineLog:
        """Return the (cached) log of ``pipeline``."""
        with self._lock:
            log = self._logs.get(pipeline)
            if log is None:
                log = self._logs[pipeline] = PipelineLog(self.store, pipeline)
            return log

    def pipelines(self) -> list[str]:
        """Return the names of pipelines that have a checkpoint under this root, sorted."""
        found = []
        for name in self.store.folders(""):
            has_meta = self.store.read(f"{name}/metadata.json") is not None
            if (
                has_meta
                or self.store.list(f"{name}/offsets")
                or self.store.read(f"{name}/snapshot.json")
            ):
                found.append(name)
        return found

    def describe(self) -> str:
        """Return the printable location of the store (no secrets)."""
        return self.store.describe()
