"""On-demand Delta table maintenance (``odibi-stream maintain``), under the pipeline's lease.

Lifecycle: the CLI calls :func:`maintain_pipeline` per pipeline. It compiles the pipeline,
takes its lease (waiting up to ``wait`` seconds: a running daemon owns it and does the
pipeline's maintenance itself, between batches), runs every operation of every Delta sink now
— the configured ones, or the defaults (optimize to 128MB files, vacuum with 7 days retention,
a log checkpoint) for a Delta sink without ``maintenance:`` — and releases the lease.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from odibi_stream.checkpoints.manager import CheckpointManager
from odibi_stream.config.maintenance_models import MaintenanceConfig, OptimizeConfig, VacuumConfig
from odibi_stream.config.project import Project
from odibi_stream.core.clock import SYSTEM_CLOCK, Clock
from odibi_stream.engines import get_engine
from odibi_stream.engines.base import Engine
from odibi_stream.runtime.compile import CompiledPipeline, compile_pipeline
from odibi_stream.runtime.maintenance import DeltaMaintainer
from odibi_stream.service.ownership import owned

DEFAULT_MAINTENANCE = MaintenanceConfig(optimize=OptimizeConfig(), vacuum=VacuumConfig(), checkpoint_every=1)
"""What an on-demand run does to a Delta sink that configures no maintenance."""


def with_defaults(compiled: CompiledPipeline) -> CompiledPipeline:
    """``compiled`` with :data:`DEFAULT_MAINTENANCE` for Delta sinks without their own."""
    chosen = dict(compiled.maintenance)
    for node in compiled.config.nodes:
        write = node.write
        if write is None or write.format != "delta" or node.name in chosen:
            continue
        if write.maintenance is None or write.maintenance.enabled:
            chosen[node.name] = DEFAULT_MAINTENANCE
    return dataclasses.replace(compiled, maintenance=chosen)


def maintain_pipeline(
    project: Project,
    name: str,
    *,
    engine: Engine | None = None,
    wait: float | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> list[dict[str, Any]]:
    """Run every maintenance operation of ``name``'s Delta tables now; one result per operation.

    Raises:
        LeaseLost: another process (a running daemon) held the lease for longer than ``wait``.
    """
    compiled = with_defaults(compile_pipeline(project, name, clock))
    if not compiled.maintenance:
        return []
    ttl = project.config.runtime.lease_ttl_seconds
    own_engine = engine is None
    engine = engine or get_engine(compiled.config.engine or project.config.engine, project.config.spark or None)
    try:
        with CheckpointManager.open(project.checkpoint) as checkpoints, \
                owned(checkpoints.store, name, ttl, wait=ttl if wait is None else wait, clock=clock) as lease:
            return DeltaMaintainer(compiled, checkpoints.store, clock).run_all(engine, lease)
    finally:
        if own_engine:
            engine.close()
