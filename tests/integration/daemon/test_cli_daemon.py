"""``odibi-stream serve|status|trigger`` through the real console entry point."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from pathlib import Path

import orjson
import pytest

from tests.conftest import cli_env
from tests.integration.daemon.daemon_procs import CLI, DaemonProc
from tests.unit.service.runtime_projects import ProjectBuilder, wait_for

pytestmark = pytest.mark.slow


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=env or cli_env(), timeout=60)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_bad_project_exits_2_without_starting(tmp_path: Path) -> None:
    proj = ProjectBuilder(tmp_path / "proj")
    f = proj.pipeline("a")
    f.write_text(f.read_text().replace("max_attempts", "max_atempts"))
    res = _run("serve", str(proj.root), "--port", "0")
    assert res.returncode == 2
    assert "a.yaml:2" in res.stderr and "Traceback" not in res.stderr
    assert not (proj.root / "checkpoints").exists()


def test_non_loopback_bind_needs_a_token(tmp_path: Path) -> None:
    proj = ProjectBuilder(tmp_path / "proj")
    proj.pipeline("a")
    env = {k: v for k, v in cli_env().items() if k != "ODIBI_API_TOKEN"}
    res = _run("serve", str(proj.root), "--host", "0.0.0.0", "--port", "0", env=env)
    assert res.returncode == 2
    assert "ODIBI_API_TOKEN" in res.stderr


def test_trigger_without_daemon_says_so(tmp_path: Path) -> None:
    proj = ProjectBuilder(tmp_path / "proj")
    proj.pipeline("m", trigger="{manual: {}}")
    res = _run("trigger", str(proj.root), "m", "--port", str(_free_port()))
    assert res.returncode == 1
    assert "no odibi-stream daemon" in res.stderr


def test_status_and_trigger_against_a_running_daemon(tmp_path: Path) -> None:
    proj = ProjectBuilder(tmp_path / "proj")
    proj.pipeline("m", trigger="{manual: {}}")
    port = _free_port()
    (proj.root / "odibi.yaml").write_text((proj.root / "odibi.yaml").read_text().replace("port: 0", f"port: {port}"))
    daemon = DaemonProc(proj.root, tmp_path / "d.log", "--port", str(port))
    try:
        proj.drop("m", "a.csv", [1, 2])
        res = _run("trigger", str(proj.root), "m")
        assert res.returncode == 0, res.stderr
        wait_for(lambda: proj.ids("m") == [1, 2], 20, "triggered batch")
        wait_for(lambda: daemon.pipelines()["m"]["state"] == "idle", 10, "idle")
        res = _run("status", str(proj.root), "--json")
        assert res.returncode == 0, res.stderr
        doc = orjson.loads(res.stdout)
        row = doc["pipelines"][0]
        assert doc["daemon_url"] is not None
        assert row["name"] == "m" and row["last_committed"] == 0 and row["daemon"]["state"] == "idle"
        text = _run("status", str(proj.root))
        assert "m" in text.stdout and "manual" in text.stdout
        assert _run("trigger", str(proj.root), "nope").returncode == 2
    finally:
        os.kill(daemon.proc.pid, signal.SIGINT)
        assert daemon.wait(30) == 0
        daemon.close()
    offline = orjson.loads(_run("status", str(proj.root), "--json").stdout)
    assert offline["daemon_url"] is None and offline["pipelines"][0]["last_committed"] == 0
