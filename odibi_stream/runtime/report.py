"""BatchReport: the one description of a committed batch, for logs, metrics, the API and the CLI.

Row counts mean the same everywhere: ``rows_in`` = rows read by the pipeline's incremental
source nodes, ``rows_out`` = rows handed to its sink nodes, ``rejected``/``late`` = summed over
every node. ``checkpoint history`` computes them from the commit entry with the same function.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from odibi_stream.checkpoints.entries import CommitEntry
from odibi_stream.core.values import decode_value
from odibi_stream.runtime.compile import CompiledPipeline
from odibi_stream.runtime.outcome import Execution
from odibi_stream.runtime.schema_report import schema_changes
from odibi_stream.runtime.steps import BatchTrace


@dataclass(frozen=True)
class RowCounts:
    """A batch's row totals (see the module docstring for what each counts)."""

    rows_in: int = 0
    rows_out: int = 0
    rejected: int = 0
    late: int = 0


def row_counts(nodes: Mapping[str, Mapping[str, Any]], sources: Iterable[str], sinks: Iterable[str]) -> RowCounts:
    """Totals from a commit entry's ``nodes``, given the source and sink node names."""
    return RowCounts(
        rows_in=sum(int(nodes[n].get("rows_in", 0)) for n in sources if n in nodes),
        rows_out=sum(int(nodes[n].get("rows_out", 0)) for n in sinks if n in nodes),
        rejected=sum(int(v.get("rejected", 0)) for v in nodes.values()),
        late=sum(int(v.get("late", 0)) for v in nodes.values()),
    )


@dataclass(frozen=True)
class BatchReport:
    """A committed batch.

    Attributes:
        pipeline: Pipeline name.
        batch: Batch number.
        replayed: True if this run replayed a batch planned before a crash.
        counts: Row totals.
        nodes: Per node: rows_in, rows_out, rejected, late, skipped, sink detail.
        watermarks: Watermarks after the batch (decoded, typed).
        sources: The committed input ranges by source node.
        trace: Per protocol step timings.
        lag: How far each source is behind after the batch (filled in by the runner).
        inputs: Per source node, the size of its range (files/bytes, offsets/partitions).
        schemas: Per sink node, the schema of the frame it wrote (column → type).
        samples: Per node, a few rejected records with their reason (raw: stories mask them;
            never persisted in the checkpoint).
        maintenance: Table maintenance run after this batch (step 9), one dict per operation.
    """

    pipeline: str
    batch: int
    replayed: bool
    counts: RowCounts
    nodes: dict[str, dict[str, Any]]
    watermarks: dict[str, Any]
    sources: dict[str, dict[str, Any]]
    trace: BatchTrace
    lag: dict[str, dict[str, int]] = field(default_factory=dict)
    inputs: dict[str, dict[str, int]] = field(default_factory=dict)
    schemas: dict[str, dict[str, str]] = field(default_factory=dict)
    samples: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    maintenance: list[dict[str, Any]] = field(default_factory=list)

    @property
    def rows_in(self) -> int:
        """Rows read by the source nodes."""
        return self.counts.rows_in

    @property
    def rows_out(self) -> int:
        """Rows handed to the sink nodes."""
        return self.counts.rows_out

    @property
    def rejected(self) -> int:
        """Rows rejected (bad records, failed checks)."""
        return self.counts.rejected

    @property
    def late(self) -> int:
        """Rows older than the watermark."""
        return self.counts.late

    @property
    def schema_changes(self) -> dict[str, dict[str, Any]]:
        """Per sink node, the schema change its write recorded in the commit (stories show it)."""
        return schema_changes(self.nodes)

    @property
    def quality(self) -> dict[str, dict[str, Any]]:
        """Per node, its check failures and expectation numbers (``commits/N`` ``quality``)."""
        return {n: dict(v["quality"]) for n, v in self.nodes.items() if v.get("quality")}

    @property
    def data_loss(self) -> dict[str, int]:
        """Events a source skipped because they were gone (``"lost"`` in its range), by node."""
        return {n: int(r["lost"]) for n, r in self.sources.items() if isinstance(r, dict) and r.get("lost")}

    @property
    def duration_ms(self) -> float:
        """Milliseconds from plan to retain."""
        return self.trace.total_ms

    @property
    def commit_ms(self) -> float:
        """Milliseconds spent writing the checkpoint (write-ahead + commit)."""
        return self.trace.checkpoint_ms

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
            "steps_ms": {k: round(v, 3) for k, v in self.trace.steps_ms.items()},
            "nodes": self.nodes,
            "watermarks": self.watermarks,
            "lag": self.lag,
            "data_loss": self.data_loss,
            "trace_id": self.trace.trace_id,
            "maintenance": self.maintenance,
        }


def build_report(
    compiled: CompiledPipeline,
    done: CommitEntry,
    execution: Execution,
    trace: BatchTrace,
    replayed: bool,
    inputs: dict[str, dict[str, int]] | None = None,
    maintenance: list[dict[str, Any]] | None = None,
) -> BatchReport:
    """The report of a batch that just committed."""
    return BatchReport(
        pipeline=compiled.name,
        batch=done.batch,
        replayed=replayed,
        counts=row_counts(done.nodes, compiled.sources, compiled.sinks),
        nodes=done.nodes,
        watermarks={n: decode_value(v) for n, v in execution.watermarks.items()},
        sources=done.sources,
        trace=trace,
        inputs=inputs or {},
        schemas={n: o.schema for n, o in execution.nodes.items() if o.schema is not None},
        samples={n: o.samples for n, o in execution.nodes.items() if o.samples},
        maintenance=maintenance or [],
    )
