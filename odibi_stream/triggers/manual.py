"""The ``manual`` trigger: never fires by itself (runs come from the API, the CLI or code)."""

from __future__ import annotations

from odibi_stream.core.wake import WakeFn


class ManualTrigger:
    """A trigger that never calls ``wake``; see :mod:`odibi_stream.triggers.base`."""

    def start(self, wake: WakeFn) -> None:
        """Nothing to start: manual pipelines run only when asked."""

    def stop(self) -> None:
        """Nothing to stop."""
