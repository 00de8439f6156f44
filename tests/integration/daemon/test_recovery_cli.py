"""Recovery from the CLI against a real ``serve`` process (issue 10 #5 and #6).

The daemon is started on ``--port 0`` (a port nobody configured): ``status``, ``trigger``,
``pause``... find it through its address file. The recovery walkthrough of the README is
played end to end: a bad file fails the pipeline, ``status`` says where, ``trigger`` says it
is failed and how to resume, the file is fixed, ``retry`` resumes.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import orjson
import pytest

from odibi_stream.checkpoints.lease import Lease
from odibi_stream.checkpoints.local import LocalCheckpointStore
from tests.conftest import cli_env
from tests.integration.daemon.daemon_procs import CLI, DaemonProc
from tests.unit.service.runtime_projects import ProjectBuilder, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def runtime_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "run"
    monkeypatch.setenv("ODIBI_RUNTIME_DIR", str(folder))  # cli_env() copies os.environ
    return folder


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=cli_env(), timeout=120)


def state(root: Path) -> dict[str, object]:
    res = cli("status", str(root), "--json")
    assert res.returncode == 0, res.stderr
    doc = orjson.loads(res.stdout)
    return dict(doc["pipelines"][0]["daemon"] or {}) | {"_url": doc["daemon_url"]}


def test_the_recovery_walkthrough(tmp_path: Path, runtime_dir: Path) -> None:
    proj = ProjectBuilder(tmp_path / "proj")
    proj.pipeline("orders")
    root = str(proj.root)
    daemon = DaemonProc(proj.root, tmp_path / "d.log")
    try:
        [address] = list(runtime_dir.glob("*/*.json"))
        assert orjson.loads(address.read_bytes())["url"].rstrip("/") == daemon.url
        bad = proj.root / "data" / "landing" / "orders" / "0001.csv"
        bad.write_text("")
        wait_for(lambda: state(proj.root).get("state") == "failed", 20, "failed")
        text = cli("status", root)
        assert text.returncode == 0
        assert f"{proj.root}/pipelines/orders.yaml:5: batch 0 step execute node src:" in text.stdout
        assert "input: landing/orders/0001.csv" in text.stdout
        assert f"odibi-stream retry {root} orders" in text.stdout
        res = cli("trigger", root, "orders")
        assert res.returncode == 1
        assert "orders is failed: the trigger is ignored until it is retried" in res.stderr
        assert f"odibi-stream retry {root} orders" in res.stderr
        # the fix: set bad files aside; the daemon reloads the pipeline and replays the batch
        yaml = proj.root / "pipelines" / "orders.yaml"
        yaml.write_text(yaml.read_text().replace(
            "nodes:", "on_error: dead_letter\ndead_letter: {connection: local, path: dead}\nnodes:"))
        wait_for(lambda: state(proj.root).get("last_committed") == 0, 20, "the replayed batch")
        assert state(proj.root)["state"] == "idle"
        res = cli("retry", root, "orders")
        assert res.returncode == 1 and "not failed" in res.stderr  # nothing left to retry
        proj.drop("orders", "0001-fixed.csv", [1, 2])  # the corrected data, under a new name
        wait_for(lambda: proj.ids("orders") == [1, 2], 20, "the corrected file")
        # pause / resume live; the pause survives in the checkpoint
        assert cli("pause", root, "orders").returncode == 0
        assert state(proj.root)["state"] == "paused"
        res = cli("trigger", root, "orders")
        assert res.returncode == 1 and f"odibi-stream resume {root} orders" in res.stderr
        # a checkpoint repair on a pipeline the daemon owns is refused, naming the owner
        res = cli("checkpoint", "reset", root, "--pipeline", "orders", "--yes")
        assert res.returncode == 1 and "is owned by" in res.stderr
        assert cli("resume", root, "orders").returncode == 0
        proj.drop("orders", "0002.csv", [3])
        wait_for(lambda: proj.ids("orders") == [1, 2, 3], 20, "resumed")
    finally:
        daemon.terminate(signal.SIGTERM)
        assert daemon.wait(30) == 0
        daemon.close()
    assert list(runtime_dir.glob("*/*.json")) == []  # the address file leaves with the daemon
    assert state(proj.root)["_url"] is None


def test_offline_recovery_and_a_killed_daemons_address(tmp_path: Path, runtime_dir: Path) -> None:
    proj = ProjectBuilder(tmp_path / "proj")
    proj.pipeline("orders")
    root = str(proj.root)
    daemon = DaemonProc(proj.root, tmp_path / "d.log")
    bad = proj.root / "data" / "landing" / "orders" / "0001.csv"
    bad.write_text("")
    wait_for(lambda: state(proj.root).get("state") == "failed", 20, "failed")
    daemon.terminate(signal.SIGKILL)  # leaves its address file and its lease behind
    daemon.wait(10)
    daemon.close()
    assert list(runtime_dir.glob("*/*.json"))
    res = cli("skip", root, "orders", "--yes")  # the dead daemon is not asked; its lease refuses
    assert res.returncode == 1 and "is owned by" in res.stderr and "lease_ttl_seconds" in res.stderr
    assert list(runtime_dir.glob("*/*.json")) == []  # the stale address file was cleaned up
    store = LocalCheckpointStore(proj.root / "checkpoints")
    Lease(store, "orders", "test", 1).store.delete("orders/lease.json")  # as if it expired
    res = cli("skip", root, "orders", "--yes")
    assert res.returncode == 0, res.stderr
    assert "skipped batch 0 of 'orders'" in res.stdout
    assert cli("pause", root, "orders").returncode == 0
    res = cli("run", root)
    assert res.returncode == 0 and f"orders: paused, not run (odibi-stream resume {root} orders)" in res.stdout
    assert cli("resume", root, "orders").returncode == 0
    proj.drop("orders", "0002.csv", [4])
    res = cli("retry", root, "orders")
    assert res.returncode == 0, res.stderr
    assert proj.ids("orders") == [4]
    text = cli("status", root).stdout
    assert "daemon: not reachable" in text and " -1 " not in text


def test_status_finds_no_daemon_and_says_where_it_looked(tmp_path: Path, runtime_dir: Path) -> None:
    proj = ProjectBuilder(tmp_path / "proj")
    proj.pipeline("orders", trigger="{manual: {}}")
    res = cli("trigger", str(proj.root), "orders")
    assert res.returncode == 1
    assert "no odibi-stream daemon answers for this project" in res.stderr
    assert str(runtime_dir) in res.stderr
    text = cli("status", str(proj.root)).stdout
    assert "│ none " in text  # no batch committed yet: "none", never -1
    env = os.environ.get("ODIBI_RUNTIME_DIR")
    assert env == str(runtime_dir)
