"""Leases on the real local checkpoint store: ownership, expiry takeover, fencing."""

from __future__ import annotations

import threading
from pathlib import Path

import orjson
import pytest

from odibi_stream.checkpoints.lease import Lease, LeaseKeeper, LeaseRecord
from odibi_stream.checkpoints.local import LocalCheckpointStore
from odibi_stream.core.clock import ManualClock
from odibi_stream.exceptions import CheckpointCorrupt, LeaseLost
from tests.unit.service.runtime_projects import wait_for


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
    clock = ManualClock()
    a = Lease(store, "orders", "A", ttl_seconds=0.3, clock=clock)
    b = Lease(store, "orders", "B", ttl_seconds=30, clock=clock)
    assert a.try_acquire()
    clock.advance(0.29)
    assert not b.try_acquire(), "a lease is honoured until it expires"
    clock.advance(0.01)
    assert b.try_acquire()
    assert b.epoch == 2
    with pytest.raises(LeaseLost):
        a.check()
    with pytest.raises(LeaseLost):
        a.renew()
    b.check()


def test_expired_own_lease_fails_the_fence(tmp_path: Path) -> None:
    clock = ManualClock()
    a = Lease(_store(tmp_path), "p", "A", ttl_seconds=0.05, clock=clock)
    assert a.try_acquire()
    clock.advance(0.049)
    a.check()
    clock.advance(0.001)
    with pytest.raises(LeaseLost, match="expired"):
        a.check()


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
    clock = ManualClock()
    acquired: list[str] = []
    lost = threading.Event()
    keeper = LeaseKeeper(0.05, lambda le: acquired.append(le.pipeline), lambda le: lost.set(), clock)
    a = Lease(store, "p", "A", ttl_seconds=0.3, clock=clock)
    keeper.want(a)
    keeper.start()
    try:
        assert acquired == ["p"]
        # renewals keep the short lease alive well past its ttl (1 s of manual time)
        waits = 0
        for _ in range(20):
            # A new wait means the keeper finished the previous round (and renewed).
            wait_for(lambda done=waits: len(clock.requested) > done and clock.waiters == 1, 10, "the next round")
            waits = len(clock.requested)
            a.check()
            clock.advance(0.05)
        # another owner forces a takeover by rewriting the lease with a newer epoch
        # (through compare-and-swap, like a competing owner: a plain replace could be
        # overwritten by a renewal already between its read and its write)
        while True:
            seen = store.read("p/lease.json") or b""
            rec = LeaseRecord("B", a.epoch + 1, LeaseRecord.decode(seen, "k").expires)
            if store.compare_and_swap("p/lease.json", rec.encode(), seen):
                break
        # The next renewal finds the foreign record: one or two rounds, depending on whether the
        # round in flight renewed just before the rewrite.
        for _ in range(3):
            wait_for(
                lambda done=waits: lost.is_set() or (len(clock.requested) > done and clock.waiters == 1), 10, "a round"
            )
            if lost.is_set():
                break
            waits = len(clock.requested)
            clock.advance(0.05)
        assert lost.wait(5)
        assert keeper.held() == []
    finally:
        keeper.stop()
