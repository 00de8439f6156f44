"""The programmatic API: embed odibi-stream in a Python program or a test.

Example::

    rt = Runtime.from_project("examples/quickstart")
    rt.register(pipeline_yaml, trigger={"manual": {}})
    rt.run_once("orders")                  # run what is available now, in this thread
    with rt.background() as live:          # managers + HTTP server, drained on exit
        live.trigger("orders")

Lifecycle contract: ``register`` pipelines first, then either call ``run_once``/``trigger``
synchronously, or ``serve()`` (blocking, signals handled) / ``background()`` (context
manager). Pipelines cannot be registered while serving: stop, register, start again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from odibi_stream.checkpoints.manager import CheckpointManager
from odibi_stream.config.loader import load_project
from odibi_stream.config.models import PipelineConfig, TriggerConfig
from odibi_stream.config.project import Project
from odibi_stream.engines import get_engine
from odibi_stream.engines.base import Engine
from odibi_stream.exceptions import ConfigError
from odibi_stream.runtime.daemon import Daemon
from odibi_stream.runtime.ownership import owned
from odibi_stream.runtime.plan import build_plan
from odibi_stream.runtime.runner import BatchResult, PipelineRunner


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
        host: HTTP bind address override for serve/background.
        port: HTTP port override (0 picks a free port).
        lease_ttl: Lease validity in seconds (default ``runtime.lease_ttl_seconds``).
    """

    def __init__(self, project: Project, *, host: str | None = None, port: int | None = None,
                 lease_ttl: float | None = None) -> None:
        self.project = project
        self.host, self.port = host, port
        self.lease_ttl = lease_ttl or project.config.runtime.lease_ttl_seconds
        self.daemon: Daemon | None = None

    @classmethod
    def from_project(cls, path: str | Path, env: str | None = None, **kwargs: Any) -> Runtime:
        """Load and validate the project at ``path`` (ConfigError on problems)."""
        return cls(load_project(path, env), **kwargs)

    def register(
        self,
        pipeline_or_yaml: PipelineConfig | str | dict[str, Any],
        trigger: TriggerConfig | dict[str, Any] | None = None,
    ) -> PipelineConfig:
        """Add (or replace) a pipeline, optionally overriding its trigger; validated at once."""
        if self.daemon is not None:
            raise ConfigError("cannot register pipelines while serving", hint="register before serve()/background()")
        config = _as_pipeline(pipeline_or_yaml)
        if trigger is not None:
            trig = trigger if isinstance(trigger, TriggerConfig) else TriggerConfig.model_validate(trigger)
            config = config.model_copy(update={"trigger": trig})
        pipelines = {**self.project.pipelines, config.pipeline: config}
        candidate = dataclasses.replace(self.project, pipelines=pipelines)
        build_plan(candidate, config.pipeline)
        self.project = candidate
        return config

    def trigger(self, name: str) -> list[BatchResult]:
        """Serving: request a forced run (returns []). Otherwise: :meth:`run_once`."""
        self.project.pipeline(name)
        if self.daemon is not None:
            self.daemon.trigger(name)
            return []
        return self.run_once(name)

    def run_once(self, name: str, *, max_batches: int | None = None, engine: Engine | None = None,
                 wait: float | None = None) -> list[BatchResult]:
        """Run ``name`` now in this thread: replay/plan until caught up under its lease.

        Pipelines without incremental sources get one forced batch. Waits up to ``wait``
        seconds (default: one lease TTL) for the lease, then raises LeaseLost (a daemon owns it).
        """
        self.project.pipeline(name)
        checkpoints = CheckpointManager.open(self.project.checkpoint)
        config = self.project.pipelines[name]
        own_engine = engine is None
        engine = engine or get_engine(config.engine or self.project.config.engine, self.project.config.spark or None)
        try:
            with owned(checkpoints.store, name, self.lease_ttl,
                       wait=self.lease_ttl if wait is None else wait) as lease:
                runner = PipelineRunner(self.project, name, engine=engine, checkpoints=checkpoints, fence=lease)
                results: list[BatchResult] = []
                if not runner.has_incremental_sources():
                    forced = runner.run_batch(force=True)
                    results.extend([forced] if forced is not None else [])
                left = None if max_batches is None else max(0, max_batches - len(results))
                if left != 0:
                    results.extend(runner.run_available(max_batches=left))
                return results
        finally:
            if own_engine:
                engine.close()

    def _daemon(self) -> Daemon:
        return Daemon(project=self.project, host=self.host, port=self.port, lease_ttl=self.lease_ttl)

    def serve(self) -> int:
        """Serve until SIGTERM/SIGINT (main thread) then drain; returns the exit code (0)."""
        self.daemon = self._daemon()
        try:
            return self.daemon.serve()
        finally:
            self.daemon = None

    @contextmanager
    def background(self) -> Iterator[Runtime]:
        """Run managers + HTTP server in background threads; drain on exit."""
        self.daemon = self._daemon()
        self.daemon.start()
        try:
            yield self
        finally:
            daemon, self.daemon = self.daemon, None
            daemon.stop()
