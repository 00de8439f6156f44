"""Leases under faults (issue 17 findings 6, 8, 9) on the real local store.

A failing ``release()`` never raises; a keeper callback that raises does not end renewals; a
corrupt, impossible or far-future lease is a ``CheckpointCorrupt`` naming ``checkpoint unlock``,
and :func:`clear_lease` repairs it with an epoch that keeps fencing intact.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson
import pytest

from odibi_stream.checkpoints.lease import Lease, LeaseKeeper, clear_lease
from odibi_stream.checkpoints.local import LocalCheckpointStore
from odibi_stream.core.clock import ManualClock
from odibi_stream.exceptions import CheckpointCorrupt, CheckpointUnavailable


class FullDisk(LocalCheckpointStore):
    """The local store on a disk that fills up: writes fail with ENOSPC while ``full``."""

    full = False

    def compare_and_swap(self, key: str, data: bytes, expected: bytes | None) -> bool:
        if self.full:
            raise self._unavailable("compare_and_swap", key, OSError(28, "No space left on device"))
        return super().compare_and_swap(key, data, expected)


def test_release_on_a_full_disk_does_not_raise_and_the_lease_expires(tmp_path: Path) -> None:
    store = FullDisk(tmp_path)
    clock = ManualClock(datetime(2026, 1, 1, tzinfo=timezone.utc))
    lease = Lease(store, "p", "A", ttl_seconds=10, clock=clock)
    assert lease.try_acquire()
    store.full = True
    lease.release()  # logged, not raised
    assert not lease.held
    store.full = False
    clock.advance(11)
    other = Lease(store, "p", "B", ttl_seconds=10, clock=clock)
    assert other.try_acquire() and other.epoch == 2


def test_keeper_survives_a_raising_callback_and_reports_problems(tmp_path: Path) -> None:
    store = FullDisk(tmp_path)
    problems: list[str | None] = []
    acquired = threading.Event()

    def boom(lease: Lease) -> None:
        acquired.set()
        raise RuntimeError("callback bug")

    keeper = LeaseKeeper(0.05, boom, lambda _l: None, on_problem=lambda _l, m: problems.append(m))
    keeper.want(Lease(store, "p", "A", ttl_seconds=5))
    keeper.start()
    try:
        assert acquired.wait(5)
        store.full = True
        poll(lambda: any(m and "No space left" in m for m in problems), "problem reported")
        store.full = False
        poll(lambda: None in problems, "problem cleared")
        assert keeper.held() == ["p"]  # still renewing after the callback raised
    finally:
        keeper.stop()


def poll(cond: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out: {what}"
        time.sleep(0.01)


def now() -> datetime:
    return datetime.now(timezone.utc)


@pytest.mark.parametrize(
    "raw",
    [b"\x00garbage", b"[1, 2]", orjson.dumps({"version": 1, "owner": "x", "epoch": 2**60, "expires": "2030-01-01T00:00:00+00:00"}),
     orjson.dumps({"version": 1, "owner": "x", "epoch": True, "expires": "2030-01-01T00:00:00+00:00"}),
     orjson.dumps({"version": 1, "owner": "", "epoch": 1, "expires": "2030-01-01T00:00:00+00:00"}),
     orjson.dumps({"version": 1, "owner": "x", "epoch": 1, "expires": "soon"})],
)
def test_impossible_lease_files_are_corrupt_with_the_repair_command(tmp_path: Path, raw: bytes) -> None:
    store = LocalCheckpointStore(tmp_path)
    store.replace("p/lease.json", raw)
    with pytest.raises(CheckpointCorrupt) as info:
        Lease(store, "p", "A").try_acquire()
    assert "odibi-stream checkpoint unlock PROJECT --pipeline p" in str(info.value.hint)
    record = clear_lease(store, "p", floor_epoch=7, now=now())
    assert record.epoch == 7
    lease = Lease(store, "p", "A")
    assert lease.try_acquire() and lease.epoch == 8


def test_far_future_lease_of_another_owner_is_reported_not_honoured_silently(tmp_path: Path) -> None:
    store = LocalCheckpointStore(tmp_path)
    far = orjson.dumps({"version": 1, "owner": "elsewhere:1:ab", "epoch": 4,
                        "expires": (now() + timedelta(days=365)).isoformat()})
    store.replace("p/lease.json", far)
    with pytest.raises(CheckpointCorrupt, match="far beyond any renewal"):
        Lease(store, "p", "A", ttl_seconds=30).try_acquire()
    near = orjson.dumps({"version": 1, "owner": "elsewhere:1:ab", "epoch": 4,
                         "expires": (now() + timedelta(seconds=20)).isoformat()})
    store.replace("p/lease.json", near)
    assert Lease(store, "p", "A", ttl_seconds=30).try_acquire() is False  # a live owner: wait


def test_foreign_flock_is_a_bounded_wait_naming_the_holder(tmp_path: Path) -> None:
    store = LocalCheckpointStore(tmp_path, lock_timeout=0.2)
    lease = Lease(store, "p", "A")
    assert lease.try_acquire()
    lock = tmp_path / "p" / ".lease.json.lock"
    assert oct(lock.stat().st_mode & 0o777) == "0o600"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR); "
         "fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); time.sleep(60)", str(lock)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(CheckpointUnavailable, match=f"held by process {holder.pid}"):
            lease.renew()
    finally:
        holder.kill()
        holder.wait(10)
    lease.renew()  # free again
