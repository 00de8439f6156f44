"""PipelineSet: which pipelines a daemon wants, which leases it holds, what runs.

Lease orchestration in one place. For every pipeline of the project the set keeps a
:class:`~odibi_stream.checkpoints.lease.Lease` that one :class:`LeaseKeeper` thread pursues and
renews. When a lease is acquired the pipeline is *activated*: a worker (which compiles and opens
the pipeline in its own thread) is added to the StreamManager and its trigger to the
ScheduleManager. When a lease is lost (renewal failed, or a batch hit ``LeaseLost``) the
pipeline is deactivated off-thread and its lease pursued again; a takeover by another daemon
therefore ends here as ``waiting_lease``, and the pipeline comes back when that lease expires.

Lifecycle contract: the daemon creates the set, calls :meth:`want` for each pipeline, then
:meth:`start`; :meth:`stop` (at shutdown, after the workers drained) releases every lease.
:meth:`retire` stops and forgets one pipeline (reload). Thread-safe.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from odibi_stream.checkpoints.lease import Lease, LeaseKeeper, default_owner
from odibi_stream.checkpoints.manager import CheckpointManager
from odibi_stream.config.models import PipelineConfig
from odibi_stream.config.options import ContinuousTrigger
from odibi_stream.config.project import Project
from odibi_stream.core.clock import SYSTEM_CLOCK, Clock
from odibi_stream.exceptions import OdibiError
from odibi_stream.runtime.compile import CompiledPipeline, compile_pipeline
from odibi_stream.runtime.runner import PipelineRunner
from odibi_stream.service.engines import EngineCache
from odibi_stream.service.schedule_manager import ScheduleManager
from odibi_stream.service.stream_manager import StreamManager
from odibi_stream.service.worker import RunnerFactory

log = logging.getLogger(__name__)

DATA_TRIGGERS = frozenset({"file_watch", "continuous", "kafka", "eventhub"})
"""Trigger kinds whose pipelines look for data as soon as they start."""


@dataclass
class _Wanted:
    config: PipelineConfig
    fingerprint: str
    lease: Lease


class PipelineSet:
    """Lease orchestration and activation of a daemon's pipelines (see the module docstring).

    Args:
        project: The project (replaced on reload with :meth:`set_project`).
        checkpoints: The project's checkpoint manager.
        engines: The daemon's engines.
        streams: Where workers run.
        schedules: Where triggers run.
        lease_ttl: Lease validity in seconds (renewed every third of it).
        grace: How long stopping a pipeline waits for its in-flight batch.
        clock: Where time comes from.
    """

    def __init__(
        self,
        project: Project,
        checkpoints: CheckpointManager,
        engines: EngineCache,
        streams: StreamManager,
        schedules: ScheduleManager,
        *,
        lease_ttl: float,
        grace: float,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.project = project
        self.checkpoints = checkpoints
        self.engines = engines
        self.streams = streams
        self.schedules = schedules
        self.lease_ttl = lease_ttl
        self.grace = grace
        self.clock = clock
        self.owner = default_owner()
        self.keeper = LeaseKeeper(lease_ttl / 3, self._activate, self._lost, clock, self._problem)
        self.paused: set[str] = set()
        self.errors: dict[str, str] = {}
        self._wanted: dict[str, _Wanted] = {}
        self._lock = threading.RLock()
        self._stopping = threading.Event()

    # ------------------------------------------------------------------ membership
    def set_project(self, project: Project) -> None:
        """Use ``project`` for pipelines activated from now on (reload)."""
        with self._lock:
            self.project = project

    def want(self, name: str) -> None:
        """Pursue the lease of pipeline ``name`` (activated once acquired)."""
        with self._lock:
            config = self.project.pipelines[name]
            lease = Lease(self.checkpoints.store, name, self.owner, self.lease_ttl, self.clock)
            self._wanted[name] = _Wanted(config, self.project.fingerprint(name), lease)
        self.keeper.want(lease)

    def retire(self, name: str) -> None:
        """Stop pipeline ``name`` and release its lease (its in-flight batch may commit first)."""
        with self._lock:  # forgotten first, so a concurrent acquisition does not restart it
            self._wanted.pop(name, None)
            self.errors.pop(name, None)
        # Stop first, release after: the in-flight batch still holds a valid fence to commit.
        self._deactivate(name)
        self.keeper.drop(name)

    def names(self) -> list[str]:
        """Wanted pipelines, sorted."""
        with self._lock:
            return sorted(self._wanted)

    def config(self, name: str) -> PipelineConfig | None:
        """The config of a wanted pipeline, else None."""
        with self._lock:
            found = self._wanted.get(name)
            return found.config if found else None

    def fingerprints(self) -> dict[str, str]:
        """Config fingerprint of every wanted pipeline."""
        with self._lock:
            return {name: w.fingerprint for name, w in self._wanted.items()}

    def held(self) -> list[str]:
        """Pipelines whose lease this daemon holds."""
        return self.keeper.held()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Acquire every free lease now (synchronously), then keep renewing in the background."""
        self.keeper.start()

    def stop(self) -> None:
        """Stop pursuing leases and release every held one (after the workers drained)."""
        self._stopping.set()
        self.keeper.stop(release=True)

    def round(self) -> None:
        """Try to acquire wanted leases now (after a reload)."""
        self.keeper.round()

    def lease_lost(self, name: str) -> None:
        """A batch hit LeaseLost: hand the lease back to the keeper's waiting list."""
        with self._lock:
            wanted = self._wanted.get(name)
        if wanted is not None:
            self.keeper.drop(name)
            self._lost(wanted.lease)

    # ------------------------------------------------------------------ keeper callbacks
    def _activate(self, lease: Lease) -> None:
        """Keeper callback: we own ``lease`` now; start the pipeline's worker and trigger."""
        name = lease.pipeline
        with self._lock:
            wanted, project = self._wanted.get(name), self.project
        if wanted is None or self._stopping.is_set():
            self.keeper.drop(name)
            return
        config = wanted.config
        try:
            compiled = compile_pipeline(project, name, self.clock)
            engine = self.engines.get(config.engine or project.config.engine)
            retain = project.config.checkpoint.retain_batches

            def factory(stop: threading.Event) -> PipelineRunner:
                return PipelineRunner(
                    compiled, engine=engine, checkpoints=self.checkpoints, fence=lease,
                    stop=stop, retain_batches=retain, clock=self.clock,
                )

            self._start(compiled, factory)
        except OdibiError as exc:
            log.error("could not start pipeline %s: %s", name, exc)
            self.errors[name] = str(exc)
            self.streams.remove(name, 0)
            self.keeper.drop(name)

    def _start(self, compiled: CompiledPipeline, factory: RunnerFactory) -> None:
        config = compiled.config
        continuous = config.trigger.continuous
        self.streams.add(
            compiled.name,
            factory,
            max_attempts=config.max_attempts,
            continuous=continuous is not None,
            poll_seconds=(continuous or ContinuousTrigger()).poll_seconds,
            initial_wake=config.trigger.kind in DATA_TRIGGERS,
            paused=compiled.name in self.paused,
        )
        self.errors.pop(compiled.name, None)
        self.schedules.add(config, compiled.watches())

    def _deactivate(self, name: str) -> None:
        self.schedules.remove(name)
        self.streams.remove(name, self.grace)

    def _lost(self, lease: Lease) -> None:
        """Keeper callback: stop the pipeline off-thread, then wait for the lease again."""
        threading.Thread(target=self._rewait, args=(lease,), name="odibi-lease-rewait", daemon=True).start()

    def _problem(self, lease: Lease, message: str | None) -> None:
        """Keeper callback: a renewal/acquisition fails (or works again): show it in the API."""
        name = lease.pipeline
        with self._lock:
            if message is None:
                self.errors.pop(name, None)
            else:
                self.errors[name] = message
        try:
            worker = self.streams.worker(name)
        except KeyError:
            return
        worker.note_problem(message)

    def _rewait(self, lease: Lease) -> None:
        try:
            self._deactivate(lease.pipeline)
        except Exception:  # stopping failed half-way: still pursue the lease again
            log.exception("pipeline %s: deactivation after a lost lease failed", lease.pipeline)
        with self._lock:
            found = self._wanted.get(lease.pipeline)
            current = found is not None and found.lease is lease
        if current and not self._stopping.is_set():
            self.keeper.want(lease)
