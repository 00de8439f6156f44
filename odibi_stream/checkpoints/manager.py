"""CheckpointManager: the checkpoint store and pipeline logs of one project.

Lifecycle contract:
    * Built once per project by the service layer (daemon, one-shot runs) or the ``checkpoint``
      CLI, from the project's resolved checkpoint target through the one store factory
      (:meth:`CheckpointManager.open`); lives as long as its owner.
    * Hands out one :class:`~odibi_stream.checkpoints.log.PipelineLog` per pipeline (cached, so
      every caller in the process shares it); thread-safe.
    * Never writes anything until a log or lease is written to.
"""

from __future__ import annotations

import threading

from odibi_stream.checkpoints.factory import open_store
from odibi_stream.checkpoints.log import PipelineLog
from odibi_stream.checkpoints.store import CheckpointStore
from odibi_stream.config.checkpoint_target import CheckpointTarget


class CheckpointManager:
    """Owns the checkpoint store of a project and the logs of its pipelines.

    Args:
        store: The project's checkpoint store.
    """

    def __init__(self, store: CheckpointStore) -> None:
        self.store = store
        self._logs: dict[str, PipelineLog] = {}
        self._lock = threading.Lock()

    @classmethod
    def open(cls, target: CheckpointTarget) -> CheckpointManager:
        """A manager over the store serving ``target`` (see ``checkpoints.factory``)."""
        return cls(open_store(target))

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

    def close(self) -> None:
        """Close the store (idempotent); logs and leases must not be used afterwards."""
        self.store.close()

    def __enter__(self) -> CheckpointManager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
