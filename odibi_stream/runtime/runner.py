"""One pipeline's loop: recover once, then run batches strictly one after another.

The runner keeps the recovered :class:`PipelineState` in memory and advances it at each
commit, so a batch costs no log re-reads; after any failure it forgets the state and recovers
from the checkpoint on the next attempt (the checkpoint, not memory, is the truth).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from odibi_stream.checkpoints.manager import CheckpointManager
from odibi_stream.config.models import PipelineConfig
from odibi_stream.config.project import Project
from odibi_stream.core.values import decode_value
from odibi_stream.engines.base import Engine
from odibi_stream.runtime import batch as protocol
from odibi_stream.runtime.batch import Fence
from odibi_stream.runtime.plan import PipelinePlan, build_plan

log = logging.getLogger("odibi_stream.runner")


@dataclass(frozen=True)
class BatchResult:
    """A committed batch, as reported to managers, metrics and the CLI."""

    pipeline: str
    batch: int
    replayed: bool
    rows_in: int
    rows_out: int
    rejected: int
    late: int
    duration_ms: float
    commit_ms: float
    nodes: dict[str, dict[str, Any]]
    watermarks: dict[str, Any]
    lag: dict[str, dict[str, int]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (watermarks stay typed; serialisers render datetimes as ISO)."""
        return {
            "pipeline": self.pipeline,
            "batch": self.batch,
            "replayed": self.replayed,
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "rejected": self.rejected,
            "late": self.late,
            "duration_ms": round(self.duration_ms, 3),
            "commit_ms": round(self.commit_ms, 3),
            "nodes": self.nodes,
            "watermarks": self.watermarks,
            "lag": self.lag,
        }


class PipelineRunner:
    """Executes one pipeline's batches through :mod:`odibi_stream.runtime.batch`.

    Not thread-safe: exactly one thread calls :meth:`run_batch` / :meth:`run_available` at a
    time (the StreamManager's runner thread, or the CLI). ``stop`` is checked between batches.
    """

    def __init__(
        self,
        project: Project,
        pipeline: str,
        *,
        engine: Engine,
        checkpoints: CheckpointManager,
        fence: Fence | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.project = project
        self.plan: PipelinePlan = build_plan(project, pipeline)
        self.name = self.plan.name
        self.config: PipelineConfig = self.plan.config
        self.engine = engine
        self.fence: Fence = fence or protocol.NoFence()
        self.stop = stop or threading.Event()
        self.log = checkpoints.log(self.name)
        self.log.ensure_metadata(self.plan.fingerprint)
        self.retain_batches = project.config.checkpoint.retain_batches
        self._state: protocol.PipelineState | None = None

    # ------------------------------------------------------------------ batches
    def run_batch(self, *, force: bool = False) -> BatchResult | None:
        """Replay a pending batch verbatim, else plan and run one; None if nothing to do."""
        state = self._recovered()
        try:
            outcome = protocol.run_one_batch(
                self.plan, self.engine, self.log, state, self.fence,
                force=force, retain_batches=self.retain_batches,
            )
        except BaseException:
            self._state = None  # unknown after a failure: recover from the checkpoint next time
            raise
        if outcome is None:
            return None
        result = self._result(outcome)
        log.info(
            "committed %s batch %d%s: %d rows in, %d out, %d rejected, %d late in %.0f ms",
            self.name, result.batch, " (replayed)" if result.replayed else "", result.rows_in,
            result.rows_out, result.rejected, result.late, result.duration_ms,
            extra={"pipeline": self.name, "batch": result.batch, "rows_in": result.rows_in,
                   "rows_out": result.rows_out, "duration_ms": round(result.duration_ms, 3)},
        )
        return result

    def run_available(self, *, max_batches: int | None = None) -> list[BatchResult]:
        """Run batches until caught up, ``max_batches`` is reached or ``stop`` is set."""
        results: list[BatchResult] = []
        while not self.stop.is_set() and (max_batches is None or len(results) < max_batches):
            result = self.run_batch()
            if result is None:
                break
            results.append(result)
        return results

    def has_new_data(self) -> bool:
        """Whether a batch would be planned now (a pending replay counts). Writes nothing."""
        state = self._recovered()
        if state.pending is not None:
            return True
        return any(src.plan(state.states[n]) is not None for n, src in self.plan.sources.items())

    def has_incremental_sources(self) -> bool:
        """False for pipelines made only of static reads (they run when forced)."""
        return bool(self.plan.sources)

    # ------------------------------------------------------------------ inspection
    def watch_paths(self) -> list[Path]:
        """Folders of incremental file sources, for the file_watch trigger."""
        paths: list[Path] = []
        for src in self.plan.sources.values():
            watch = getattr(src, "watch_paths", None)
            if watch is not None:
                paths.extend(watch())
        return paths

    def lag(self) -> dict[str, dict[str, int]]:
        """How far each source is behind its newest data."""
        state = self._recovered()
        out: dict[str, dict[str, int]] = {}
        for name, src in self.plan.sources.items():
            value = src.lag(state.states[name])
            if value is not None:
                out[name] = value
        return out

    def status(self) -> dict[str, Any]:
        """Last committed batch, pending batch, watermarks, lag and recovery problems."""
        state = self._recovered()
        return {
            "last_committed": state.last_committed,
            "pending": state.pending.batch if state.pending else None,
            "watermarks": {n: decode_value(v) for n, v in state.watermarks.items()},
            "lag": self.lag(),
            "problems": state.problems,
        }

    def close(self) -> None:
        """Forget in-memory state (the engine is owned by whoever created it)."""
        self._state = None

    # ------------------------------------------------------------------ internals
    def _recovered(self) -> protocol.PipelineState:
        if self._state is None:
            self._state = protocol.recover(self.plan, self.log)
        return self._state

    def _result(self, outcome: protocol.BatchOutcome) -> BatchResult:
        nodes = outcome.commit.nodes
        return BatchResult(
            pipeline=self.name,
            batch=outcome.commit.batch,
            replayed=outcome.replayed,
            rows_in=sum(nodes[n]["rows_in"] for n in self.plan.sources if n in nodes),
            rows_out=sum(nodes[n]["rows_out"] for n in self.plan.sinks if n in nodes),
            rejected=sum(v["rejected"] for v in nodes.values()),
            late=sum(v["late"] for v in nodes.values()),
            duration_ms=outcome.duration_ms,
            commit_ms=outcome.commit_ms,
            nodes=nodes,
            watermarks={n: decode_value(v) for n, v in outcome.commit.watermarks.items()},
        )
