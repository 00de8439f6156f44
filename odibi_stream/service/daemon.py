"""The daemon: the managers, leases, reloads and signals of one project, composed once.

Lifecycle contract:
    * ``Daemon(project, ...)`` validates (compiles) every pipeline, so a bad project raises
      ``ConfigError`` before anything starts; nothing is running yet.
    * :meth:`Daemon.start` takes an :class:`~contextlib.ExitStack` and starts the parts in order
      — batch observers (stories, alerts, traces: stopped after the workers drained), schedule manager, leases (every free lease acquired synchronously; a pipeline whose lease
      another process holds stays ``waiting_lease`` and is taken over when it expires), the
      control thread (reloads), the project-file watcher — registering each part's stop on the
      stack, so closing the stack stops them in reverse: watcher, control thread, triggers,
      workers (in-flight batches get ``runtime.shutdown_grace_seconds``), leases released,
      engines closed. The start/stop order is written only here.
    * The layer above (the CLI's ``serve``, the ``Runtime`` API) owns the stack, starts the HTTP
      server on :attr:`Daemon.control` *before* :meth:`start` (so health answers while the
      daemon drains) and waits with :func:`odibi_stream.service.signals.wait_for_stop`.
    * :meth:`request_reload` (SIGHUP, an edited ``odibi.yaml``/``pipelines/*.yaml``) reloads on
      the control thread (see ``service.reload``).
"""

from __future__ import annotations

import logging
import threading
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from odibi_stream.checkpoints.manager import CheckpointManager
from odibi_stream.config.project import Project
from odibi_stream.core.clock import SYSTEM_CLOCK, Clock
from odibi_stream.service.control_adapter import DaemonControl
from odibi_stream.service.engines import EngineCache
from odibi_stream.service.history import pipeline_facts
from odibi_stream.service.observers import build_observers
from odibi_stream.service.pipelines import PipelineSet
from odibi_stream.service.preflight import check_writable_folders
from odibi_stream.service.project import validate
from odibi_stream.service.reload import Reloader
from odibi_stream.service.schedule_manager import ScheduleManager
from odibi_stream.service.stream_manager import StreamManager
from odibi_stream.triggers.file_watch import FileWatchTrigger

log = logging.getLogger(__name__)


class Daemon:
    """A long-running owner of a project's pipelines (see the module docstring).

    Args:
        project: The loaded project (see ``service.project.load``).
        project_path: Its folder on disk, to reload from; None disables reloads from disk
            (embedding with pipelines registered in code).
        env: Environment overlay used for reloads.
        lease_ttl: Lease validity in seconds (default ``runtime.lease_ttl_seconds``).
        watch_project: Reload when project YAML files change.
        clock: Where time comes from.
    """

    def __init__(
        self,
        project: Project,
        *,
        project_path: str | Path | None = None,
        env: str | None = None,
        lease_ttl: float | None = None,
        watch_project: bool = True,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        validate(project, clock)
        check_writable_folders(project)  # unwritable state folders: ConfigError, exit 2
        self.project = project
        runtime = project.config.runtime
        self.grace = runtime.shutdown_grace_seconds
        self.checkpoints = CheckpointManager.open(project.checkpoint)
        self.engines = EngineCache(project.config.spark)
        self.streams = StreamManager(runtime.max_concurrent_batches, clock=clock)
        self.schedules = ScheduleManager(self.checkpoints.store, self.streams, clock)
        self.pipelines = PipelineSet(
            project, self.checkpoints, self.engines, self.streams, self.schedules,
            lease_ttl=lease_ttl or runtime.lease_ttl_seconds, grace=self.grace, clock=clock,
        )
        self.streams.on_lease_lost = self.pipelines.lease_lost
        self.control = DaemonControl(self.pipelines, self.streams, project.config.engine)
        self.observers = build_observers(
            project, self.checkpoints, self._statuses,
            facts=lambda name: pipeline_facts(self.pipelines.project, name), clock=clock,
        )
        self.streams.observers = self.observers
        self.control.history = self.observers.history
        path = Path(project_path) if project_path is not None else None
        self.reloader = Reloader(path, env, self.pipelines, self.control, clock) if path else None
        self.watch_project = watch_project and path is not None
        self.clean = True
        self._reload_requested = threading.Event()
        self._stopping = threading.Event()

    @property
    def owner(self) -> str:
        """This daemon's lease owner id."""
        return self.pipelines.owner

    # ------------------------------------------------------------------ lifecycle
    def start(self, stack: ExitStack) -> None:
        """Start every part; ``stack`` stops them in reverse order when it closes."""
        stack.callback(self.checkpoints.close)  # last: leases are released before it
        self.observers.start()
        stack.callback(self.observers.stop)  # after the drain: the last batches' stories go out
        self.schedules.start()
        stack.callback(self.schedules.stop)  # after the workers drained (LIFO)
        stack.callback(self.engines.close)
        stack.callback(self.pipelines.stop)
        stack.callback(self._drain)
        for name in self.project.pipelines:
            self.pipelines.want(name)
        self.pipelines.start()
        control = threading.Thread(target=self._control_loop, name="odibi-daemon-control", daemon=True)
        control.start()
        stack.callback(self._stop_control, control)
        if self.watch_project:
            self._watch_project_files(stack)
        self.control.started.set()
        stack.callback(self.control.started.clear)
        log.info("daemon started: project=%s owner=%s", self.project.config.project, self.owner)

    def _statuses(self) -> dict[str, dict[str, Any]]:
        return {d["name"]: d for d in self.control.pipelines()}

    def _drain(self) -> None:
        # Triggers first (no new wake-ups), then the workers with their in-flight batches.
        for name in self.pipelines.names():
            self.schedules.remove(name)
        self.clean = self.streams.drain(self.grace)
        log.info("daemon stopped: clean=%s", self.clean)

    def _stop_control(self, thread: threading.Thread) -> None:
        self._stopping.set()
        self._reload_requested.set()
        thread.join()

    def _watch_project_files(self, stack: ExitStack) -> None:
        root = self.project.root
        watcher = FileWatchTrigger(
            [root / "pipelines", root], debounce_ms=200, reconcile_seconds=None,
            recursive=False, suffixes=(".yaml", ".yml"),
        )
        watcher.start(lambda _reason: self.request_reload())
        stack.callback(watcher.stop)

    # ------------------------------------------------------------------ reloads
    def request_reload(self) -> None:
        """Ask the control thread to reload the project (signal-safe, never blocks)."""
        self._reload_requested.set()

    def reload(self) -> bool:
        """Reload now (see ``service.reload``); False when reloads are off or the project is bad."""
        return self.reloader.reload() if self.reloader is not None else False

    def _control_loop(self) -> None:
        while True:
            self._reload_requested.wait()
            if self._stopping.is_set():
                return
            self._reload_requested.clear()
            self.reload()
