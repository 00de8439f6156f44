"""``make demo`` + Ctrl-C exits 0, every time (issue 10 #6).

``scripts/demo.py`` runs in a real pseudo-terminal (so it takes its interactive path), directly
and through the repository's ``make demo``, and Ctrl-C is typed as a terminal does it: ``\\x03``
on the pty, which the line discipline turns into SIGINT for the foreground process group.
Before, the demo signalled the daemon a second time after it had restored its default
handlers (``daemon exited with -15``, make's ``Error 241``), and make itself died of the
SIGINT (``make: *** [demo] Interrupt``) whatever the demo did.
"""

from __future__ import annotations

import contextlib
import json
import os
import pty
import select
import shutil
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, cli_env

pytestmark = pytest.mark.slow


class PtyDemo:
    """``python scripts/demo.py --workdir DIR`` on the slave side of a pty."""

    def __init__(self, workdir: Path, *, make: bool = False) -> None:
        self.runtime_dir = workdir / "run"  # the daemon's address file: its pid, for cleanup
        env = {**cli_env(), "DEMO_PORT": "0", "DEMO_PACE_SECONDS": "0.2", "TERM": "dumb",
               "DEMO_WORKDIR": str(workdir), "ODIBI_RUNTIME_DIR": str(self.runtime_dir)}
        if make:
            # The real target; `-o setup` keeps make from (re)installing a venv: the running
            # interpreter's venv is the one to use.
            venv = Path(sys.executable).parent.parent
            argv = ["make", "-s", "-C", str(REPO), "-o", "setup", "demo", f"VENV={venv}"]
        else:
            argv = [sys.executable, str(REPO / "scripts" / "demo.py")]
        pid, fd = pty.fork()
        if pid == 0:  # the child: its stdin/stdout are the pty, which is its controlling tty
            os.execvpe(argv[0], argv, env)
        self.pid, self.fd = pid, fd
        self.output = b""

    def read_until(self, text: bytes, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output:
            left = deadline - time.monotonic()
            assert left > 0, f"no {text!r} in:\n{self.output.decode(errors='replace')}"
            ready, _, _ = select.select([self.fd], [], [], min(left, 0.5))
            if ready:
                try:
                    self.output += os.read(self.fd, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break

    def ctrl_c(self) -> None:
        os.write(self.fd, b"\x03")

    def wait(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._drain()
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self._drain()
                return os.waitstatus_to_exitcode(status)
        os.kill(self.pid, 9)
        self.kill_daemon()
        raise AssertionError(f"demo did not exit:\n{self.output.decode(errors='replace')}")

    def kill_daemon(self) -> None:
        """The daemon runs in its own session: a failed test must not leave it behind."""
        for address in self.runtime_dir.glob("*/*.json"):
            with contextlib.suppress(ProcessLookupError, ValueError, OSError):
                os.kill(int(json.loads(address.read_text())["pid"]), 9)

    def _drain(self) -> None:
        while True:
            ready, _, _ = select.select([self.fd], [], [], 0.1)
            if not ready:
                return
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:
                return
            if not chunk:
                return
            self.output += chunk


@pytest.mark.parametrize("when", ["right away", "after a commit, twice", "make demo, twice"])
def test_ctrl_c_drains_and_exits_0(tmp_path: Path, when: str) -> None:
    if when.startswith("make") and shutil.which("make") is None:
        pytest.skip("make is not installed")
    demo = PtyDemo(tmp_path, make=when.startswith("make"))
    try:
        demo.read_until(b"press Ctrl-C", 90)
        if when != "right away":
            demo.read_until(b"committed orders_bronze batch", 60)
        demo.ctrl_c()
        if when != "right away":
            time.sleep(0.05)  # a second, impatient Ctrl-C while it drains (terminal timing)
            demo.ctrl_c()
        code = demo.wait(120)
    finally:
        os.close(demo.fd)
        demo.kill_daemon()  # normally gone (its address file with it)
    text = demo.output.decode(errors="replace")
    assert code == 0, text
    assert "demo: daemon exited with 0" in text and "drained" in text
    assert "Traceback" not in text and "Interrupt" not in text and "Error" not in text
