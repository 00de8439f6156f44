"""Contract suites: every Source, Sink and CheckpointStore backend passes the same tests.

Subclass a suite in a ``Test*`` class and provide its fixture (see each class); pytest runs
every contract test against your backend. The built-in backends run these suites in
``tests/contract/``; third-party connectors (``odibi_stream.connectors`` entry points) run
them on themselves the same way.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from odibi_stream.checkpoints.store import CheckpointStore
from odibi_stream.connectors.base import BatchKey, SinkSpec, Source, SourceSpec
from odibi_stream.engines.base import Engine, Frame
from odibi_stream.exceptions import CheckpointConflict, CheckpointError


def _pandas() -> Engine:
    from odibi_stream.engines.pandas import PandasEngine

    return PandasEngine()


@dataclass
class SourceCase:
    """A source under test.

    Attributes:
        spec: The source spec (opened by the suite, closed after each test).
        add: ``add(start)`` makes ``total`` new records with integer column ``id`` =
            ``start .. start + total - 1`` available.
        total: Records one ``add`` call makes available.
        engine: The engine reads go through (default: pandas).
    """

    spec: SourceSpec
    add: Callable[[int], None]
    total: int
    engine: Engine | None = None


class SourceContract:
    """Exactly once over bounded batches, deterministic replay, pure plans, JSON positions.

    Provide a ``source_case`` fixture returning a :class:`SourceCase` whose source has rate
    limits small enough that ``total`` records take several batches.
    """

    @staticmethod
    def _drain(src: Source, engine: Engine, state: dict[str, Any]) -> tuple[list[int], dict[str, Any], int]:
        seen: list[int] = []
        batches = 0
        while (rng := src.plan(state)) is not None:
            assert src.plan(state) == rng, "plan must be pure"
            rng = json.loads(json.dumps(rng))
            first = engine.to_arrow(src.read(engine, rng).frame)
            second = engine.to_arrow(src.read(engine, rng).frame)
            assert first.equals(second), "a range must read the same rows every time"
            seen += first.column("id").to_pylist()
            state = json.loads(json.dumps(src.fold(state, rng)))
            src.on_commit(rng)
            batches += 1
        return seen, state, batches

    def test_every_record_exactly_once_across_bounded_batches(self, source_case: SourceCase) -> None:
        engine = source_case.engine or _pandas()
        src = source_case.spec.open()
        try:
            assert src.plan(src.initial_state()) is None
            source_case.add(0)
            seen, state, batches = self._drain(src, engine, src.initial_state())
            assert sorted(seen) == list(range(source_case.total))
            assert batches > 1, "rate limits must split the data into several batches"
            source_case.add(1000)
            more, state, _ = self._drain(src, engine, state)
            assert sorted(more) == list(range(1000, 1000 + source_case.total))
            assert src.plan(state) is None
        finally:
            src.close()
            src.close()  # close is idempotent


@dataclass
class SinkCase:
    """A sink under test.

    Attributes:
        spec: The sink spec (node ``n``; opened by the suite, closed after the test).
        rows: Returns the ``id`` values the sink durably holds (any order).
        frame: ``frame(ids, batch)`` builds the frame to write for ``ids`` (default: a table
            with one ``id`` column, for the pandas engine).
        engine: The engine writes go through (default: pandas).
    """

    spec: SinkSpec
    rows: Callable[[], list[int]]
    frame: Callable[[list[int], int], Frame] | None = None
    engine: Engine | None = None


class SinkContract:
    """Writing batch N twice stores it once; ``already_written`` is false before, true after,
    monotone, and independent per node. Provide a ``sink_case`` fixture (a :class:`SinkCase`)."""

    def test_write_twice_lands_once_and_already_written_is_monotone(self, sink_case: SinkCase) -> None:
        import pyarrow as pa

        engine = sink_case.engine or _pandas()
        build = sink_case.frame or (lambda ids, _batch: pa.table({"id": ids}))
        sink = sink_case.spec.open()
        try:
            for batch in range(3):
                key = BatchKey("p", "n", batch)
                assert not sink.already_written(key)
                frame = build([batch * 10, batch * 10 + 1], batch)
                assert not sink.write(engine, frame, key).skipped
                assert sink.write(engine, frame, key).skipped
                assert all(sink.already_written(BatchKey("p", "n", b)) for b in range(batch + 1))
                assert not sink.already_written(BatchKey("p", "n", batch + 1))
            assert sorted(sink_case.rows()) == [0, 1, 10, 11, 20, 21]
            assert not sink.already_written(BatchKey("p", "other", 0))
        finally:
            sink.close()
            sink.close()  # close is idempotent


StoreFactory = Callable[[Path], CheckpointStore]


class CheckpointStoreContract:
    """The :class:`~odibi_stream.checkpoints.store.CheckpointStore` lifecycle contract.

    Provide a ``store_factory`` fixture: a callable that takes a location (a fresh folder per
    test) and returns a store on it; calling it twice with the same location must give two
    independent instances on the same storage (durability checks).
    """

    @pytest.fixture
    def store(self, store_factory: StoreFactory, tmp_path: Path) -> CheckpointStore:
        return store_factory(tmp_path / "ckpt")

    def test_read_absent_returns_none(self, store: CheckpointStore) -> None:
        assert store.read("p/offsets/0.json") is None
        assert store.list("p/offsets") == []
        assert store.folders("") == []

    def test_create_then_read(self, store: CheckpointStore) -> None:
        store.create("p/offsets/0.json", b'{"a": 1}')
        assert store.read("p/offsets/0.json") == b'{"a": 1}'

    def test_create_is_exclusive_and_keeps_first_value(self, store: CheckpointStore) -> None:
        store.create("p/commits/1.json", b"first")
        with pytest.raises(CheckpointConflict):
            store.create("p/commits/1.json", b"second")
        assert store.read("p/commits/1.json") == b"first"

    def test_create_race_of_eight_threads_has_exactly_one_winner(self, store: CheckpointStore) -> None:
        for round_ in range(5):
            key = f"p/offsets/{round_}.json"
            barrier = threading.Barrier(8)
            wins: list[int] = []
            conflicts: list[int] = []

            def attempt(i: int, key: str = key, barrier: threading.Barrier = barrier,
                        wins: list[int] = wins, conflicts: list[int] = conflicts) -> None:
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

    def test_replace_overwrites_and_creates(self, store: CheckpointStore) -> None:
        store.replace("p/snapshot.json", b"v1")
        store.replace("p/snapshot.json", b"v2-longer")
        assert store.read("p/snapshot.json") == b"v2-longer"

    def test_replace_is_atomic_for_concurrent_readers(self, store: CheckpointStore) -> None:
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

    def test_compare_and_swap_semantics(self, store: CheckpointStore) -> None:
        key = "p/lease.json"
        assert store.compare_and_swap(key, b"a", b"x") is False
        assert store.read(key) is None
        assert store.compare_and_swap(key, b"a", None) is True
        assert store.compare_and_swap(key, b"b", None) is False
        assert store.compare_and_swap(key, b"b", b"wrong") is False
        assert store.read(key) == b"a"
        assert store.compare_and_swap(key, b"b", b"a") is True
        assert store.read(key) == b"b"

    def test_compare_and_swap_race_increments_exactly(self, store: CheckpointStore) -> None:
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

    def test_list_is_sorted_direct_children_only(self, store: CheckpointStore) -> None:
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

    def test_nested_keys(self, store: CheckpointStore) -> None:
        store.create("a/b/c/d/e.json", b"deep")
        assert store.read("a/b/c/d/e.json") == b"deep"
        assert store.list("a/b/c/d") == ["a/b/c/d/e.json"]

    def test_delete_is_idempotent(self, store: CheckpointStore) -> None:
        store.create("p/commits/0.json", b"x")
        store.delete("p/commits/0.json")
        store.delete("p/commits/0.json")
        assert store.read("p/commits/0.json") is None
        assert store.list("p/commits") == []
        store.create("p/commits/0.json", b"again")  # a deleted key can be created anew
        assert store.read("p/commits/0.json") == b"again"

    def test_durable_across_instances(self, store_factory: StoreFactory, tmp_path: Path) -> None:
        first = store_factory(tmp_path / "ckpt")
        first.create("p/offsets/0.json", b"plan")
        first.replace("p/snapshot.json", b"snap")
        assert first.compare_and_swap("p/lease.json", b"lease", None)
        second = store_factory(tmp_path / "ckpt")
        assert second.read("p/offsets/0.json") == b"plan"
        assert second.read("p/snapshot.json") == b"snap"
        assert second.read("p/lease.json") == b"lease"
        with pytest.raises(CheckpointConflict):
            second.create("p/offsets/0.json", b"other")
        assert second.compare_and_swap("p/lease.json", b"lease2", b"lease")
        assert first.read("p/lease.json") == b"lease2"

    @pytest.mark.parametrize("bad", ["", "/abs", "a//b", "../x", "a/./b", "p/.hidden"])
    def test_invalid_keys_rejected(self, store: CheckpointStore, bad: str) -> None:
        with pytest.raises(CheckpointError):
            store.create(bad, b"x")

    def test_describe_is_a_location_uri(self, store: CheckpointStore) -> None:
        assert "://" in store.describe()
