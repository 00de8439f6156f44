"""Every built-in CheckpointStore backend runs the exported contract suite unchanged.

To add a backend, add one entry to ``BACKENDS``: a name mapped to a factory that takes a fresh
``tmp_path``-like location and returns a store; calling it again on the same location builds a
second, independent instance on the same storage (durability checks).
"""

from __future__ import annotations

import pytest

from odibi_stream.checkpoints.local import LocalCheckpointStore
from odibi_stream.checkpoints.memory import MemoryCheckpointStore
from odibi_stream.testing.contracts import CheckpointStoreContract, StoreFactory

BACKENDS: dict[str, StoreFactory] = {
    "local": lambda root: LocalCheckpointStore(root),
    # Named by the test's folder: a reopened store on the same "location" shares its data.
    "memory": lambda root: MemoryCheckpointStore(str(root)),
}


class TestBuiltinStores(CheckpointStoreContract):
    @pytest.fixture(params=sorted(BACKENDS))
    def store_factory(self, request: pytest.FixtureRequest) -> StoreFactory:
        return BACKENDS[request.param]
