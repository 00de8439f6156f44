"""SIGKILL a real writer process mid-loop, repeatedly: no torn entry is ever visible."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from odibi_stream.checkpoints.entries import CommitEntry, OffsetsEntry, Snapshot, decode
from odibi_stream.checkpoints.local import LocalCheckpointStore
from odibi_stream.checkpoints.log import PipelineLog

REPO = Path(__file__).resolve().parents[3]

WRITER = textwrap.dedent(
    """
    import sys
    from datetime import datetime, timezone
    from odibi_stream.checkpoints.entries import CommitEntry, OffsetsEntry, Snapshot
    from odibi_stream.checkpoints.local import LocalCheckpointStore
    from odibi_stream.checkpoints.log import PipelineLog

    log = PipelineLog(LocalCheckpointStore(sys.argv[1]), "p")
    now = datetime.now(timezone.utc)
    pad = {"files": ["x" * 200] * 40}  # ~8 KB entries: large enough to tear if written in place
    rec = log.recover()
    n = rec.next_batch
    if rec.pending is not None:
        log.write_commit(CommitEntry(n, 1, now, rec.pending.sources, {}, {}, {}))
        n += 1
    while True:
        log.write_offsets(OffsetsEntry(n, 1, now, {"s": {"end": n, **pad}}, {}, "fp"))
        log.write_commit(CommitEntry(n, 1, now, {"s": {"end": n, **pad}}, {}, {}, {}))
        if n % 7 == 0:
            log.compact(Snapshot(n - 5, {"s": {"end": n - 5, **pad}}, {}, {}))
        n += 1
    """
)


def _wait_for_progress(root: Path, proc: subprocess.Popen[bytes], target: int) -> None:
    deadline = time.monotonic() + 60
    log = PipelineLog(LocalCheckpointStore(root), "p")
    while True:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "writer died"
        assert time.monotonic() < deadline, "writer made no progress"
        if log.recover(quarantine=False).next_batch >= target:
            return
        time.sleep(0.005)  # polling interval, not synchronisation


@pytest.mark.chaos
def test_sigkill_during_creates_never_leaves_torn_entries(tmp_path: Path) -> None:
    root = tmp_path / "ckpt"
    rng = random.Random(1234)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    for _round in range(8):
        before = PipelineLog(LocalCheckpointStore(root), "p").recover().next_batch
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(root)], env=env, stderr=subprocess.PIPE
        )
        try:
            _wait_for_progress(root, proc, before + rng.randint(1, 20))
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        _assert_all_entries_parse(root)
        rec = PipelineLog(LocalCheckpointStore(root), "p").recover()
        assert rec.problems == []
        assert rec.next_batch > before  # progress survived the kill
        assert rec.pending is None or rec.pending.batch == rec.last_committed + 1


def _assert_all_entries_parse(root: Path) -> None:
    base = root / "p"
    for path in (base / "offsets").glob("*.json"):
        decode(path.read_bytes(), OffsetsEntry, str(path))
    for path in (base / "commits").glob("*.json"):
        decode(path.read_bytes(), CommitEntry, str(path))
    snap = base / "snapshot.json"
    if snap.exists():
        decode(snap.read_bytes(), Snapshot, str(snap))
