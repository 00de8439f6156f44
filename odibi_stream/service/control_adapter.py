"""DaemonControl: the daemon's parts, seen through the :class:`ControlPlane` protocol.

Read-mostly and non-blocking: it reads the pipeline set and the workers' thread-safe state;
``trigger``/``pause``/``resume`` only *request* (the worker threads act on them).
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from odibi_stream.core.jsonable import jsonable
from odibi_stream.core.wake import WakeReason
from odibi_stream.exceptions import CheckpointError
from odibi_stream.observability import metrics
from odibi_stream.service.describe import static_description, waiting_description
from odibi_stream.service.history import StoryHistory
from odibi_stream.service.pipelines import PipelineSet
from odibi_stream.service.stream_manager import StreamManager


class DaemonControl:
    """Implements :class:`~odibi_stream.service.control.ControlPlane` for one daemon.

    Args:
        pipelines: The daemon's pipeline set.
        streams: The daemon's stream manager.
        default_engine: The project's default engine (shown for pipelines without one).
    """

    def __init__(self, pipelines: PipelineSet, streams: StreamManager, default_engine: str) -> None:
        self._pipelines = pipelines
        self._streams = streams
        self.default_engine = default_engine
        self.started = threading.Event()
        self.reload_error: str | None = None
        self.history: StoryHistory | None = None
        """Set by the daemon: batch stories for :meth:`batches` and :meth:`batch`."""

    def pipelines(self) -> list[dict[str, Any]]:
        """See ``ControlPlane.pipelines``."""
        return [d for d in (self.pipeline(n) for n in self._pipelines.names()) if d is not None]

    def pipeline(self, name: str) -> dict[str, Any] | None:
        """See ``ControlPlane.pipeline``."""
        config = self._pipelines.config(name)
        if config is None:
            return None
        out = static_description(config, self.default_engine)
        try:
            worker = self._streams.worker(name)
        except KeyError:
            out.update(waiting_description())
            out["last_error"] = self._pipelines.errors.get(name)
        else:
            out.update(worker.describe_state())
            out["last_batch"] = worker.last_batch
        out["reload_error"] = self.reload_error
        return dict(jsonable(out))

    def _known(self, name: str) -> None:
        if self._pipelines.config(name) is None:
            raise KeyError(name)

    def trigger(self, name: str) -> None:
        """See ``ControlPlane.trigger``."""
        self._known(name)
        self._streams.wake(name, WakeReason.TICK)

    def pause(self, name: str) -> None:
        """See ``ControlPlane.pause``."""
        self._known(name)
        self._pipelines.paused.add(name)
        with contextlib.suppress(KeyError):  # not owned here yet: starts paused once leased
            self._streams.pause(name)

    def resume(self, name: str) -> None:
        """See ``ControlPlane.resume``."""
        self._known(name)
        self._pipelines.paused.discard(name)
        with contextlib.suppress(KeyError):
            self._streams.resume(name)

    def skip(self, name: str) -> int:
        """See ``ControlPlane.skip``: only while failed, so no batch of ``name`` is running."""
        self._known(name)
        try:
            worker = self._streams.worker(name)
        except KeyError:
            raise CheckpointError(f"pipeline {name} is not running here", hint="skip it on the daemon that owns it") from None
        if worker.state != "failed":
            raise CheckpointError(
                f"pipeline {name} is {worker.state}, not failed",
                hint="skip only drops the batch of a failed pipeline; use checkpoint skip when stopped",
            )
        # The failed worker starts no batch until resumed and recovers from the checkpoint then.
        skipped = self._pipelines.checkpoints.log(name).skip()
        self._streams.resume(name)
        return skipped

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        """See ``ControlPlane.readiness``."""
        held = set(self._pipelines.held())
        detail: dict[str, Any] = {}
        for item in self.pipelines():
            detail[item["name"]] = {"state": item["state"], "lease": item["name"] in held, "degraded": item["degraded"]}
        ready = self.started.is_set() and all(
            d["lease"] and d["state"] != "waiting_lease" for d in detail.values()
        )
        out: dict[str, Any] = {
            "pipelines": detail,
            "reload_error": self.reload_error,
            "degraded": any(d["degraded"] for d in detail.values()),
        }
        return ready, out

    def batches(self, name: str, limit: int) -> list[dict[str, Any]] | None:
        """See ``ControlPlane.batches``."""
        if self._pipelines.config(name) is None:
            return None
        return self.history.batches(name, limit) if self.history is not None else []

    def batch(self, name: str, batch: int) -> dict[str, Any] | None:
        """See ``ControlPlane.batch``."""
        if self._pipelines.config(name) is None or self.history is None:
            return None
        return self.history.batch(name, batch)

    def metrics_text(self) -> tuple[bytes, str]:
        """See ``ControlPlane.metrics_text``."""
        return metrics.render()
