"""Why a pipeline wakes, and what a source says wakes it.

Sources (connectors) describe *what* to watch with a :data:`Watch`; triggers decide *how*:
a :class:`FolderWatch` becomes file-system events plus a reconciliation listing, a
:class:`PollWatch` a cheap periodic probe of end positions (Kafka end offsets, Event Hubs last
enqueued sequence numbers, a cloud folder's listing). Neither side imports the other, so a new
connector gets its wake-ups without any change to the trigger or service layers.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Protocol, runtime_checkable


class WakeReason(str, Enum):
    """Why a pipeline's runner is woken.

    ``DATA`` is a hint (run only if a source moved, coalesced); ``TICK`` forces one batch
    (coalesced); ``CATCH_UP`` forces one batch per missed schedule tick (counted).
    """

    DATA = "data"
    TICK = "tick"
    CATCH_UP = "catch_up"

    @property
    def forced(self) -> bool:
        """True when the wake-up runs a batch even if no source moved."""
        return self is not WakeReason.DATA


WakeFn = Callable[[WakeReason], None]
"""``wake(reason)``: ask the pipeline's runner to run; cheap, never blocks, any thread."""


@runtime_checkable
class Probe(Protocol):
    """An opened, cheap "where is the end now?" query of a source (for polling triggers).

    Lifecycle: the polling trigger opens one probe when it starts, calls :meth:`positions`
    every interval from its own thread, and calls :meth:`close` when it stops.
    """

    def positions(self) -> Hashable:
        """A value that changes when new data arrived (e.g. end offsets per partition).

        Raises on outages; the trigger logs and polls again.
        """
        ...

    def close(self) -> None:
        """Release the probe's client (idempotent)."""
        ...


@dataclass(frozen=True)
class FolderWatch:
    """Wake on files arriving under local ``paths`` (events plus a reconciliation listing).

    Attributes:
        paths: Folders to watch.
        settle_seconds: Files not seen closing are plannable this long after their last
            change; the trigger wakes again then.
    """

    paths: tuple[Path, ...]
    settle_seconds: float = 0.0


@dataclass(frozen=True)
class PollWatch:
    """Wake when a probe's positions change.

    Attributes:
        open_probe: Opens the probe (called by the trigger on start).
        name: What is polled, for logs (no secrets), e.g. ``kafka:orders``.
        default_interval: Seconds between polls unless the trigger config says otherwise.
        folder: True when the probe lists a folder of files (a cloud landing zone): it then
            serves a ``file_watch`` trigger, polled every ``reconcile_seconds``.
    """

    open_probe: Callable[[], Probe]
    name: str
    default_interval: float = 1.0
    folder: bool = False


Watch = FolderWatch | PollWatch
