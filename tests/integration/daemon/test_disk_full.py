"""Issue 17 finding 6: a full disk is an outage that heals itself, every record exactly once.

Checkpoint disk full: lease renewals fail, the lease expires, ``release()`` fails inside the
lease-lost handler — on the old code that killed the runner thread and the pipeline stayed
``waiting_lease`` after space returned. Delta target full: the old code marked the pipeline
``failed`` after one attempt (readiness still "ready") and never recovered. Both run a real
``serve`` process against a real tmpfs that the test fills and frees.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from deltalake import DeltaTable

from tests.integration.daemon.daemon_procs import DaemonProc
from tests.integration.daemon.tmpfs import SmallDisk
from tests.unit.service.runtime_projects import wait_for

pytestmark = pytest.mark.slow

PIPELINE = """\
pipeline: p
trigger: {file_watch: {debounce_ms: 5}}
nodes:
  - name: src
    read:
      connection: local
      format: csv
      path: landing/*.csv
      incremental: {mode: files, settle_seconds: 0}
  - name: out
    depends_on: [src]
    write: {connection: lake, format: delta, path: tables/p, mode: append}
"""


def make_project(root: Path, checkpoint: Path, lake: Path, ttl: float) -> Path:
    (root / "pipelines").mkdir(parents=True)
    (root / "data" / "landing").mkdir(parents=True)
    (root / "odibi.yaml").write_text(
        "project: t\n"
        "connections:\n"
        "  local: {type: local, base_path: ./data}\n"
        f"  lake: {{type: local, base_path: '{lake}'}}\n"
        f"checkpoint: {{root: '{checkpoint}'}}\n"
        f"runtime: {{lease_ttl_seconds: {ttl}, shutdown_grace_seconds: 5}}\n"
        "server: {port: 0}\n"
    )
    (root / "pipelines" / "p.yaml").write_text(PIPELINE)
    return root


def drop(root: Path, name: str, ids: list[int]) -> None:
    tmp = root / "data" / f".{name}"
    tmp.write_text("id\n" + "".join(f"{i}\n" for i in ids))
    tmp.rename(root / "data" / "landing" / name)


def ids(lake: Path) -> list[int]:
    table = lake / "tables" / "p"
    if not (table / "_delta_log").exists():
        return []
    return sorted(DeltaTable(str(table)).to_pyarrow_table().column("id").to_pylist())


@pytest.fixture
def daemon(tmp_path: Path) -> Any:
    started: list[DaemonProc] = []

    def start(root: Path) -> DaemonProc:
        started.append(DaemonProc(root, tmp_path / "daemon.log"))
        return started[-1]

    yield start
    for proc in started:
        proc.close()


def stays(cond: Callable[[], bool], seconds: float) -> bool:
    """True if ``cond`` holds at every check for ``seconds`` (used to show a state persists)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not cond():
            return False
        time.sleep(0.2)
    return True


def test_full_checkpoint_disk_through_lease_expiry_heals(tmp_path: Path, small_disk: Any, daemon: Any) -> None:
    disk: SmallDisk = small_disk("ckpt", 2048)
    lake = tmp_path / "lake"
    root = make_project(tmp_path / "proj", disk.path, lake, ttl=3.0)
    proc = daemon(root)
    drop(root, "a.csv", [1, 2])
    wait_for(lambda: ids(lake) == [1, 2], 30, "first batch")

    disk.fill()
    assert disk.is_full()
    drop(root, "b.csv", [3])
    # The batch cannot write ahead, renewals fail, the lease expires and the lease-lost
    # handler's release fails too: reported, and no thread dies.
    wait_for(lambda: proc.pipelines()["p"]["state"] == "waiting_lease", 40, "lease lost on the full disk")
    wait_for(lambda: "No space left on device" in str(proc.pipelines()["p"]["last_error"]), 20, "reported")
    assert proc.get("/readyz")[0] == 503

    disk.free()
    wait_for(lambda: ids(lake) == [1, 2, 3], 60, "resumed by itself")
    wait_for(lambda: proc.pipelines()["p"]["state"] == "idle", 20, "idle again")
    assert proc.pipelines()["p"]["last_error"] is None
    drop(root, "c.csv", [4])
    wait_for(lambda: ids(lake) == [1, 2, 3, 4], 30, "still running")
    proc.terminate()
    assert proc.wait(30) == 0
    log = proc.stderr()
    assert "lease release failed (it expires by itself)" in log
    assert "Exception in thread" not in log and "Traceback" not in log


def test_full_delta_target_is_retried_with_degraded_readiness_and_heals(
    tmp_path: Path, small_disk: Any, daemon: Any
) -> None:
    disk: SmallDisk = small_disk("lake", 8192)
    root = make_project(tmp_path / "proj", tmp_path / "checkpoints", disk.path, ttl=30.0)
    proc = daemon(root)
    drop(root, "a.csv", [1, 2])
    wait_for(lambda: ids(disk.path) == [1, 2], 30, "first batch")

    disk.fill()
    drop(root, "b.csv", list(range(3, 2003)))
    wait_for(lambda: proc.pipelines()["p"]["degraded"] is True, 30, "degraded")
    pipeline = proc.pipelines()["p"]
    assert "No space left on device" in str(pipeline["last_error"])
    code, body = proc.get("/readyz")
    assert body["detail"]["degraded"] is True, (code, body)
    # Old code: "failed" after one attempt. Now: retried for as long as the disk is full.
    assert stays(lambda: proc.pipelines()["p"]["state"] != "failed", 8.0)

    disk.free()
    wait_for(lambda: ids(disk.path) == [1, 2, *range(3, 2003)], 90, "resumed by itself")
    wait_for(lambda: proc.pipelines()["p"]["degraded"] is False, 20, "not degraded")
    proc.terminate()
    assert proc.wait(30) == 0
