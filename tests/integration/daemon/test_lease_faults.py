"""Issue 17 findings 8 and 9: lease state another party broke is reported, then repaired.

8. Another local user holding ``flock -x .lease.json.lock`` blocked renewal silently (the lease
   expired, readyz 503, no log line said why); checkpoint and dead-letter files were 0644.
9. A corrupt ``lease.json`` left the pipeline ``waiting_lease`` forever with ``last_error: null``;
   a huge epoch was a raw ``TypeError`` traceback; a far-future lease held by another owner was
   honoured indefinitely.

Now: the lock wait is bounded and the holder's pid is reported (log, ``last_error``, API) within
a renewal interval plus the lock timeout; a broken lease is reported with the ``odibi-stream
checkpoint unlock`` command, which repairs it. Real ``serve`` processes, a real ``flock``.
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from odibi_stream.checkpoints.local import DEFAULT_LOCK_TIMEOUT
from tests.conftest import CLI, cli_env, land, write_project
from tests.integration.daemon.daemon_procs import DaemonProc
from tests.unit.service.runtime_projects import wait_for

pytestmark = pytest.mark.slow

TTL = 6.0  # renewal every 2 s

ODIBI = f"""\
project: t
checkpoint: {{root: ./checkpoints}}
connections:
  local: {{type: local, base_path: ./data}}
runtime: {{lease_ttl_seconds: {TTL}, shutdown_grace_seconds: 5}}
server: {{port: 0}}
"""

PIPELINE = """\
pipeline: p
trigger: {file_watch: {debounce_ms: 5}}
dead_letter: {connection: local, path: dead, format: jsonl}
on_error: dead_letter
nodes:
  - name: src
    read:
      connection: local
      format: csv
      path: landing/*.csv
      options: {schema: {id: int64}}
      incremental: {mode: files, settle_seconds: 0}
    write: {connection: local, format: parquet, path: out}
"""


@pytest.fixture
def daemon(tmp_path: Path) -> Any:
    started: list[DaemonProc] = []

    def start(root: Path) -> DaemonProc:
        started.append(DaemonProc(root, tmp_path / f"daemon{len(started)}.log"))
        return started[-1]

    yield start
    for proc in started:
        proc.close()


def outputs(root: Path) -> int:
    return len(list((root / "data" / "out").glob("*.parquet")))


@pytest.mark.skipif(shutil.which("flock") is None, reason="needs util-linux flock(1)")
def test_foreign_flock_on_the_lease_lock_is_reported_with_its_pid(tmp_path: Path, daemon: Any) -> None:
    root = write_project(tmp_path / "proj", {"p": PIPELINE}, odibi_yaml=ODIBI)
    proc = daemon(root)
    wait_for(lambda: proc.get("/readyz")[0] == 200, 30, "ready")
    lock = root / "checkpoints" / "p" / ".lease.json.lock"
    assert stat.S_IMODE(lock.stat().st_mode) == 0o600
    holder = subprocess.Popen(["flock", "-x", str(lock), "-c", "echo held; exec sleep 120"],
                              stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        held_at = time.monotonic()
        # /proc/locks names the process that took the lock: flock(1) itself.
        expected = f"is held by process {holder.pid}"
        wait_for(lambda: expected in str(proc.pipelines()["p"]["last_error"]), 30, "report")
        elapsed = time.monotonic() - held_at
        bound = TTL / 3 + DEFAULT_LOCK_TIMEOUT + 2.0  # a renewal interval, the lock wait, slack
        print(f"foreign flock reported after {elapsed:.2f}s (bound {bound:.1f}s)")
        assert elapsed < bound, f"reported after {elapsed:.1f}s (bound {bound:.1f}s)"
        assert proc.pipelines()["p"]["degraded"] is True
        assert expected in proc.stderr()
    finally:
        os.killpg(holder.pid, signal.SIGKILL)  # flock and its child, which inherited the lock
        holder.wait(10)
    wait_for(lambda: proc.pipelines()["p"]["last_error"] is None, 20, "cleared once the lock is free")
    wait_for(lambda: proc.get("/readyz")[0] == 200, 20, "ready again")


def test_checkpoint_and_dead_letter_files_are_private(tmp_path: Path) -> None:
    root = write_project(tmp_path / "proj", {"p": PIPELINE}, odibi_yaml=ODIBI)
    land(root / "data" / "landing", "a.csv", "id\n1\nnot-a-number\n")
    proc = subprocess.run([*CLI, "run", str(root)], cwd=tmp_path, env=cli_env(),
                          capture_output=True, text=True, timeout=120, check=False,
                          preexec_fn=lambda: os.umask(0o022))
    assert proc.returncode == 0, proc.stderr
    ckpt = root / "checkpoints"
    for path in [ckpt, *ckpt.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))
    dead = root / "data" / "dead"
    assert stat.S_IMODE(dead.stat().st_mode) == 0o700
    files = list(dead.glob("*.jsonl"))
    assert files and all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)


BROKEN = {
    "garbage": b"\x00\x01{not json",
    "huge_epoch": orjson.dumps({"version": 1, "owner": "x:1:ab", "epoch": 2**63 - 1,
                                "expires": "2000-01-01T00:00:00+00:00"}),
    "far_future": orjson.dumps({"version": 1, "owner": "other-host:4242:cafe", "epoch": 5,
                                "expires": "2099-01-01T00:00:00+00:00"}),
}


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_broken_lease_is_reported_with_the_repair_command_which_repairs_it(
    tmp_path: Path, daemon: Any, kind: str
) -> None:
    root = write_project(tmp_path / "proj", {"p": PIPELINE}, odibi_yaml=ODIBI)
    lease = root / "checkpoints" / "p" / "lease.json"
    lease.parent.mkdir(parents=True)
    lease.write_bytes(BROKEN[kind])
    proc = daemon(root)
    wait_for(lambda: "checkpoint unlock" in str(proc.pipelines()["p"]["last_error"]), 20, "reported")
    assert proc.pipelines()["p"]["state"] == "waiting_lease"
    assert "checkpoint unlock" in proc.stderr()

    unlock = subprocess.run([*CLI, "checkpoint", "unlock", str(root), "--pipeline", "p", "--yes"],
                            cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=60,
                            check=False)
    assert unlock.returncode == 0, unlock.stderr
    wait_for(lambda: proc.get("/readyz")[0] == 200, 30, "taken over after unlock")
    land(root / "data" / "landing", "a.csv", "id\n1\n")
    wait_for(lambda: outputs(root) == 1, 30, "runs again")
    epoch = orjson.loads(lease.read_bytes())["epoch"]
    assert epoch == (6 if kind == "far_future" else 1)
    assert "Traceback" not in proc.stderr()
