"""PipelineLog: write-ahead/commit, recovery, quarantine, compaction and operator actions."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from odibi_stream.checkpoints.entries import CommitEntry, Snapshot, encode
from odibi_stream.checkpoints.local import LocalCheckpointStore
from odibi_stream.checkpoints.log import PipelineLog
from odibi_stream.checkpoints.manager import CheckpointManager
from odibi_stream.config.checkpoint_target import CheckpointTarget
from odibi_stream.exceptions import (
    CheckpointConflict,
    CheckpointCorrupt,
    CheckpointError,
)
from tests.unit.checkpoints.ckpt_helpers import (
    commit,
    compact_keeping,
    plan,
    run_batches,
    snapshot_of,
)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "ckpt"


@pytest.fixture
def log(root: Path) -> PipelineLog:
    return PipelineLog(LocalCheckpointStore(root), "orders")


def test_empty_log_recovers_to_batch_zero(log: PipelineLog) -> None:
    rec = log.recover()
    assert (rec.snapshot, rec.commits, rec.last_committed, rec.pending, rec.next_batch) == (
        None,
        [],
        -1,
        None,
        0,
    )
    assert rec.problems == []


def test_committed_batches_and_pending_detection(log: PipelineLog) -> None:
    run_batches(log, 3)
    log.write_offsets(plan(3))
    rec = log.recover()
    assert rec.last_committed == 2
    assert [c.batch for c in rec.commits] == [0, 1, 2]
    assert rec.pending == plan(3)
    assert rec.next_batch == 3
    log.write_commit(commit(3))
    rec = log.recover()
    assert (rec.last_committed, rec.pending, rec.next_batch) == (3, None, 4)


def test_write_offsets_is_create_exclusive(log: PipelineLog) -> None:
    log.write_offsets(plan(0))
    with pytest.raises(CheckpointConflict):
        log.write_offsets(plan(0, epoch=2))
    assert log.read_offsets(0) == plan(0)


def test_commit_requires_plan_and_is_exclusive(log: PipelineLog) -> None:
    with pytest.raises(CheckpointError, match="never planned"):
        log.write_commit(commit(0))
    log.write_offsets(plan(0))
    log.write_commit(commit(0))
    with pytest.raises(CheckpointConflict):
        log.write_commit(commit(0))


def test_ensure_metadata_creates_once(log: PipelineLog, root: Path) -> None:
    first = log.ensure_metadata("fp1")
    again = PipelineLog(LocalCheckpointStore(root), "orders").ensure_metadata("fp2")
    assert again == first
    assert again.config_fingerprint == "fp1"
    assert again.pipeline == "orders"


def test_truncated_newest_commit_is_quarantined_and_batch_replayed(
    log: PipelineLog, root: Path
) -> None:
    run_batches(log, 3)
    path = root / "orders" / "commits" / "2.json"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    rec = log.recover()
    assert rec.last_committed == 1
    assert rec.pending == plan(2)  # replay batch 2 verbatim, never a restart from zero
    assert len(rec.problems) == 1 and "commits/2.json" in rec.problems[0]
    assert not path.exists()
    moved = [p.name for p in path.parent.iterdir() if p.name.startswith("2.json.corrupt-")]
    assert len(moved) == 1
    assert (path.parent / moved[0]).read_bytes() == data[: len(data) // 2]
    # The quarantined file is out of the way: the replayed batch can commit again.
    log.write_commit(commit(2))
    assert log.recover().last_committed == 2
    assert log.recover().problems == []


def test_garbage_newest_offsets_is_quarantined_and_replanned(log: PipelineLog, root: Path) -> None:
    run_batches(log, 2)
    (root / "orders" / "offsets" / "2.json").write_bytes(b"\x00\x01garbage")
    rec = log.recover()
    assert (rec.last_committed, rec.pending, rec.next_batch) == (1, None, 2)
    assert len(rec.problems) == 1 and "offsets/2.json" in rec.problems[0]
    log.write_offsets(plan(2))  # the slot is free again


def test_inspection_does_not_move_files(log: PipelineLog, root: Path) -> None:
    run_batches(log, 2)
    path = root / "orders" / "commits" / "1.json"
    path.write_bytes(b"{")
    rec = log.recover(quarantine=False)
    assert rec.last_committed == 0 and rec.pending == plan(1) and rec.problems
    assert path.read_bytes() == b"{"


def test_corrupt_middle_entry_raises_with_rewind_hint(log: PipelineLog, root: Path) -> None:
    run_batches(log, 4)
    (root / "orders" / "commits" / "1.json").write_bytes(b'{"version": 1}')
    with pytest.raises(CheckpointCorrupt) as info:
        log.recover()
    assert info.value.hint and "checkpoint rewind" in info.value.hint
    (root / "orders" / "commits" / "1.json").write_bytes(encode(commit(1)))
    (root / "orders" / "offsets" / "2.json").write_bytes(b"")
    with pytest.raises(CheckpointCorrupt, match=r"offsets/2\.json"):
        log.recover()


def test_entry_with_wrong_batch_number_is_corrupt(log: PipelineLog, root: Path) -> None:
    run_batches(log, 2)
    os.replace(root / "orders" / "commits" / "0.json", root / "orders" / "commits" / "5.json")
    with pytest.raises(CheckpointCorrupt):
        log.recover()


def test_missing_commit_in_the_middle_is_a_gap(log: PipelineLog, root: Path) -> None:
    run_batches(log, 4)
    (root / "orders" / "commits" / "1.json").unlink()
    with pytest.raises(CheckpointCorrupt, match=r"commits/1\.json is missing"):
        log.recover()


def test_leftover_temp_files_are_ignored(log: PipelineLog, root: Path) -> None:
    run_batches(log, 2)
    (root / "orders" / "commits" / ".2.json.tmp-deadbeef").write_bytes(b"half")
    assert log.recover().last_committed == 1


def test_compaction_writes_snapshot_and_removes_old_entries(log: PipelineLog, root: Path) -> None:
    run_batches(log, 10)
    removed = log.compact(snapshot_of(6))
    assert removed == 14  # offsets and commits 0..6
    assert sorted(p.name for p in (root / "orders" / "commits").iterdir()) == [
        "7.json",
        "8.json",
        "9.json",
    ]
    rec = log.recover()
    assert rec.snapshot == snapshot_of(6)
    assert [c.batch for c in rec.commits] == [7, 8, 9]
    assert (rec.last_committed, rec.next_batch) == (9, 10)
    assert log.compact(snapshot_of(6)) == 0  # at the floor: nothing to do
    assert compact_keeping(log, 3) == 0  # nothing falls out
    with pytest.raises(CheckpointError, match="not committed"):
        log.compact(snapshot_of(10))  # a snapshot never runs ahead of the commits


def test_compaction_when_everything_is_in_the_snapshot(log: PipelineLog) -> None:
    run_batches(log, 3)
    compact_keeping(log, 1)
    log.write_offsets(plan(3))
    rec = log.recover()
    assert rec.snapshot == snapshot_of(1)
    assert (rec.last_committed, rec.pending) == (2, plan(3))


def test_crash_between_snapshot_write_and_deletes(log: PipelineLog, root: Path) -> None:
    run_batches(log, 6)

    class Crash(Exception):
        pass

    store = log.store
    real_delete = store.delete
    deletes = 0

    def crashing_delete(key: str) -> None:
        nonlocal deletes
        if deletes == 3:
            raise Crash()
        deletes += 1
        real_delete(key)

    store.delete = crashing_delete  # type: ignore[method-assign]
    with pytest.raises(Crash):
        log.compact(snapshot_of(3))
    store.delete = real_delete  # type: ignore[method-assign]
    fresh = PipelineLog(LocalCheckpointStore(root), "orders")
    rec = fresh.recover()
    assert rec.snapshot == snapshot_of(3)
    assert [c.batch for c in rec.commits] == [4, 5]
    assert (rec.last_committed, rec.next_batch, rec.pending) == (5, 6, None)
    assert fresh.compact(snapshot_of(3)) > 0  # the leftovers are swept next time
    assert sorted(p.name for p in (root / "orders" / "offsets").iterdir()) == ["4.json", "5.json"]


def test_crash_before_snapshot_write_leaves_old_state(log: PipelineLog) -> None:
    run_batches(log, 5)
    store = log.store
    real_replace = store.replace

    def failing(key: str, data: bytes) -> None:
        raise RuntimeError("disk gone")

    store.replace = failing  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        log.compact(snapshot_of(2))
    store.replace = real_replace  # type: ignore[method-assign]
    rec = log.recover()
    assert rec.snapshot is None and len(rec.commits) == 5


def test_history_newest_first(log: PipelineLog) -> None:
    run_batches(log, 4)
    log.write_offsets(plan(4))
    hist = log.history()
    assert [(o.batch if o else None, c.batch if c else None) for o, c in hist] == [
        (4, None),
        (3, 3),
        (2, 2),
        (1, 1),
        (0, 0),
    ]
    assert len(log.history(limit=2)) == 2


def test_install_snapshot_replaces_history_and_numbers_move_forward(log: PipelineLog) -> None:
    run_batches(log, 5)
    log.write_offsets(plan(5))
    assert log.highest_batch() == 5
    removed = log.install_snapshot(Snapshot(batch=5, states={}, watermarks={}, extra={"reset": True}))
    assert removed == 11  # offsets 0..5 and commits 0..4
    rec = log.recover()
    assert (rec.last_committed, rec.pending, rec.next_batch, rec.commits) == (5, None, 6, [])
    assert log.highest_batch() == 5
    log.write_offsets(plan(6))


def test_skip_commits_pending_without_running(log: PipelineLog) -> None:
    run_batches(log, 2)
    with pytest.raises(CheckpointError, match="no pending batch"):
        log.skip()
    log.write_offsets(plan(2))
    assert log.skip() == 2
    skipped = log.read_commit(2)
    assert isinstance(skipped, CommitEntry)
    assert skipped.nodes == {} and skipped.metrics == {"skipped": 1}
    assert skipped.sources == plan(2).sources  # the next plan starts after the skipped range
    rec = log.recover()
    assert (rec.last_committed, rec.pending, rec.next_batch) == (2, None, 3)


def test_manager_caches_logs_and_lists_pipelines(root: Path) -> None:
    mgr = CheckpointManager.open(CheckpointTarget("file", str(root)))
    assert mgr.pipelines() == []
    assert mgr.log("a") is mgr.log("a")
    mgr.log("b").ensure_metadata("fp")
    mgr.log("a").write_offsets(plan(0))
    assert mgr.pipelines() == ["a", "b"]
    assert CheckpointManager(LocalCheckpointStore(root)).pipelines() == ["a", "b"]
    assert mgr.describe() == root.as_uri()


def test_invalid_pipeline_names_rejected(root: Path) -> None:
    for bad in ["", "a/b", ".hidden", ".."]:
        with pytest.raises(CheckpointError):
            PipelineLog(LocalCheckpointStore(root), bad)
