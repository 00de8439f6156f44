"""`odibi-stream serve` speaks the notify protocol to whatever listens on $NOTIFY_SOCKET."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import cli_env, write_project

PIPE = """\
pipeline: p
trigger: {manual: {}}
nodes:
  - name: src
    read: {connection: local, format: csv, path: "in/*.csv", incremental: {mode: files}}
    write: {connection: local, format: parquet, path: out}
"""


def _messages(sock: socket.socket, until: str, deadline: float) -> list[str]:
    got: list[str] = []
    while time.monotonic() < deadline:
        try:
            got.append(sock.recv(4096).decode())
        except TimeoutError:
            continue
        if until in got[-1]:
            return got
    raise AssertionError(f"no {until} within the deadline; got {got}")


def test_serve_notifies_ready_watchdog_and_stopping(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", {"p": PIPE})
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(0.5)
    env = {**cli_env(), "NOTIFY_SOCKET": path, "WATCHDOG_USEC": "600000"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "odibi_stream.cli.main", "serve", str(root), "--port", "0"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        first = _messages(sock, "READY=1", time.monotonic() + 60)
        assert any(f"MAINPID={proc.pid}" in m for m in first)
        # the serve loop pings at half of WATCHDOG_USEC (0.3 s): two pings within 3 s
        pings = [m for m in _messages(sock, "WATCHDOG=1", time.monotonic() + 3)]
        pings += _messages(sock, "WATCHDOG=1", time.monotonic() + 3)
        assert sum("WATCHDOG=1" in m for m in pings) >= 2
        proc.send_signal(signal.SIGTERM)
        _messages(sock, "STOPPING=1", time.monotonic() + 30)
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        sock.close()
