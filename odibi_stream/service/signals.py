"""Signals of a served daemon: SIGTERM/SIGINT stop it, SIGHUP reloads it.

:class:`SignalWaiter` is a context manager: it installs the handlers on entry and restores the
previous ones on exit, so the drain that follows a stop signal happens with the handlers still
installed — a second SIGTERM/Ctrl-C while draining is absorbed, never a default-action kill.
Handlers only set flags (taking a lock inside a handler can deadlock the main thread); the
waiting loop turns them into requests five times a second, which costs no measurable CPU. Off
the main thread (embedding) no handler is installed and only ``stop`` ends the wait.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Any

POLL_SECONDS = 0.2


class SignalWaiter:
    """Wait for a stop signal (or :meth:`stop`); forward SIGHUP to ``on_reload``.

    Args:
        on_reload: Called (from the waiting thread) for each SIGHUP.
        on_tick: Called on every turn of the waiting loop (the systemd watchdog's liveness ping).
    """

    def __init__(self, on_reload: Callable[[], None], on_tick: Callable[[], object] | None = None) -> None:
        self.on_reload = on_reload
        self.on_tick = on_tick
        self.stop_requested = threading.Event()
        self._flags = {"stop": False, "reload": False}
        self._previous: dict[int, Any] = {}
        self._hup = getattr(signal, "SIGHUP", None)

    def __enter__(self) -> SignalWaiter:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT, self._hup):
                if sig is not None:
                    self._previous[sig] = signal.signal(sig, self._on_signal)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self._flags["reload" if signum == self._hup else "stop"] = True

    def stop(self) -> None:
        """End :meth:`wait` (thread-safe; not for use inside a signal handler)."""
        self.stop_requested.set()

    def wait(self) -> None:
        """Block until a stop signal or :meth:`stop`; SIGHUPs call ``on_reload`` meanwhile."""
        while not self.stop_requested.is_set() and not self._flags["stop"]:
            if self._flags["reload"]:
                self._flags["reload"] = False
                self.on_reload()
            if self.on_tick is not None:
                self.on_tick()
            self.stop_requested.wait(POLL_SECONDS)
