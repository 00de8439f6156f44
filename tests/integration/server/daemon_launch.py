"""``odibi-stream serve`` as a real subprocess, optionally under a low fd limit (``ulimit -n``)."""

from __future__ import annotations

import queue
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

from tests.conftest import CLI, cli_env


class ServeProc:
    """One ``serve PROJECT --port 0`` process; stderr goes to ``log``; ``url`` from its stdout."""

    def __init__(self, root: Path, log: Path, *, fd_limit: int | None = None,
                 env: dict[str, str] | None = None) -> None:
        cmd = [*CLI, "serve", str(root), "--port", "0"]
        if fd_limit is not None:
            cmd = ["bash", "-c", f'ulimit -n {fd_limit} && exec "$@"', "serve", *cmd]
        self.log_path = log
        self._log = log.open("wb")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self._log,
                                     env={**cli_env(), **(env or {})}, text=True)
        self._lines: queue.Queue[str] = queue.Queue()
        self._pump_thread = threading.Thread(target=self._pump, daemon=True)
        self._pump_thread.start()
        self.url = self._wait_url()
        self.port = int(self.url.rsplit(":", 1)[1])

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)

    def _wait_url(self, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._lines.get(timeout=0.2)
            except queue.Empty:
                if self.proc.poll() is not None:
                    raise AssertionError(f"daemon exited {self.proc.returncode}: {self.stderr()}") from None
                continue
            found = re.search(r"status: (https?://\S+)", line)
            if found:
                return found.group(1).rstrip("/")
        raise AssertionError(f"daemon printed no status URL: {self.stderr()}")

    def fds(self) -> int:
        """Open file descriptors of the daemon process right now."""
        return len(list(Path(f"/proc/{self.proc.pid}/fd").iterdir()))

    def stderr(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait (SIGKILL after ``timeout``); returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._pump_thread.join(5)  # EOF once the process is gone
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._log.close()
        return self.proc.returncode
