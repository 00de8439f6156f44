"""The programmatic API: embed odibi-stream in a Python program or a test.

Example::

    rt = Runtime.from_project("examples/quickstart")
    rt.register(pipeline_yaml, trigger={"manual": {}})
    rt.run_once("orders")                  # run what is available now, in this thread
    with rt.background() as live:          # daemon + HTTP server, drained on exit
        live.trigger("orders")

Lifecycle contract: ``register`` pipelines first, then either call ``run_once``/``trigger``
synchronously, or ``serve()`` (blocking, signals handled) / ``background()`` (context
manager). Pipelines cannot be registered while serving: stop, register, start again.

This module sits on top of the service layer and the HTTP server: it is where the two are
composed (the server starts first and stops last, so health answers while the daemon drains).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import yaml

from odibi_stream.config.models import PipelineConfig, TriggerConfig
from odibi_stream.config.project import Project
from odibi_stream.core.clock import SYSTEM_CLOCK, Clock
from odibi_stream.core.redact import register_secrets
from odibi_stream.engines.base import Engine
from odibi_stream.exceptions import ConfigError
from odibi_stream.observability.sd_notify import SystemdNotifier
from odibi_stream.runtime.compile import compile_pipeline
from odibi_stream.runtime.report import BatchReport
from odibi_stream.service.daemon import Daemon
from odibi_stream.service.one_shot import run_pipeline
from odibi_stream.service.project import load
from odibi_stream.service.signals import SignalWaiter

TOKEN_ENV = "ODIBI_API_TOKEN"


def _as_pipeline(value: PipelineConfig | str | dict[str, Any]) -> PipelineConfig:
    if isinstance(value, PipelineConfig):
        return value
    data = yaml.safe_load(value) if isinstance(value, str) else value
    if not isinstance(data, dict):
        raise ConfigError("a pipeline must be a mapping (YAML text, dict or PipelineConfig)")
    try:
        return PipelineConfig.model_validate(data)
    except ValueError as exc:
        raise ConfigError(f"invalid pipeline: {exc}") from exc


class Runtime:
    """A project plus pipelines registered in code.

    Args:
        project: A loaded project (see :meth:`from_project`).
        host: HTTP bind address override for serve/background (default ``server.host``).
        port: HTTP port override (0 picks a free port; default ``server.port``).
        lease_ttl: Lease validity in seconds (default ``runtime.lease_ttl_seconds``).
        project_path: The project folder to reload from (set by :meth:`from_project`).
        env: Environment overlay used for reloads.
        serve_http: Start the HTTP control plane with the daemon.
        clock: Where time comes from (a manual clock in tests).
    """

    def __init__(
        self,
        project: Project,
        *,
        host: str | None = None,
        port: int | None = None,
        lease_ttl: float | None = None,
        project_path: str | Path | None = None,
        env: str | None = None,
        serve_http: bool = True,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        # However the project was loaded, nothing of it runs before its secrets are masked.
        register_secrets(project.secrets, project.secret_refs)
        self.project = project
        server = project.config.server
        self.host = host or server.host
        self.port = server.port if port is None else port
        self.lease_ttl = lease_ttl or project.config.runtime.lease_ttl_seconds
        self.project_path = project_path
        self.env = env
        self.serve_http = serve_http
        self.clock = clock
        self.daemon: Daemon | None = None
        self.url: str | None = None
        self._registered = False

    @classmethod
    def from_project(cls, path: str | Path, env: str | None = None, **kwargs: Any) -> Runtime:
        """Load and validate the project at ``path`` (ConfigError on problems)."""
        return cls(load(path, env), project_path=path, env=env, **kwargs)

    def register(
        self,
        pipeline_or_yaml: PipelineConfig | str | dict[str, Any],
        trigger: TriggerConfig | dict[str, Any] | None = None,
    ) -> PipelineConfig:
        """Add (or replace) a pipeline, optionally overriding its trigger; compiled at once."""
        if self.daemon is not None:
            raise ConfigError("cannot register pipelines while serving", hint="register before serve()/background()")
        config = _as_pipeline(pipeline_or_yaml)
        if trigger is not None:
            trig = trigger if isinstance(trigger, TriggerConfig) else TriggerConfig.model_validate(trigger)
            config = config.model_copy(update={"trigger": trig})
        pipelines = {**self.project.pipelines, config.pipeline: config}
        candidate = dataclasses.replace(self.project, pipelines=pipelines)
        compile_pipeline(candidate, config.pipeline, self.clock)
        self.project = candidate
        self._registered = True
        return config

    def trigger(self, name: str) -> list[BatchReport]:
        """Serving: request a forced run (returns []). Otherwise: :meth:`run_once`."""
        self.project.pipeline(name)
        if self.daemon is not None:
            self.daemon.control.trigger(name)
            return []
        return self.run_once(name)

    def run_once(self, name: str, *, max_batches: int | None = None, engine: Engine | None = None,
                 wait: float | None = None) -> list[BatchReport]:
        """Run ``name`` now in this thread: replay/plan until caught up under its lease.

        Pipelines without incremental sources get one forced batch. Waits up to ``wait``
        seconds (default: one lease TTL) for the lease, then raises LeaseLost (a daemon owns it).
        """
        return run_pipeline(
            self.project, name, max_batches=max_batches, engine=engine, lease_ttl=self.lease_ttl,
            wait=self.lease_ttl if wait is None else wait, clock=self.clock,
        )

    # ------------------------------------------------------------------ serving
    def _daemon(self) -> Daemon:
        # Pipelines registered in code exist only in memory: reloading from disk would drop them.
        path = None if self._registered else self.project_path
        return Daemon(self.project, project_path=path, env=self.env, lease_ttl=self.lease_ttl, clock=self.clock)

    def _start(self, stack: ExitStack) -> Daemon:
        daemon = self._daemon()
        if self.serve_http:
            from odibi_stream.server.app import start_server

            server = stack.enter_context(
                start_server(
                    daemon.control, self.host, self.port, os.environ.get(TOKEN_ENV) or None,
                    config=self.project.config.server, base_dir=self.project.root,
                )
            )
            self.url = server.url
        self.daemon = daemon
        stack.callback(self._forget)
        daemon.start(stack)
        return daemon

    def _forget(self) -> None:
        self.daemon = None

    def serve(self, on_started: Callable[[Runtime], None] | None = None) -> bool:
        """Serve until SIGTERM/SIGINT (main thread), then drain.

        Returns:
            True if the drain finished every in-flight batch within the grace period.
        """
        notifier = SystemdNotifier.from_env()  # no-op unless run by systemd (Type=notify)
        with SignalWaiter(self._reload, on_tick=notifier.watchdog) as signals, ExitStack() as stack:
            stack.callback(notifier.close)
            daemon = self._start(stack)
            if on_started is not None:
                on_started(self)
            notifier.ready(f"serving {len(self.project.pipelines)} pipeline(s)")
            signals.wait()
            notifier.stopping("draining in-flight batches")
        return daemon.clean

    def _reload(self) -> None:
        if self.daemon is not None:
            self.daemon.request_reload()

    @contextmanager
    def background(self) -> Iterator[Runtime]:
        """Run the daemon and HTTP server in background threads; drain on exit."""
        with ExitStack() as stack:
            self._start(stack)
            yield self
