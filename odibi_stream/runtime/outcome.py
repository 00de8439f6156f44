"""What one batch's execution produced: per-node outcomes, dead letters and new watermarks.

Built by :class:`~odibi_stream.runtime.executor.BatchExecutor`; read by the batch protocol
(the commit entry) and by reports (stories).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from odibi_stream.engines.base import Frame

SAMPLE_ROWS = 5
"""Rejected records kept per node for the batch's story (never persisted in the checkpoint)."""


@dataclass
class NodeOutcome:
    """What one node did in one batch (reported in the commit entry).

    ``schema`` and ``samples`` feed the batch report (stories) only: sample rows may hold
    sensitive data, so :meth:`as_dict` (the commit entry) leaves them out.
    """

    rows_in: int = 0
    rows_out: int = 0
    rejected: int = 0
    late: int = 0
    skipped: bool = False
    sink: dict[str, Any] = field(default_factory=dict)
    max_event_time: Any = None
    start_ms: float = 0.0
    duration_ms: float = 0.0
    schema: dict[str, str] | None = None
    samples: list[dict[str, str]] = field(default_factory=list)
    quality: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for ``commits/N``."""
        return {
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "rejected": self.rejected,
            "late": self.late,
            "skipped": self.skipped,
            "sink": self.sink,
            "start_ms": round(self.start_ms, 3),
            "duration_ms": round(self.duration_ms, 3),
            **({"quality": self.quality} if self.quality else {}),
        }

    def sample(self, records: list[str], error: str | list[str], source: str | list[str]) -> None:
        """Keep up to :data:`SAMPLE_ROWS` rejected records with why and where from."""
        room = SAMPLE_ROWS - len(self.samples)
        for i, record in enumerate(records[: max(0, room)]):
            why = error[i] if isinstance(error, list) else error
            where = source[i] if isinstance(source, list) else source
            self.samples.append({"record": record, "error": why, "source": where})


@dataclass
class Execution:
    """The outcome of executing a batch: per-node results, dead letters and new watermarks."""

    nodes: dict[str, NodeOutcome]
    watermarks: dict[str, Any]
    dead_letters: dict[str, list[Frame]]
