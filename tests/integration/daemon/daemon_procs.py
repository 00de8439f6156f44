"""Run ``odibi-stream serve`` as a real subprocess and talk to its HTTP API."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import orjson

from tests.conftest import cli_env

CLI = [sys.executable, "-m", "odibi_stream.cli.main"]


class DaemonProc:
    """One ``odibi-stream serve PROJECT --port 0`` process; its stderr goes to a log file."""

    def __init__(self, root: Path, log: Path, *extra: str) -> None:
        self.log_path = log
        self._log = log.open("wb")
        self.proc = subprocess.Popen(
            [*CLI, "serve", str(root), "--port", "0", *extra],
            stdout=subprocess.PIPE, stderr=self._log, env={**cli_env(), "PYTHONFAULTHANDLER": "1"}, text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.stdout: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()
        self.url = self._wait_url()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.stdout.append(line)
            self.lines.put(line)

    def _wait_url(self, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.proc.poll() is not None:
                    raise AssertionError(f"daemon exited {self.proc.returncode}: {self.stderr()}") from None
                continue
            m = re.search(r"status: (http://\S+)", line)
            if m:
                return m.group(1).rstrip("/")
        raise AssertionError(f"daemon printed no status URL: {self.stderr()}")

    def stderr(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def get(self, path: str) -> tuple[int, Any]:
        return call(self.url + path)

    def post(self, path: str) -> tuple[int, Any]:
        return call(self.url + path, "POST")

    def pipelines(self) -> dict[str, dict[str, Any]]:
        code, body = self.get("/api/pipelines")
        assert code == 200, body
        return {p["name"]: p for p in body["pipelines"]}

    def terminate(self, sig: int = 15) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout=timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGABRT)  # faulthandler dumps every thread into the log
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()


def call(url: str, method: str = "GET") -> tuple[int, Any]:
    req = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    req.add_header("X-Odibi-Request", "1")  # the CSRF guard refuses POSTs without it
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, orjson.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, orjson.loads(exc.read() or b"null")


def cpu_ticks(pid: int) -> int:
    """utime + stime of a process, in clock ticks, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])
