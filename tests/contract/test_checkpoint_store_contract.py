"""Every built-in CheckpointStore backend runs the exported contract suite unchanged.

To add a backend, add one entry to ``BACKENDS``: a name mapped to a function that takes the
pytest request (for fixtures such as a running emulator) and returns a factory; the factory
takes a fresh ``tmp_path``-like location and returns a store, and called twice with the same
location builds a second, independent instance on the same storage (durability checks).
Stores with a ``close()`` are closed after the test.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from odibi_stream.checkpoints.azure_blob import AzureBlobCheckpointStore
from odibi_stream.checkpoints.local import LocalCheckpointStore
from odibi_stream.checkpoints.memory import MemoryCheckpointStore
from odibi_stream.checkpoints.store import CheckpointStore
from odibi_stream.testing.contracts import CheckpointStoreContract, StoreFactory
from tests.azurite_fixtures import azure_container, azurite  # noqa: F401  (fixtures)


def _azurite_backend(request: pytest.FixtureRequest) -> StoreFactory:
    account = request.getfixturevalue("azurite")
    container = request.getfixturevalue("azure_container")
    target = account.target(container)

    def make(root: Path) -> CheckpointStore:
        prefix = "ckpt/" + hashlib.sha1(str(root).encode()).hexdigest()[:16]
        return AzureBlobCheckpointStore.open(target, prefix)

    return make


BACKENDS: dict[str, Callable[[pytest.FixtureRequest], StoreFactory]] = {
    "local": lambda request: LocalCheckpointStore,
    # Named by the test's folder: a reopened store on the same "location" shares its data.
    "memory": lambda request: lambda root: MemoryCheckpointStore(str(root)),
    "azurite": _azurite_backend,
}


class TestBuiltinStores(CheckpointStoreContract):
    @pytest.fixture(params=sorted(BACKENDS))
    def store_factory(self, request: pytest.FixtureRequest) -> Iterator[StoreFactory]:
        build = BACKENDS[request.param](request)
        opened: list[CheckpointStore] = []

        def make(root: Path) -> CheckpointStore:
            opened.append(build(root))
            return opened[-1]

        yield make
        for store in opened:
            if isinstance(store, AzureBlobCheckpointStore):
                store.close()
