"""The systemd notify protocol (``Type=notify``): READY, STOPPING, STATUS and the watchdog.

systemd passes a datagram socket in ``$NOTIFY_SOCKET`` (a path, or ``@name`` for the abstract
namespace) and, with ``WatchdogSec=``, the interval in ``$WATCHDOG_USEC``. Messages are
newline-separated ``KEY=value`` assignments (see sd_notify(3)); this module speaks it with the
standard library only and does nothing at all when ``$NOTIFY_SOCKET`` is unset.

Lifecycle contract (the daemon's ``serve`` is the only caller):
    * :meth:`SystemdNotifier.from_env` once at start-up; it opens the socket (no message yet).
    * :meth:`~SystemdNotifier.ready` once everything started (systemd then runs units ordered
      after this one), :meth:`~SystemdNotifier.status` whenever a one-line state is worth
      showing in ``systemctl status``, :meth:`~SystemdNotifier.watchdog` from the serve loop
      (it sends ``WATCHDOG=1`` only when half the interval has passed, so a wedged loop stops
      the pings and systemd restarts the service), :meth:`~SystemdNotifier.stopping` when a
      drain begins, then :meth:`~SystemdNotifier.close`.
    * Never raises: a vanished socket is logged once at debug level and further sends stop.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Mapping

log = logging.getLogger(__name__)

SOCKET_ENV = "NOTIFY_SOCKET"
WATCHDOG_USEC_ENV = "WATCHDOG_USEC"
WATCHDOG_PID_ENV = "WATCHDOG_PID"


class SystemdNotifier:
    """Sends sd_notify messages; a disabled instance (no socket) accepts every call silently.

    Args:
        address: ``$NOTIFY_SOCKET`` (``@`` prefix = abstract namespace), or None to disable.
        watchdog_seconds: The watchdog interval systemd expects pings within, or None.
        clock: Monotonic clock (seconds), replaceable in tests.
    """

    def __init__(
        self,
        address: str | None,
        watchdog_seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._address = "\0" + address[1:] if address and address.startswith("@") else address
        self.watchdog_seconds = watchdog_seconds
        self._clock = clock
        self._last_ping: float | None = None
        self._sock: socket.socket | None = None
        if self._address:
            try:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            except OSError as exc:  # no AF_UNIX (Windows): nothing to notify
                log.debug("sd_notify disabled: %s", exc)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SystemdNotifier:
        """A notifier for this process from ``$NOTIFY_SOCKET`` / ``$WATCHDOG_USEC``.

        The watchdog is enabled only if ``$WATCHDOG_PID`` is unset or names this process (the
        variables are inherited by children, which must not ping for their parent).
        """
        env = os.environ if environ is None else environ
        address = env.get(SOCKET_ENV) or None
        watchdog: float | None = None
        usec = env.get(WATCHDOG_USEC_ENV, "")
        pid = env.get(WATCHDOG_PID_ENV, "")
        if usec.isdigit() and int(usec) > 0 and (not pid or pid == str(os.getpid())):
            watchdog = int(usec) / 1_000_000
        return cls(address, watchdog)

    @property
    def enabled(self) -> bool:
        """True if messages are being sent (``$NOTIFY_SOCKET`` was set and usable)."""
        return self._sock is not None

    def ready(self, status: str | None = None) -> None:
        """``READY=1`` (+ ``STATUS``, ``MAINPID``): start-up is complete."""
        self._send("READY=1", f"MAINPID={os.getpid()}", *_status(status))
        self._last_ping = self._clock()

    def stopping(self, status: str | None = None) -> None:
        """``STOPPING=1``: the service is shutting down (draining in-flight batches)."""
        self._send("STOPPING=1", *_status(status))

    def status(self, text: str) -> None:
        """``STATUS=text``: a one-line state shown by ``systemctl status``."""
        self._send(*_status(text))

    def watchdog(self) -> bool:
        """``WATCHDOG=1`` if the watchdog is on and half its interval passed; True if sent."""
        if self.watchdog_seconds is None or self._sock is None:
            return False
        now = self._clock()
        if self._last_ping is not None and now - self._last_ping < self.watchdog_seconds / 2:
            return False
        self._last_ping = now
        return self._send("WATCHDOG=1")

    def close(self) -> None:
        """Close the socket; later calls do nothing."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _send(self, *assignments: str) -> bool:
        if self._sock is None or not assignments or self._address is None:
            return False
        try:
            self._sock.sendto("\n".join(assignments).encode("utf-8"), self._address)
        except OSError as exc:
            log.debug("sd_notify to %s failed, notifications off: %s", self._address, exc)
            self.close()
            return False
        return True


def _status(text: str | None) -> tuple[str, ...]:
    # One line only: a newline would start a new (unintended) assignment.
    return (f"STATUS={' '.join(text.split())}",) if text else ()
