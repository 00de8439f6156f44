"""The systemd unit under systemd 252 as PID 1 (in a container; this VM's PID 1 is not systemd).

odibi-stream is installed by scripts/install-systemd.sh (user, venv, read-only project copy,
env file, unit) into an image without procps. Proves: `systemd-analyze verify` is clean; the
sandbox's exposure score is <= 3.0; Type=notify start (READY=1 + STATUS reach systemd); a
landed file is committed into /var/lib/odibi-stream; `systemctl reload` (SIGHUP via the shell's
builtin kill) reloads; `kill -9` gets the service restarted; a wedged process (SIGSTOP) misses
its WATCHDOG=1 pings and systemd restarts it; `systemctl stop` drains and exits 0.
"""

from __future__ import annotations

import re
import subprocess
import uuid
from collections.abc import Iterator

import pytest

from tests.deploy.deploy_helpers import QUICKSTART, SYSTEMD_IMAGE, docker, record_fact, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600), pytest.mark.usefixtures("docker_engine")]
UNIT = "odibi-stream"
MAX_EXPOSURE = 3.0


@pytest.fixture
def systemd_box() -> Iterator[str]:
    """A running container with systemd as PID 1 (the flags this VM allows: no --privileged)."""
    name = f"odibi-systemd-{uuid.uuid4().hex[:8]}"
    docker("run", "-d", "--name", name, "--cap-add", "SYS_ADMIN", "--security-opt", "seccomp=unconfined",
           "--cgroupns=host", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw", "--tmpfs", "/run",
           "--tmpfs", "/run/lock", "--tmpfs", "/tmp", "-e", "container=docker", SYSTEMD_IMAGE)
    try:
        wait_until(lambda: run(name, "systemctl is-system-running", check=False).stdout.strip()
                   in ("running", "degraded"), 90, "systemd booted")
        yield name
    finally:
        docker("rm", "-f", name, check=False)


def run(box: str, script: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return docker("exec", box, "bash", "-c", script, check=check, timeout=timeout)


def show(box: str, prop: str) -> str:
    return run(box, f"systemctl show -p {prop} --value {UNIT}").stdout.strip()


def journal(box: str) -> str:
    return run(box, f"journalctl -u {UNIT} -o cat --no-pager").stdout


def test_unit_verify_security_notify_reload_restart_watchdog_stop(systemd_box: str) -> None:
    box = systemd_box
    assert run(box, "test ! -e /bin/kill && test ! -e /usr/bin/kill", check=False).returncode == 0

    verify = run(box, f"systemd-analyze verify /etc/systemd/system/{UNIT}.service 2>&1", check=False)
    assert verify.returncode == 0 and verify.stdout.strip() == "", verify.stdout

    security = run(box, f"systemd-analyze security {UNIT} --no-pager").stdout
    score = float(re.search(r"Overall exposure level for \S+: ([\d.]+)", security).group(1))  # type: ignore[union-attr]
    record_fact("systemd-security", f"systemd-analyze security {UNIT}: {score} (max {MAX_EXPOSURE})")
    assert score <= MAX_EXPOSURE, security

    # Type=notify: `active` only after READY=1; the STATUS line comes from the daemon too.
    wait_until(lambda: show(box, "ActiveState") == "active", 60, "the service active")
    assert show(box, "Type") == "notify"
    assert show(box, "StatusText") == "serving 1 pipeline(s)"
    assert show(box, "User") == "odibi-stream"
    # The project is read-only to the service; state goes to the StateDirectory.
    owner = run(box, "stat -c %U /etc/odibi-stream/project/odibi.yaml /var/lib/odibi-stream").stdout.split()
    assert owner == ["root", "odibi-stream"]

    sample = (QUICKSTART / "samples" / "orders-001.csv").read_text()
    landing = "/var/lib/odibi-stream/data/landing/orders"
    run(box, f"install -d -o odibi-stream {landing} && cat > {landing}/.o.tmp <<'CSV'\n{sample}CSV\n"
             f"mv {landing}/.o.tmp {landing}/orders-001.csv")
    wait_until(lambda: "committed orders_bronze batch 0" in journal(box), 60, "batch 0 committed")

    run(box, f"systemctl reload {UNIT}")  # ExecReload=/bin/sh -c 'kill -HUP "$MAINPID"'
    wait_until(lambda: "reloaded: 1 pipelines" in journal(box), 30, "the reload")
    assert show(box, "ActiveState") == "active"

    pid = show(box, "MainPID")
    run(box, f"kill -9 {pid}")
    wait_until(lambda: show(box, "NRestarts") == "1" and show(box, "ActiveState") == "active"
               and show(box, "MainPID") not in ("0", pid), 60, "a restart after kill -9")

    # The watchdog: a stopped process sends no WATCHDOG=1; systemd aborts and restarts it.
    run(box, f"mkdir -p /run/systemd/system/{UNIT}.service.d && printf '[Service]\\nWatchdogSec=3\\n' "
             f"> /run/systemd/system/{UNIT}.service.d/watchdog.conf && systemctl daemon-reload && "
             f"systemctl restart {UNIT}")
    wait_until(lambda: show(box, "ActiveState") == "active", 60, "active with WatchdogSec=3")
    wait_until(lambda: show(box, "WatchdogTimestampMonotonic") != "0", 10, "a WATCHDOG=1 ping")
    pid = show(box, "MainPID")
    run(box, f"kill -STOP {pid}")
    wait_until(lambda: "Watchdog timeout" in journal(box), 30, "the watchdog timeout")
    wait_until(lambda: show(box, "ActiveState") == "active" and show(box, "MainPID") not in ("0", pid),
               60, "a restart after the watchdog fired")
    run(box, f"rm -r /run/systemd/system/{UNIT}.service.d && systemctl daemon-reload")

    run(box, f"systemctl stop {UNIT}", timeout=90)
    assert show(box, "Result") == "success"
    assert show(box, "ExecMainStatus") == "0"
    assert journal(box).count("daemon stopped: clean=True") >= 1
    assert "Traceback" not in journal(box)
