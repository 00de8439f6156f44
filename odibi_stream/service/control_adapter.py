"""DaemonControl: the daemon's parts, seen through the :class:`ControlPlane` protocol.

Read-mostly and non-blocking: it reads the pipeline set and the workers' thread-safe state;
``trigger``/``pause``/``resume``/``retry`` only *request* (the worker threads act on them).
``skip`` changes the checkpoint on the pipeline's own worker thread (the runner is not
thread-safe), so it is refused unless the pipeline is ``failed`` or ``paused`` and waits at
most :data:`SKIP_WAIT_SECONDS` for that thread.

A pause is durable: it is written as the pipeline's pause marker in the checkpoint (see
:mod:`odibi_stream.service.recovery`), so a restarted daemon starts the pipeline paused; resume
removes it. A pipeline whose worker could not even open (bad credentials, a missing table) is
restarted by ``retry``/``resume``/``skip`` (its lease is released and taken again).

Reload errors are attributed by file: an error in a pipeline's YAML shows on that pipeline, an
error in ``odibi.yaml`` on every pipeline, an error in a new pipeline file on none (it is still
reported by readiness and the log).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import threading
from pathlib import Path
from typing import Any

from odibi_stream.config.project import PROJECT_FILE_KEY
from odibi_stream.core.jsonable import jsonable
from odibi_stream.core.wake import WakeReason
from odibi_stream.exceptions import OdibiError
from odibi_stream.observability import metrics
from odibi_stream.runtime.failure import message_detail
from odibi_stream.service.control import ActionRefused
from odibi_stream.service.describe import static_description, waiting_description
from odibi_stream.service.history import StoryHistory
from odibi_stream.service.pipelines import PipelineSet
from odibi_stream.service.recovery import clear_paused, is_paused, mark_paused
from odibi_stream.service.stream_manager import StreamManager
from odibi_stream.service.worker import PipelineWorker

log = logging.getLogger(__name__)

SKIP_WAIT_SECONDS = 10.0
"""How long ``skip`` waits for the pipeline's worker thread to take the request."""


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
        self._reload_errors: dict[str, str] = {}
        self._actions = threading.Lock()
        self.history: StoryHistory | None = None
        """Set by the daemon: batch stories for :meth:`batches` and :meth:`batch`."""
        self._load_pause_markers()

    def _load_pause_markers(self) -> None:
        store = self._pipelines.checkpoints.store
        for name in self._pipelines.project.pipelines:
            try:
                if is_paused(store, name):
                    self._pipelines.paused.add(name)
            except OdibiError as exc:  # an unreadable marker must not keep the daemon down
                log.error("pipeline %s: cannot read its pause marker: %s", name, exc)

    # ------------------------------------------------------------------ descriptions
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
            error = self._pipelines.errors.get(name)
            out["last_error"] = error
            out["error"] = message_detail(error) if error else None
        else:
            out.update(worker.describe_state())
            out["last_batch"] = worker.last_batch
        out["reload_error"] = self._reload_errors.get(name)
        return dict(jsonable(out))

    # ------------------------------------------------------------------ actions
    def _known(self, name: str) -> None:
        if self._pipelines.config(name) is None:
            raise KeyError(name)

    def _worker(self, name: str) -> PipelineWorker | None:
        try:
            return self._streams.worker(name)
        except KeyError:
            return None

    def trigger(self, name: str) -> None:
        """See ``ControlPlane.trigger``."""
        self._known(name)
        self._streams.wake(name, WakeReason.TICK)

    def pause(self, name: str) -> None:
        """See ``ControlPlane.pause`` (also writes the pause marker)."""
        self._known(name)
        with self._actions:
            self._pipelines.paused.add(name)
            self._store_marker(name, paused=True)
            with contextlib.suppress(KeyError):  # not owned here yet: starts paused once leased
                self._streams.pause(name)

    def resume(self, name: str) -> None:
        """See ``ControlPlane.resume`` (also removes the pause marker)."""
        self._known(name)
        with self._actions:
            self._pipelines.paused.discard(name)
            self._store_marker(name, paused=False)
            worker = self._worker(name)
            if worker is not None and worker.thread.is_alive():
                worker.set_paused(False)
            elif worker is not None or name in self._pipelines.errors:
                self._restart(name)

    def retry(self, name: str) -> None:
        """See ``ControlPlane.retry``."""
        self._known(name)
        with self._actions:
            worker = self._worker(name)
            if worker is not None and worker.failed and worker.thread.is_alive():
                worker.clear_failure()
                return
            if (worker is not None and worker.failed) or (worker is None and name in self._pipelines.errors):
                self._restart(name)
                return
            state = worker.state if worker is not None else "waiting_lease"
            raise ActionRefused(
                f"pipeline {name} is {state}, not failed: there is nothing to retry",
                hint="trigger it to run a batch now",
            )

    def skip(self, name: str) -> int:
        """See ``ControlPlane.skip``."""
        self._known(name)
        with self._actions:
            worker = self._worker(name)
            if worker is None:
                raise ActionRefused(
                    f"pipeline {name} is not running in this daemon (waiting for its lease)",
                    hint="skip it where it runs, or offline once no process holds it",
                )
            if worker.busy or worker.state not in ("failed", "paused"):
                raise ActionRefused(
                    f"pipeline {name} is {worker.state}: skip only a failed or paused pipeline",
                    hint=f"pause it first: odibi-stream pause PROJECT {name}",
                )
            plog = self._pipelines.checkpoints.log(name)

            def skip_on_worker(runner: Any) -> int:
                batch = plog.skip()
                runner.forget_progress()  # its in-memory position still holds the skipped plan
                return batch

            try:
                batch = worker.call(skip_on_worker).result(timeout=SKIP_WAIT_SECONDS)
            except concurrent.futures.TimeoutError as exc:
                raise ActionRefused(f"pipeline {name} is busy", hint="try again") from exc
            except RuntimeError:  # no worker thread: the pipeline never opened
                batch = self._skip_offline(name)
                self._restart(name)
                return batch
            except OdibiError as exc:
                raise ActionRefused(str(exc), hint=exc.hint) from exc
            if worker.failed:
                worker.clear_failure()
            log.warning("operator skipped batch %d of pipeline %s", batch, name)
            return batch

    def _skip_offline(self, name: str) -> int:
        try:
            return self._pipelines.checkpoints.log(name).skip()
        except OdibiError as exc:
            raise ActionRefused(str(exc), hint=exc.hint) from exc

    def _restart(self, name: str) -> None:
        """Stop the pipeline, release its lease, and pursue it again (it reopens on acquisition)."""
        log.info("restarting pipeline %s on operator request", name)
        self._pipelines.retire(name)
        self._pipelines.want(name)
        self._pipelines.round()

    def _store_marker(self, name: str, *, paused: bool) -> None:
        store = self._pipelines.checkpoints.store
        try:
            if paused:
                mark_paused(store, name, self._pipelines.owner)
            else:
                clear_paused(store, name)
        except OdibiError as exc:  # the in-memory pause still holds for this process
            log.error("pipeline %s: cannot write its pause marker: %s", name, exc)

    # ------------------------------------------------------------------ reloads
    def reload_failed(self, exc: OdibiError) -> None:
        """Record a failed reload, attributing each error to the pipeline whose file it names."""
        self.reload_error = str(exc)
        project = self._pipelines.project
        by_file = {_resolved(path): name for name, path in project.files.items()}
        per: dict[str, list[str]] = {}
        for err in getattr(exc, "errors", None) or [exc]:
            owner = by_file.get(_resolved(getattr(err, "file", None)))
            names = list(project.pipelines) if owner == PROJECT_FILE_KEY else [owner] if owner else []
            for name in names:
                per.setdefault(name, []).append(str(err))
        self._reload_errors = {name: "\n".join(msgs) for name, msgs in per.items()}

    def reload_succeeded(self) -> None:
        """Clear the last reload error."""
        self.reload_error = None
        self._reload_errors = {}

    # ------------------------------------------------------------------ health
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


def _resolved(path: object) -> str | None:
    if path is None:
        return None
    try:
        return str(Path(str(path)).resolve())
    except OSError:
        return str(path)
