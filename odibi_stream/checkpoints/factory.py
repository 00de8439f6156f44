"""The one checkpoint-store factory: a resolved target in, an open store out.

``run``, ``serve``, the Python API and the ``checkpoint`` CLI all call :func:`open_store` with
the project's :class:`~odibi_stream.config.checkpoint_target.CheckpointTarget`, so they can
never disagree on where a pipeline's checkpoints are. Backends needing an optional extra are
imported only when selected.
"""

from __future__ import annotations

from pathlib import Path

from odibi_stream.checkpoints.local import LocalCheckpointStore
from odibi_stream.checkpoints.memory import MemoryCheckpointStore
from odibi_stream.checkpoints.store import CheckpointStore
from odibi_stream.config.checkpoint_target import CheckpointTarget


def open_store(target: CheckpointTarget) -> CheckpointStore:
    """The store serving ``target`` (nothing is written until a log or lease writes).

    Raises:
        ConfigError: the backend needs an extra that is not installed (with the pip hint).
    """
    if target.scheme == "file":
        return LocalCheckpointStore(
            Path(target.location), file_mode=target.file_mode, dir_mode=target.dir_mode
        )
    if target.scheme == "memory":
        return MemoryCheckpointStore(target.location)
    from odibi_stream.checkpoints.azure_blob import open_azure_store

    return open_azure_store(target)
