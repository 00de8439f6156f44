"""Contract suite: every CheckpointStore backend must pass these tests unchanged.

To add a backend, add one entry to ``BACKENDS``: a name mapped to a function that takes the
pytest request (for fixtures such as a running emulator) and returns a factory; the factory takes
a fresh ``tmp_path``-like location and returns a store, and called twice with the same location
builds a second, independent instance on the same storage (durability checks). Stores with a
``close()`` are closed after the test.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from odibi_stream.checkpoints.azure_blob import AzureBlobCheckpointStore
from odibi_stream.checkpoints.local import LocalCheckpointStore
from odibi_stream.checkpoints.store import CheckpointStore
from odibi_stream.exceptions import CheckpointConflict, CheckpointError
from tests.azurite_fixtures import azure_container, azurite  # noqa: F401  (fixtures)

StoreFactory = Callable[[Path], CheckpointStore]


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
    "azurite": _azurite_backend,
}


@pytest.fixture(params=sorted(BACKENDS))
def factory(request: pytest.FixtureRequest) -> Iterator[StoreFactory]:
    build = BACKENDS[request.param](request)
    opened: list[CheckpointStore] = []

    def make(root: Path) -> CheckpointStore:
        opened.append(build(root))
        return opened[-1]

    yield make
    for s in opened:
        close = getattr(s, "close", None)
        if callable(close):
            close()


@pytest.fixture
def store(factory: StoreFactory, tmp_path: Path) -> CheckpointStore:
    return factory(tmp_path / "ckpt")


def test_read_absent_returns_none(store: CheckpointStore) -> None:
    assert store.read("p/offsets/0.json") is None
    assert store.list("p/offsets") == []
    assert store.folders("") == []


def test_create_then_read(store: CheckpointStore) -> None:
    store.create("p/offsets/0.json", b'{"a": 1}')
    assert store.read("p/offsets/0.json") == b'{"a": 1}'


def test_create_is_exclusive_and_keeps_first_value(store: CheckpointStore) -> None:
    store.create("p/commits/1.json", b"first")
    with pytest.raises(CheckpointConflict):
        store.create("p/commits/1.json", b"second")
    assert store.read("p/commits/1.json") == b"first"


def test_create_race_of_eight_threads_has_exactly_one_winner(store: CheckpointStore) -> None:
    for round_ in range(5):
        key = f"p/offsets/{round_}.json"
        barrier = threading.Barrier(8)
        wins: list[int] = []
        conflicts: list[int] = []

        def attempt(
            i: int,
            key: str = key,
            barrier: threading.Barrier = barrier,
            wins: list[int] = wins,
            conflicts: list[int] = conflicts,
        ) -> None:
            barrier.wait()
            try:
                store.create(key, f"writer-{i}".encode() * 100)
                wins.append(i)
            except CheckpointConflict:
                conflicts.append(i)

        threads = [threading.Thread(target=attempt, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(wins) == 1, wins
        assert len(conflicts) == 7
        assert store.read(key) == f"writer-{wins[0]}".encode() * 100


def test_replace_overwrites_and_creates(store: CheckpointStore) -> None:
    store.replace("p/snapshot.json", b"v1")
    store.replace("p/snapshot.json", b"v2-longer")
    assert store.read("p/snapshot.json") == b"v2-longer"


def test_replace_is_atomic_for_concurrent_readers(store: CheckpointStore) -> None:
    values = [bytes([65 + i]) * (1000 * (i + 1)) for i in range(4)]
    store.replace("p/snapshot.json", values[0])
    stop = threading.Event()
    seen: set[bytes | None] = set()

    def reader() -> None:
        while not stop.is_set():
            seen.add(store.read("p/snapshot.json"))

    t = threading.Thread(target=reader)
    t.start()
    try:
        for i in range(200):
            store.replace("p/snapshot.json", values[i % 4])
    finally:
        stop.set()
        t.join()
    assert seen <= set(values), "a reader observed a torn or missing value"


def test_compare_and_swap_semantics(store: CheckpointStore) -> None:
    key = "p/lease.json"
    assert store.compare_and_swap(key, b"a", b"x") is False
    assert store.read(key) is None
    assert store.compare_and_swap(key, b"a", None) is True
    assert store.compare_and_swap(key, b"b", None) is False
    assert store.compare_and_swap(key, b"b", b"wrong") is False
    assert store.read(key) == b"a"
    assert store.compare_and_swap(key, b"b", b"a") is True
    assert store.read(key) == b"b"


def test_compare_and_swap_race_increments_exactly(store: CheckpointStore) -> None:
    key = "p/counter"
    store.replace(key, b"0")

    def bump() -> None:
        for _ in range(25):
            while True:
                cur = store.read(key)
                assert cur is not None
                if store.compare_and_swap(key, str(int(cur) + 1).encode(), cur):
                    break

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.read(key) == b"100"


def test_list_is_sorted_direct_children_only(store: CheckpointStore) -> None:
    for name in ["b.json", "a.json", "10.json", "2.json"]:
        store.create(f"p/offsets/{name}", b"x")
    store.create("p/offsets/deeper/x.json", b"x")
    store.create("p/metadata.json", b"m")
    assert store.list("p/offsets") == [
        "p/offsets/10.json",
        "p/offsets/2.json",
        "p/offsets/a.json",
        "p/offsets/b.json",
    ]
    assert store.list("p") == ["p/metadata.json"]
    assert store.folders("p") == ["offsets"]
    assert store.folders("") == ["p"]
    assert store.list("p/nothing-here") == []


def test_nested_keys(store: CheckpointStore) -> None:
    store.create("a/b/c/d/e.json", b"deep")
    assert store.read("a/b/c/d/e.json") == b"deep"
    assert store.list("a/b/c/d") == ["a/b/c/d/e.json"]


def test_delete_is_idempotent(store: CheckpointStore) -> None:
    store.create("p/commits/0.json", b"x")
    store.delete("p/commits/0.json")
    store.delete("p/commits/0.json")
    assert store.read("p/commits/0.json") is None
    assert store.list("p/commits") == []
    store.create("p/commits/0.json", b"again")  # a deleted key can be created anew
    assert store.read("p/commits/0.json") == b"again"


def test_durable_across_instances(factory: StoreFactory, tmp_path: Path) -> None:
    first = factory(tmp_path / "ckpt")
    first.create("p/offsets/0.json", b"plan")
    first.replace("p/snapshot.json", b"snap")
    assert first.compare_and_swap("p/lease.json", b"lease", None)
    second = factory(tmp_path / "ckpt")
    assert second.read("p/offsets/0.json") == b"plan"
    assert second.read("p/snapshot.json") == b"snap"
    assert second.read("p/lease.json") == b"lease"
    with pytest.raises(CheckpointConflict):
        second.create("p/offsets/0.json", b"other")
    assert second.compare_and_swap("p/lease.json", b"lease2", b"lease")
    assert first.read("p/lease.json") == b"lease2"


@pytest.mark.parametrize("bad", ["", "/abs", "a//b", "../x", "a/./b", "p/.hidden"])
def test_invalid_keys_rejected(store: CheckpointStore, bad: str) -> None:
    with pytest.raises(CheckpointError):
        store.create(bad, b"x")


def test_describe_is_a_location_uri(store: CheckpointStore) -> None:
    assert "://" in store.describe()
