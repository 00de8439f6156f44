"""Two daemons on one Azure checkpoint (and one cloud landing zone).

One daemon owns the pipeline; the other waits. The owner is frozen (SIGSTOP) in the middle of a
batch it planned under its lease epoch; the other takes over once the lease expires, replays and
commits that batch under the next epoch; the frozen one, thawed, cannot commit its batch (it is
fenced) and goes back to waiting. Then the new owner is killed and the first takes over again.
Every record lands exactly once throughout.
"""

from __future__ import annotations

import json
import re
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.azurite_fixtures import AzuriteAccount
from tests.integration.azure.azure_projects import AzureProject, azure_project
from tests.integration.daemon.daemon_procs import DaemonProc

pytestmark = pytest.mark.timeout(600)

# The workload of a batch takes a moment, so a daemon can be frozen in the middle of one.
SLOW = '''\
import time

import pandas as pd


def hold(df: pd.DataFrame) -> pd.DataFrame:
    time.sleep(2.0)
    return df
'''


def wait_for(cond: Callable[[], bool], timeout: float, what: str, *daemons: DaemonProc) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            logs = "\n---\n".join(d.stderr()[-3000:] for d in daemons)
            raise AssertionError(f"timed out waiting for {what}:\n{logs}")
        time.sleep(0.05)


def batches(az: AzureProject, kind: str) -> dict[int, dict[str, object]]:
    """Batch number → entry of ``offsets`` or ``commits`` in the Azure checkpoint."""
    out = {}
    with az.fs(az.ckpt, f"_checkpoints/events/{kind}") as fs:
        for f in fs.list(""):
            m = re.fullmatch(r"0*(\d+)\.json", f.name)
            if m:
                out[int(m.group(1))] = json.loads(fs.read_bytes(f.name))
    return out


def state(daemon: DaemonProc) -> str:
    return str(daemon.pipelines()["events"]["state"])


def test_two_daemons_takeover_and_a_fenced_zombie(tmp_path: Path, azurite: AzuriteAccount) -> None:
    az = azure_project(
        tmp_path / "proj", azurite, max_files=1, ttl=3, trigger="{file_watch: {reconcile_seconds: 1}}"
    )
    pipeline = az.root / "pipelines" / "events.yaml"
    pipeline.write_text(
        pipeline.read_text()
        .replace("    depends_on: [shaped]\n    write:", "    depends_on: [held]\n    write:")
        .replace("  - name: sink\n", "  - name: held\n    depends_on: [shaped]\n"
                 "    transform: {function: slow.hold}\n  - name: sink\n")
    )
    (az.root / "slow.py").write_text(SLOW)
    first = DaemonProc(az.root, tmp_path / "a.log")
    wait_for(lambda: state(first) != "waiting_lease", 30, "the first daemon to own the pipeline", first)
    second = DaemonProc(az.root, tmp_path / "b.log")
    try:
        assert state(second) == "waiting_lease"
        expected = az.land_many(n_files=2, rows=5)
        wait_for(lambda: az.ids() == {i: 1 for i in expected}, 90, "the owner to process", first, second)
        assert state(second) == "waiting_lease", "only one daemon runs the pipeline"

        # Freeze the owner right after it planned a batch (offsets/N without commits/N).
        expected += az.land_many(n_files=1, rows=5, start=100)
        committed = set(batches(az, "commits"))

        def planned() -> bool:
            return bool(set(batches(az, "offsets")) - committed)

        wait_for(planned, 60, "the owner to plan a batch", first, second)
        first.terminate(signal.SIGSTOP)
        frozen = max(batches(az, "offsets"))
        try:
            # The lease expires; the other daemon takes over and commits the frozen plan.
            wait_for(lambda: frozen in batches(az, "commits"), 60, "the takeover to commit", second)
            commit = batches(az, "commits")[frozen]
            plan = batches(az, "offsets")[frozen]
            assert commit["epoch"] == plan["epoch"] + 1, (plan, commit)
        finally:
            first.terminate(signal.SIGCONT)
        # Thawed, the zombie cannot commit its batch: it is fenced and waits again.
        wait_for(lambda: state(first) == "waiting_lease", 60, "the zombie to step back", first, second)
        assert batches(az, "commits")[frozen]["epoch"] == commit["epoch"]
        assert "lease lost" in first.stderr()
        wait_for(lambda: az.ids() == {i: 1 for i in expected}, 90, "the frozen batch's rows", second)

        # The new owner dies; the first daemon takes over and carries on.
        second.terminate(signal.SIGKILL)
        second.wait(30)
        expected += az.land_many(n_files=2, rows=5, start=200)
        wait_for(lambda: az.ids() == {i: 1 for i in expected}, 120, "the second takeover", first)
        epochs = {e["epoch"] for e in batches(az, "commits").values()}
        assert len(epochs) == 3, f"three owners in turn: {epochs}"
        first.terminate()
        assert first.wait(60) == 0, first.stderr()[-3000:]
        assert az.ids() == {i: 1 for i in expected}
    finally:
        first.close()
        second.close()
        az.drop()
