"""The daemon: leases, managers, HTTP control plane, signals and live reload.

Lifecycle contract:
    * ``Daemon(...)`` loads and validates the whole project (every pipeline's plan is built
      once), so a bad project raises ``ConfigError`` before anything starts.
    * :meth:`Daemon.start` starts the managers, acquires every free lease synchronously (a
      pipeline whose lease another process holds stays ``waiting_lease`` and is taken over,
      with a higher epoch, when that lease expires or is released), the HTTP server and the
      project-file watcher. :meth:`Daemon.serve` = start + block until SIGTERM/SIGINT + drain.
    * :meth:`Daemon.stop` drains: triggers stop, in-flight batches get
      ``runtime.shutdown_grace_seconds`` to finish, leases are released, the server stops.
    * :meth:`Daemon.reload` (SIGHUP, or an edited ``odibi.yaml``/``pipelines/*.yaml``) validates
      the new project first; on error the old config keeps running and ``reload_error`` is shown
      on every pipeline; on success removed pipelines stop, added ones start, changed ones
      (by fingerprint) restart. Project-level settings other than pipelines apply on restart.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from odibi_stream.checkpoints.lease import Lease, LeaseKeeper, default_owner
from odibi_stream.checkpoints.manager import CheckpointManager
from odibi_stream.config.loader import load_project
from odibi_stream.config.models import PipelineConfig
from odibi_stream.config.project import Project
from odibi_stream.engines import get_engine
from odibi_stream.engines.base import Engine
from odibi_stream.exceptions import ConfigError, OdibiError
from odibi_stream.observability.sd_notify import SystemdNotifier
from odibi_stream.runtime.describe import jsonable, static_description, waiting_description
from odibi_stream.runtime.plan import build_plan
from odibi_stream.runtime.preflight import check_writable_folders
from odibi_stream.runtime.runner import PipelineRunner
from odibi_stream.runtime.schedule_manager import ScheduleManager
from odibi_stream.runtime.stream_manager import StreamManager
from odibi_stream.triggers.base import REASON_TICK
from odibi_stream.triggers.file_watch import FileWatchTrigger

log = logging.getLogger(__name__)

TOKEN_ENV = "ODIBI_API_TOKEN"
DATA_TRIGGERS = frozenset({"file_watch", "continuous", "kafka", "eventhub"})
SIGNAL_POLL_SECONDS = 0.2


def validate_project(project: Project) -> None:
    """Build every pipeline's plan (connections, sinks, transforms): raises on the first problem."""
    for name in project.pipelines:
        build_plan(project, name)


def is_loopback(host: str) -> bool:
    """True for localhost / 127.0.0.0/8 / ::1."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Daemon:
    """A long-running owner of a project's pipelines; implements ``ControlPlane``.

    Args:
        project_path: Project folder (ignored when ``project`` is given).
        env: Environment overlay name.
        host: HTTP bind address (default: ``server.host`` of odibi.yaml).
        port: HTTP port (default: ``server.port``; 0 picks a free one).
        project: An already loaded project (embedding); disables reload from disk.
        lease_ttl: Lease validity in seconds (default ``runtime.lease_ttl_seconds``).
        serve_http: Start the HTTP control plane.
        watch_project: Reload when project YAML files change.
    """

    def __init__(
        self,
        project_path: str | Path | None = None,
        env: str | None = None,
        host: str | None = None,
        port: int | None = None,
        *,
        project: Project | None = None,
        lease_ttl: float | None = None,
        serve_http: bool = True,
        watch_project: bool = True,
    ) -> None:
        if project is None and project_path is None:
            raise ConfigError("a project path or a Project is required")
        self.env = env
        self.project = project if project is not None else load_project(project_path or ".", env)
        self.project_path = Path(project_path) if project_path is not None else self.project.root
        self._from_disk = project is None
        validate_project(self.project)
        check_writable_folders(self.project)  # unwritable state folders: ConfigError, exit 2
        server = self.project.config.server
        self.host = host or server.host
        self.port = server.port if port is None else port
        self.token = os.environ.get(TOKEN_ENV) or None
        if serve_http and not is_loopback(self.host) and not self.token:
            raise ConfigError(
                f"binding the control plane to {self.host} requires a bearer token",
                hint=f"export {TOKEN_ENV}=<secret> or bind to 127.0.0.1",
            )
        self.serve_http, self.watch_project = serve_http, watch_project and self._from_disk
        self.lease_ttl = lease_ttl or self.project.config.runtime.lease_ttl_seconds
        self.owner = default_owner()
        self.checkpoints = CheckpointManager(self.project.checkpoint_root())
        runtime = self.project.config.runtime
        self.grace = runtime.shutdown_grace_seconds
        self.streams = StreamManager(runtime.max_concurrent_batches, on_lease_lost=self._lease_lost)
        self.schedules = ScheduleManager(self.checkpoints.store, self.streams)
        self.keeper = LeaseKeeper(self.lease_ttl / 3, self._activate, self._lost)
        self._configs: dict[str, PipelineConfig] = {}
        self._fingerprints: dict[str, str] = {}
        self._leases: dict[str, Lease] = {}
        self._last: dict[str, Any] = {}
        self._paused: set[str] = set()
        self._engines: dict[str, Engine] = {}
        self._lock = threading.RLock()
        self.reload_error: str | None = None
        self._stop_requested = threading.Event()
        self._reload_requested = threading.Event()
        self._control: threading.Thread | None = None
        self._watcher: FileWatchTrigger | None = None
        self._server: Any = None
        self.url: str | None = None
        self.started = False
        self.clean = True
        self._signalled = {"stop": False, "reload": False}

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Start managers, take leases, start the HTTP server and the project watcher."""
        self.schedules.start()
        for name in self.project.pipelines:
            self._want(name)
        self.keeper.start()
        self._start_server()
        self._control = threading.Thread(target=self._control_loop, name="odibi-daemon-control", daemon=True)
        self._control.start()
        if self.watch_project:
            root = self.project.root
            self._watcher = FileWatchTrigger(
                [root / "pipelines", root], debounce_ms=200, reconcile_seconds=None,
                recursive=False, suffixes=(".yaml", ".yml"),
            )
            self._watcher.start(lambda _reason: self.request_reload())
        self.started = True
        log.info("daemon started: project=%s owner=%s url=%s", self.project.config.project, self.owner, self.url)

    def serve(self, on_started: Callable[[Daemon], None] | None = None) -> int:
        """Start, block until SIGTERM/SIGINT (or :meth:`request_stop`), drain; returns 0."""
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT, getattr(signal, "SIGHUP", None)):
                if sig is not None:
                    signal.signal(sig, self._on_signal)
        notifier = SystemdNotifier.from_env()  # no-op unless run by systemd (Type=notify)
        self.start()
        if on_started is not None:
            on_started(self)
        notifier.ready(f"serving {len(self.project.pipelines)} pipeline(s)")
        # Handlers only set flags (taking a lock inside a handler can deadlock the main thread);
        # this loop turns them into requests. Five wake-ups a second cost no measurable CPU.
        while not self._stop_requested.is_set() and not self._signalled["stop"]:
            if self._signalled["reload"]:
                self._signalled["reload"] = False
                self.request_reload()
            notifier.watchdog()
            time.sleep(SIGNAL_POLL_SECONDS)
        notifier.stopping("draining in-flight batches")
        self.clean = self.stop()
        notifier.close()
        return 0

    def _on_signal(self, signum: int, _frame: object) -> None:
        key = "reload" if signum == getattr(signal, "SIGHUP", None) else "stop"
        self._signalled[key] = True

    def request_stop(self) -> None:
        """Ask :meth:`serve` to drain and return (signal-safe)."""
        self._stop_requested.set()

    def request_reload(self) -> None:
        """Ask the control thread to reload the project (signal-safe)."""
        self._reload_requested.set()

    def stop(self) -> bool:
        """Drain and release everything; True if no in-flight batch had to be abandoned."""
        self._stop_requested.set()
        self._reload_requested.set()
        if self._watcher is not None:
            self._watcher.stop()
        self.schedules.stop()
        finished = self.streams.drain(self.grace)
        self.keeper.stop(release=True)
        if self._server is not None:
            self._server.stop()
        if self._control is not None:
            self._control.join()
        for engine in self._engines.values():
            engine.close()
        log.info("daemon stopped: clean=%s", finished)
        return finished

    def _start_server(self) -> None:
        if not self.serve_http:
            return
        from odibi_stream.server.app import start_server

        self._server = start_server(self, self.host, self.port, self.token)
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.url = f"http://{host}:{self._server.port}/"

    def _control_loop(self) -> None:
        while True:
            self._reload_requested.wait()
            if self._stop_requested.is_set():
                return
            self._reload_requested.clear()
            self.reload()

    # ------------------------------------------------------------------ pipelines & leases
    def _want(self, name: str) -> None:
        config = self.project.pipelines[name]
        with self._lock:
            self._configs[name] = config
            self._fingerprints[name] = self.project.fingerprint(name)
            lease = Lease(self.checkpoints.store, name, self.owner, self.lease_ttl)
            self._leases[name] = lease
        self.keeper.want(lease)

    def _engine(self, name: str) -> Engine:
        with self._lock:
            if name not in self._engines:
                self._engines[name] = get_engine(name, self.project.config.spark or None)
            return self._engines[name]

    def _activate(self, lease: Lease) -> None:
        """Keeper callback: we own ``lease`` now; start the pipeline's worker and trigger."""
        name = lease.pipeline
        with self._lock:
            config, project = self._configs.get(name), self.project
        if config is None or self._stop_requested.is_set():
            self.keeper.drop(name)
            return
        engine = self._engine(config.engine or project.config.engine)
        holder: dict[str, PipelineRunner] = {}

        def factory(stop: threading.Event) -> PipelineRunner:
            holder["runner"] = PipelineRunner(
                project, name, engine=engine, checkpoints=self.checkpoints, fence=lease, stop=stop
            )
            return holder["runner"]

        try:
            continuous = config.trigger.kind == "continuous"
            poll = float((config.trigger.continuous or {}).get("poll_seconds", 0.5))
            worker = self.streams.add(
                factory, continuous=continuous, poll_seconds=poll,
                initial_wake=config.trigger.kind in DATA_TRIGGERS,
            )
            if name in self._paused:
                worker.set_paused(True)
            runner = holder["runner"]
            self.schedules.add(config, runner.watch_paths(), runner.plan.sources)
        except OdibiError as exc:
            log.error("could not start pipeline %s: %s", name, exc)
            self._last[name] = str(exc)
            self.streams.remove(name, 0)
            self.keeper.drop(name)

    def _deactivate(self, name: str) -> None:
        self.schedules.remove(name)
        self.streams.remove(name, self.grace)

    def _lost(self, lease: Lease) -> None:
        """Keeper callback: stop the pipeline off-thread, then wait for the lease again."""
        threading.Thread(target=self._rewait, args=(lease,), daemon=True).start()

    def _lease_lost(self, name: str) -> None:
        """A batch hit LeaseLost: hand the lease back to the keeper's waiting list."""
        with self._lock:
            lease = self._leases.get(name)
        if lease is not None:
            self.keeper.drop(name)
            self._lost(lease)

    def _rewait(self, lease: Lease) -> None:
        self._deactivate(lease.pipeline)
        with self._lock:
            current = self._leases.get(lease.pipeline) is lease
        if current and not self._stop_requested.is_set():
            self.keeper.want(lease)

    def _retire(self, name: str) -> None:
        with self._lock:  # forgotten first, so a concurrent acquisition does not restart it
            for table in (self._configs, self._fingerprints, self._leases):
                table.pop(name, None)
        # Stop first, release after: the in-flight batch still holds a valid fence to commit.
        self._deactivate(name)
        self.keeper.drop(name)

    def reload(self) -> bool:
        """Re-validate and apply the project on disk; False (old config kept) on error."""
        if not self._from_disk:
            return False
        try:
            new = load_project(self.project_path, self.env)
            validate_project(new)
        except OdibiError as exc:
            self.reload_error = str(exc)
            log.error("reload failed, keeping the running config: %s", exc)
            return False
        with self._lock:
            self.reload_error = None
            old = dict(self._fingerprints)
            self.project = new
        changed = [n for n in old if n in new.pipelines and new.fingerprint(n) != old[n]]
        for name in [n for n in old if n not in new.pipelines] + changed:
            self._retire(name)
        for name in [n for n in new.pipelines if n not in old] + changed:
            self._want(name)
        self.keeper.round()
        log.info("reloaded: %d pipelines (%d changed)", len(new.pipelines), len(changed))
        return True

    # ------------------------------------------------------------------ ControlPlane
    def pipelines(self) -> list[dict[str, Any]]:
        """See ``ControlPlane.pipelines``."""
        with self._lock:
            names = sorted(self._configs)
        return [d for d in (self.pipeline(n) for n in names) if d is not None]

    def pipeline(self, name: str) -> dict[str, Any] | None:
        """See ``ControlPlane.pipeline``."""
        with self._lock:
            config = self._configs.get(name)
        if config is None:
            return None
        out = static_description(config, self.project.config.engine)
        try:
            worker = self.streams.worker(name)
        except KeyError:
            out.update(waiting_description())
            out["last_error"] = self._last.get(name)
        else:
            out.update(worker.describe_state())
            out["last_batch"] = worker.last_batch
        out["reload_error"] = self.reload_error
        return dict(jsonable(out))

    def _known(self, name: str) -> None:
        with self._lock:
            if name not in self._configs:
                raise KeyError(name)

    def trigger(self, name: str) -> None:
        """See ``ControlPlane.trigger``."""
        self._known(name)
        self.streams.wake(name, REASON_TICK)

    def pause(self, name: str) -> None:
        """See ``ControlPlane.pause``."""
        self._known(name)
        self._paused.add(name)
        with contextlib.suppress(KeyError):  # not owned here yet: starts paused once leased
            self.streams.pause(name)

    def resume(self, name: str) -> None:
        """See ``ControlPlane.resume``."""
        self._known(name)
        self._paused.discard(name)
        with contextlib.suppress(KeyError):
            self.streams.resume(name)

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        """See ``ControlPlane.readiness``."""
        held = set(self.keeper.held())
        detail: dict[str, Any] = {}
        for item in self.pipelines():
            detail[item["name"]] = {"state": item["state"], "lease": item["name"] in held, "degraded": item["degraded"]}
        ready = self.started and all(d["lease"] and d["state"] != "waiting_lease" for d in detail.values())
        detail_out: dict[str, Any] = {"pipelines": detail, "reload_error": self.reload_error,
                                      "degraded": any(d["degraded"] for d in detail.values())}
        return ready, detail_out

    def metrics_text(self) -> tuple[bytes, str]:
        """See ``ControlPlane.metrics_text``."""
        from odibi_stream.observability import metrics

        return metrics.render()
