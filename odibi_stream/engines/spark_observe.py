"""Metrics of a Spark frame learnt by the job that runs it anyway (Spark's ``Observation``).

The Spark engine uses this for deferred accounting (see
:class:`~odibi_stream.engines.base.SupportsDeferredCounts`): a batch's write job, which parses
its files anyway, also counts the rows read, the bad ones and the rows written, so none of
those needs a job (or a materialised copy of the input) of its own.

:class:`RowCounts` keeps the Spark engine's row count of each frame, learnt from such
observations where it can.

Lifecycle contract: build an :class:`Observed` over a frame, run exactly one plan built on
:attr:`Observed.frame` (a write, a collect), then call :meth:`Observed.get` once or more. If no
action ran the frame by then, ``get`` runs a count itself; the frame must therefore read input
that does not change during the batch (files are immutable for a batch; Kafka reads are not
deferred).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from odibi_stream.engines.base import ReadResult, Reject

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame


class Observed:
    """A frame plus aggregate metrics that the first action over it computes on the way.

    Args:
        frame: The frame to observe.
        metrics: Name → aggregate expression (e.g. ``F.count(F.lit(1))``).
    """

    def __init__(self, frame: DataFrame, **metrics: Column) -> None:
        from pyspark.sql import Observation

        self._observation = Observation()
        exprs = [expr.alias(name) for name, expr in metrics.items()]
        self.frame: DataFrame = frame.observe(self._observation, *exprs)

    def _completed(self) -> bool:
        # Observation.get blocks until an action finishes; the JVM object says whether one did.
        # PySpark keeps it private, so a build without it is treated as "not yet" (one count).
        java = getattr(self._observation, "_jo", None)
        try:
            return bool(java is not None and java.future().isCompleted())
        except Exception:  # py4j: the attribute is absent in this Spark build
            return False

    def get(self) -> dict[str, Any]:
        """The metrics, running a count over the frame first if no action has run it."""
        if not self._completed():
            self.frame.count()
        return dict(self._observation.get)


class RowCounts:
    """Row counts of frames, kept for as long as each frame lives.

    The runtime asks for one frame's count several times (rows in and out of a node, its
    downstream's rows in, the sink's rows), each a Spark job. A frame is an immutable query over
    a batch's input, which does not change while the batch runs, so one count serves them all;
    a read or a write that learnt it anyway (observed) spares the job.
    """

    def __init__(self) -> None:
        self._counts: weakref.WeakKeyDictionary[DataFrame, int] = weakref.WeakKeyDictionary()
        self._observed: weakref.WeakKeyDictionary[DataFrame, Observed] = weakref.WeakKeyDictionary()

    def count(self, frame: DataFrame) -> int:
        """The frame's rows: kept, observed, or counted now (and kept)."""
        known = self._counts.get(frame)
        if known is None:
            seen = self._observed.get(frame)
            known = int(seen.get()["rows"]) if seen is not None else int(frame.count())
            self._counts[frame] = known
        return known

    def remember(self, frame: DataFrame, rows: int) -> DataFrame:
        """Keep ``rows`` as the count of ``frame`` (learnt when it was built); return ``frame``."""
        self._counts[frame] = rows
        return frame

    def observe(self, frame: DataFrame) -> tuple[DataFrame, Callable[[], int]]:
        """The frame to run instead of ``frame``, and a getter of the rows (kept for both)."""
        from pyspark.sql import functions as F

        seen = Observed(frame, rows=F.count(F.lit(1)))
        self._observed[seen.frame] = seen

        def rows() -> int:
            known = self._counts[frame] = self.count(seen.frame)
            return known

        return seen.frame, rows

    def of_read(self, result: ReadResult) -> ReadResult:
        """``result`` with its frame's count kept, now or when its pending read settles."""
        if result.rows is not None:
            self.remember(result.frame, result.rows)
        if result.pending is None:
            return result
        pending, frame = result.pending, result.frame

        def settle() -> tuple[int, list[Reject]]:
            rows, rejects = pending()
            self._counts[frame] = rows
            return rows, rejects

        result.pending = settle
        return result
