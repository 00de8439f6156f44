"""One pipeline's loop: open its sources and sinks, recover once, run batches one after another.

Lifecycle contract:
    * Built by its owner (the service layer's worker, a one-shot run) with a compiled
      pipeline; construction opens every reader and writer (:meth:`CompiledPipeline.open`) and
      ensures the checkpoint's metadata. The owner calls :meth:`PipelineRunner.close` exactly
      once when it unloads the pipeline (reload, lease loss, shutdown), which closes every
      client — also after failures. A runner is a context manager for that.
    * Not thread-safe: exactly one thread calls :meth:`run_batch` / :meth:`run_available` /
      :meth:`status` at a time. ``stop`` is checked between batches.
    * The recovered :class:`~odibi_stream.runtime.batch.PipelineProgress` is kept in memory and
      advanced at each commit, so a batch costs no log re-reads; after any failure it is
      forgotten and recovered from the checkpoint on the next attempt (the checkpoint, not
      memory, is the truth).
"""

from __future__ import annotations

import logging
import threading
from types import TracebackType
from typing import Any

from odibi_stream.checkpoints.manager import CheckpointManager
from odibi_stream.config.models import PipelineConfig
from odibi_stream.core.clock import SYSTEM_CLOCK, Clock
from odibi_stream.core.values import decode_value
from odibi_stream.engines.base import Engine
from odibi_stream.runtime import batch as protocol
from odibi_stream.runtime.batch import Fence
from odibi_stream.runtime.compile import CompiledPipeline
from odibi_stream.runtime.maintenance import DeltaMaintainer
from odibi_stream.runtime.report import BatchReport

log = logging.getLogger("odibi_stream.runner")


class PipelineRunner:
    """Executes one pipeline's batches through :mod:`odibi_stream.runtime.batch`.

    Args:
        compiled: The compiled pipeline (see ``runtime.compile``).
        engine: The engine to run it on (owned by the caller).
        checkpoints: The project's checkpoint manager.
        fence: Ownership proof (the pipeline's lease); none for single-owner use.
        stop: Set to stop between batches.
        retain_batches: Log entries kept before compaction.
        clock: Where time comes from.
    """

    def __init__(
        self,
        compiled: CompiledPipeline,
        *,
        engine: Engine,
        checkpoints: CheckpointManager,
        fence: Fence | None = None,
        stop: threading.Event | None = None,
        retain_batches: int = 100,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.compiled = compiled
        self.name = compiled.name
        self.config: PipelineConfig = compiled.config
        self.engine = engine
        self.fence: Fence = fence or protocol.NoFence()
        self.stop = stop or threading.Event()
        self.retain_batches = retain_batches
        self.clock = clock
        self.log = checkpoints.log(self.name)
        self.live = compiled.open()
        try:
            self.log.ensure_metadata(compiled.fingerprint)
        except BaseException:
            self.live.close()
            raise
        self._progress: protocol.PipelineProgress | None = None
        self.maintainer = DeltaMaintainer(compiled, checkpoints.store, clock) if compiled.maintenance else None
        self._housekept = False

    def __enter__(self) -> PipelineRunner:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # ------------------------------------------------------------------ batches
    def run_batch(self, *, force: bool = False) -> BatchReport | None:
        """Replay a pending batch verbatim, else plan and run one; None if nothing to do.

        Raises:
            BatchFailed: the step (and node) that failed; retry is decided by its cause.
        """
        progress = self._recovered()
        try:
            report = protocol.run_one_batch(
                self.live, self.engine, self.log, progress, self.fence,
                force=force, retain_batches=self.retain_batches, clock=self.clock,
                maintainer=self.maintainer,
            )
        except BaseException:
            self._progress = None  # unknown after a failure: recover from the checkpoint next time
            raise
        if report is None:
            return None
        log.info(
            "committed %s batch %d%s: %d rows in, %d out, %d rejected, %d late in %.0f ms",
            self.name, report.batch, " (replayed)" if report.replayed else "", report.rows_in,
            report.rows_out, report.rejected, report.late, report.duration_ms,
            extra={"pipeline": self.name, "batch": report.batch, "rows_in": report.rows_in,
                   "rows_out": report.rows_out, "duration_ms": round(report.duration_ms, 3),
                   "trace_id": report.trace.trace_id},
        )
        return report

    def run_available(self, *, max_batches: int | None = None) -> list[BatchReport]:
        """Run batches until caught up, ``max_batches`` is reached or ``stop`` is set."""
        reports: list[BatchReport] = []
        while not self.stop.is_set() and (max_batches is None or len(reports) < max_batches):
            report = self.run_batch()
            if report is None:
                break
            reports.append(report)
        return reports

    def has_new_data(self) -> bool:
        """Whether a batch would be planned now (a pending replay counts). Writes nothing."""
        progress = self._recovered()
        if progress.pending is not None:
            return True
        return any(src.plan(progress.states[n]) is not None for n, src in self.live.sources.items())

    def has_incremental_sources(self) -> bool:
        """False for pipelines made only of static reads (they run when forced)."""
        return bool(self.compiled.sources)

    # ------------------------------------------------------------------ inspection
    def lag(self) -> dict[str, dict[str, int]]:
        """How far each source is behind its newest data."""
        progress = self._recovered()
        out: dict[str, dict[str, int]] = {}
        for name, src in self.live.sources.items():
            value = src.lag(progress.states[name])
            if value is not None:
                out[name] = value
        return out

    def status(self) -> dict[str, Any]:
        """Last committed batch, pending batch, watermarks, lag and recovery problems."""
        progress = self._recovered()
        return {
            "last_committed": progress.last_committed,
            "pending": progress.pending.batch if progress.pending else None,
            "watermarks": {n: decode_value(v) for n, v in progress.watermarks.items()},
            "lag": self.lag(),
            "problems": progress.problems,
        }

    def forget_progress(self) -> None:
        """Drop the in-memory position: the next call recovers it from the checkpoint (after an
        operator changed the checkpoint, e.g. skipped the pending batch)."""
        self._progress = None

    def close(self) -> None:
        """Close every reader and writer (idempotent); the engine belongs to the caller."""
        self._progress = None
        self.live.close()

    # ------------------------------------------------------------------ internals
    def _recovered(self) -> protocol.PipelineProgress:
        if self._progress is None:
            self._progress = protocol.recover(self.live, self.log)
            if not self._housekept and self._progress.recent:
                # The last commit's housekeeping may have died with the previous process.
                protocol.housekeep(self.live, self._progress.recent[-1].sources)
            self._housekept = True
        return self._progress
