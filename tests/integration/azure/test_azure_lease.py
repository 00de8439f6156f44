"""Leases and the pipeline log on the Azure checkpoint store (real emulator).

Two owners (separate stores = separate connection pools, and a separate process), takeover
after expiry with a higher epoch, a fenced zombie that planned a batch and cannot commit it,
corrupt-entry quarantine and compaction.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator

import orjson
import pytest

from odibi_stream.checkpoints.azure_blob import AzureBlobCheckpointStore
from odibi_stream.checkpoints.lease import Lease, LeaseKeeper, LeaseRecord
from odibi_stream.checkpoints.log import PipelineLog
from odibi_stream.exceptions import CheckpointConflict, LeaseLost
from tests.azurite_fixtures import AzuriteAccount
from tests.conftest import cli_env
from tests.unit.checkpoints.ckpt_helpers import commit, plan, run_batches, snapshot_of

StoreMaker = Callable[[], AzureBlobCheckpointStore]


@pytest.fixture
def stores(azurite: AzuriteAccount, azure_container: str) -> Iterator[StoreMaker]:
    """Independent stores on one checkpoint root (like several daemons)."""
    opened: list[AzureBlobCheckpointStore] = []

    def make() -> AzureBlobCheckpointStore:
        opened.append(AzureBlobCheckpointStore.open(azurite.target(azure_container), "ckpt"))
        return opened[-1]

    yield make
    for s in opened:
        s.close()


def _wait_acquire(lease: Lease, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not lease.try_acquire():
        assert time.monotonic() < deadline, "lease was never taken over"
        time.sleep(0.02)


def test_first_owner_wins_the_second_waits(stores: StoreMaker) -> None:
    a = Lease(stores(), "orders", "A", ttl_seconds=30)
    b = Lease(stores(), "orders", "B", ttl_seconds=30)
    assert a.try_acquire()
    assert not b.try_acquire()
    a.check()
    with pytest.raises(LeaseLost):
        b.check()
    doc = orjson.loads(stores().read("orders/lease.json") or b"")
    assert (doc["version"], doc["owner"], doc["epoch"]) == (1, "A", 1)


def test_race_of_many_acquirers_has_one_winner(stores: StoreMaker) -> None:
    leases = [Lease(stores(), "p", f"o{i}", 30) for i in range(6)]
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


def test_takeover_after_expiry_fences_the_zombie(stores: StoreMaker) -> None:
    zombie_store, heir_store = stores(), stores()
    zombie = Lease(zombie_store, "orders", "A", ttl_seconds=0.5)
    heir = Lease(heir_store, "orders", "B", ttl_seconds=30)
    zlog, hlog = PipelineLog(zombie_store, "orders"), PipelineLog(heir_store, "orders")
    assert zombie.try_acquire()
    zombie.check()  # the runner's fence before write-ahead
    zlog.write_offsets(plan(0, epoch=zombie.epoch))
    # ... the zombie pauses (GC, network partition) past its ttl; the heir takes over.
    _wait_acquire(heir)
    assert heir.epoch == zombie.epoch + 1
    with pytest.raises(LeaseLost):
        zombie.check()  # the fence before commits/0: the zombie cannot commit
    with pytest.raises(LeaseLost):
        zombie.renew()
    rec = hlog.recover()
    assert rec.pending is not None and rec.pending.batch == 0  # the heir replays the plan
    heir.check()
    hlog.write_commit(commit(0, epoch=heir.epoch))
    with pytest.raises(CheckpointConflict):
        zlog.write_offsets(plan(0, epoch=zombie.epoch))  # nor overwrite a plan
    with pytest.raises(CheckpointConflict):
        zlog.write_commit(commit(0, epoch=zombie.epoch))
    assert hlog.recover().last_committed == 0


def test_release_hands_over_at_once(stores: StoreMaker) -> None:
    a = Lease(stores(), "p", "A", ttl_seconds=60)
    b = Lease(stores(), "p", "B", ttl_seconds=60)
    assert a.try_acquire()
    a.renew()
    a.release()
    assert b.try_acquire() and b.epoch == 2


def test_keeper_renews_and_reports_a_takeover(stores: StoreMaker) -> None:
    store = stores()
    lost = threading.Event()
    keeper = LeaseKeeper(0.1, lambda le: None, lambda le: lost.set())
    a = Lease(store, "p", "A", ttl_seconds=0.6)
    keeper.want(a)
    keeper.start()
    try:
        end = time.monotonic() + 1.5
        while time.monotonic() < end:  # renewals keep the short lease alive past its ttl
            a.check()
            time.sleep(0.1)
        rec = LeaseRecord(
            "B", a.epoch + 1, LeaseRecord.decode(store.read("p/lease.json") or b"", "k").expires
        )
        stores().replace("p/lease.json", rec.encode())
        assert lost.wait(5)
    finally:
        keeper.stop()


HOLDER = textwrap.dedent(
    """
    import sys
    from odibi_stream.checkpoints.azure_blob import AzureBlobCheckpointStore
    from odibi_stream.checkpoints.lease import Lease
    from tests.azurite_fixtures import AzuriteAccount
    store = AzureBlobCheckpointStore.open(AzuriteAccount(sys.argv[1]).target(sys.argv[2]), "ckpt")
    lease = Lease(store, "orders", "other-process", ttl_seconds=1.0)
    print("acquired" if lease.try_acquire() else "refused", lease.epoch, flush=True)
    store.close()  # exits without releasing: a crashed daemon
    """
)


def test_another_process_holds_then_crashes(
    azurite: AzuriteAccount, azure_container: str, stores: StoreMaker
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", HOLDER, azurite.endpoint, azure_container],
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout.split() == ["acquired", "1"], done.stderr
    mine = Lease(stores(), "orders", "me", ttl_seconds=30)
    assert not mine.try_acquire()  # still held by the dead process until it expires
    _wait_acquire(mine)
    assert mine.epoch == 2


def test_corrupt_newest_commit_is_quarantined(stores: StoreMaker) -> None:
    store = stores()
    log = PipelineLog(store, "p")
    run_batches(log, 3)
    store.delete("p/commits/2.json")
    store.create("p/commits/2.json", b"{torn")
    rec = log.recover()
    assert rec.last_committed == 1 and rec.pending is not None and rec.pending.batch == 2
    assert rec.problems and "moved aside" in rec.problems[0]
    assert "p/commits/2.json" not in store.list("p/commits")
    assert any(k.startswith("p/commits/2.json.corrupt-") for k in store.list("p/commits"))


def test_compaction_keeps_the_newest_entries(stores: StoreMaker) -> None:
    store = stores()
    log = PipelineLog(store, "p")
    run_batches(log, 6)
    removed = log.compact(snapshot_of(3))  # keep the newest two commits (4, 5)
    assert removed == 8
    assert store.list("p/commits") == ["p/commits/4.json", "p/commits/5.json"]
    rec = PipelineLog(stores(), "p").recover()
    assert rec.snapshot is not None and rec.snapshot.batch == 3 and rec.last_committed == 5
