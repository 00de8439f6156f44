"""Leases on the real local checkpoint store: ownership, expiry takeover, fencing."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import orjson
import pytest

from odibi_stream.checkpoints.lease import Lease, LeaseKeeper, LeaseRecord
from odibi_stream.checkpoints.local import LocalCheckpointStore
from odibi_stream.exceptions import CheckpointCorrupt, LeaseLost


def _store(tmp_path: Path) -> LocalCheckpointStore:
    return LocalCheckpointStore(tmp_path / "ckpt")


def test_first_owner_wins_second_waits(tmp_path: Path) -> None:
    store = _store(tmp_path)
    a = Lease(store, "orders", "A", ttl_seconds=30)
    b = Lease(LocalCheckpointStore(tmp_path / "ckpt"), "orders", "B", ttl_seconds=30)
    assert a.try_acquire()
    assert not b.try_acquire()
    assert a.epoch == 1 and b.epoch == 0
    a.check()
    with pytest.raises(LeaseLost):
        b.check()
    doc = orjson.loads(store.read("orders/lease.json") or b"")
    assert doc["version"] == 1 and doc["owner"] == "A" and doc["epoch"] == 1


def test_expired_lease_is_taken_over_with_higher_epoch_and_old_fence_fails(tmp_path: Path) -> None:
    store = _store(tmp_path)
    a = Lease(store, "orders", "A", ttl_seconds=0.3)
    b = Lease(store, "orders", "B", ttl_seconds=30)
    assert a.try_acquire()
    deadline = time.monotonic() + 5
    while not b.try_acquire():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert b.epoch == 2
    with pytest.raises(LeaseLost):
        a.check()
    with pytest.raises(LeaseLost):
        a.renew()
    b.check()


def test_expired_own_lease_fails_the_fence(tmp_path: Path) -> None:
    a = Lease(_store(tmp_path), "p", "A", ttl_seconds=0.05)
    assert a.try_acquire()
    deadline = time.monotonic() + 5
    while True:
        try:
            a.check()
        except LeaseLost:
            break
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_release_lets_the_next_owner_in_at_once(tmp_path: Path) -> None:
    store = _store(tmp_path)
    a = Lease(store, "p", "A", ttl_seconds=60)
    b = Lease(store, "p", "B", ttl_seconds=60)
    assert a.try_acquire()
    a.renew()
    a.release()
    assert b.try_acquire()
    assert b.epoch == 2


def test_race_of_many_acquirers_has_one_winner(tmp_path: Path) -> None:
    leases = [Lease(LocalCheckpointStore(tmp_path / "ckpt"), "p", f"o{i}", 30) for i in range(8)]
    wins: list[str] = []
    barrier = threading.Barrier(len(leases))

    def go(lease: Lease) -> None:
        barrier.wait()
        if lease.try_acquire():
            wins.append(lease.owner)

    threads = [threading.Thread(target=go, args=(le,)) for le in leases]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1


def test_unknown_version_is_corrupt(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.replace("p/lease.json", b'{"version": 9, "owner": "x", "epoch": 1, "expires": "2020-01-01T00:00:00+00:00"}')
    with pytest.raises(CheckpointCorrupt):
        Lease(store, "p", "A").try_acquire()
    with pytest.raises(CheckpointCorrupt):
        LeaseRecord.decode(b"{garbage", "p/lease.json")


def test_keeper_renews_and_reports_takeover(tmp_path: Path) -> None:
    store = _store(tmp_path)
    acquired: list[str] = []
    lost = threading.Event()
    keeper = LeaseKeeper(0.05, lambda le: acquired.append(le.pipeline), lambda le: lost.set())
    a = Lease(store, "p", "A", ttl_seconds=0.3)
    keeper.want(a)
    keeper.start()
    try:
        assert acquired == ["p"]
        # renewals keep the short lease alive well past its ttl
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            a.check()
            time.sleep(0.05)
        # another owner forces a takeover by rewriting the lease with a newer epoch
        rec = LeaseRecord("B", a.epoch + 1, LeaseRecord.decode(store.read("p/lease.json") or b"", "k").expires)
        store.replace("p/lease.json", rec.encode())
        assert lost.wait(5)
        assert keeper.held() == []
    finally:
        keeper.stop()
