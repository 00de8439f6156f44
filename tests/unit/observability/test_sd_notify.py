"""The systemd notify protocol against a real datagram socket (what systemd listens on)."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from odibi_stream.observability.sd_notify import SystemdNotifier


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(2)
    yield sock, path
    sock.close()


def recv(sock: socket.socket) -> dict[str, str]:
    data = sock.recv(4096).decode()
    return dict(line.split("=", 1) for line in data.split("\n"))


def pending(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        sock.recv(4096)
        return True
    except BlockingIOError:
        return False
    finally:
        sock.settimeout(2)


def test_ready_status_stopping_reach_the_socket(listener: tuple[socket.socket, str]) -> None:
    sock, path = listener
    n = SystemdNotifier.from_env({"NOTIFY_SOCKET": path})
    assert n.enabled
    n.ready("serving 2 pipeline(s)")
    assert recv(sock) == {"READY": "1", "MAINPID": str(os.getpid()), "STATUS": "serving 2 pipeline(s)"}
    n.status("line one\nMAINPID=1")  # a newline must not smuggle in another assignment
    assert recv(sock) == {"STATUS": "line one MAINPID=1"}
    n.stopping("draining")
    assert recv(sock) == {"STOPPING": "1", "STATUS": "draining"}
    n.close()
    n.status("after close")
    assert not pending(sock)


def test_watchdog_pings_at_half_the_interval(listener: tuple[socket.socket, str]) -> None:
    sock, path = listener
    clock = Clock()
    n = SystemdNotifier(path, watchdog_seconds=10.0, clock=clock)
    n.ready()
    recv(sock)
    clock.now += 4.9
    assert n.watchdog() is False
    clock.now += 0.2
    assert n.watchdog() is True
    assert recv(sock) == {"WATCHDOG": "1"}
    assert n.watchdog() is False
    assert not pending(sock)


def test_watchdog_env_for_another_pid_is_ignored(listener: tuple[socket.socket, str]) -> None:
    _, path = listener
    mine = SystemdNotifier.from_env({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "30000000"})
    assert mine.watchdog_seconds == 30.0
    inherited = SystemdNotifier.from_env(
        {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid() + 1)}
    )
    assert inherited.watchdog_seconds is None


def test_abstract_socket_address() -> None:
    name = f"odibi-test-{os.getpid()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(2)
    try:
        SystemdNotifier.from_env({"NOTIFY_SOCKET": "@" + name}).ready()
        assert recv(sock)["READY"] == "1"
    finally:
        sock.close()


def test_without_notify_socket_nothing_is_sent_and_nothing_fails() -> None:
    n = SystemdNotifier.from_env({})
    assert not n.enabled
    n.ready("x")
    assert n.watchdog() is False
    n.stopping()
    n.close()


def test_a_vanished_socket_turns_notifications_off(tmp_path: Path) -> None:
    n = SystemdNotifier(str(tmp_path / "gone.sock"))
    n.ready()  # ENOENT: logged at debug, not raised
    assert not n.enabled
