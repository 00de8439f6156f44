"""The step reporter: one typed trace per batch, and one error type when a step fails.

The protocol wraps each step in ``with steps.time(Step.WRITE_AHEAD):``. The reporter records
the step's duration in the batch's :class:`BatchTrace` (which feeds the batch report, the
commit entry's metrics, metrics and stories) and turns any failure inside the step into a
:class:`~odibi_stream.exceptions.BatchFailed` naming pipeline, batch and step — raised once,
never re-wrapped by an outer step.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

from odibi_stream.core.batch_context import BatchContext, bound, new_trace_id
from odibi_stream.core.clock import SYSTEM_CLOCK, Clock
from odibi_stream.exceptions import BatchFailed


class Step(str, Enum):
    """The protocol's steps, in order (``runtime/batch.py``)."""

    RECOVER = "recover"
    PLAN = "plan"
    WRITE_AHEAD = "write_ahead"
    EXECUTE = "execute"
    DEAD_LETTER = "dead_letter"
    COMMIT = "commit"
    ACKNOWLEDGE = "acknowledge"
    RETAIN = "retain"
    MAINTAIN = "maintain"


@dataclass
class BatchTrace:
    """Where one batch attempt spent its time.

    Attributes:
        pipeline: Pipeline name.
        started: When the attempt started (UTC).
        batch: Batch number once planned (None before).
        steps_ms: Step → milliseconds, in the order the steps ran.
        steps_start_ms: Step → when it (first) started, in ms after ``started``.
        trace_id: The attempt's W3C trace id (logs carry it; traces export under it).
    """

    pipeline: str
    started: datetime
    batch: int | None = None
    steps_ms: dict[str, float] = field(default_factory=dict)
    steps_start_ms: dict[str, float] = field(default_factory=dict)
    trace_id: str = field(default_factory=new_trace_id)

    @property
    def total_ms(self) -> float:
        """Milliseconds over every recorded step."""
        return sum(self.steps_ms.values())

    @property
    def checkpoint_ms(self) -> float:
        """Milliseconds spent writing the checkpoint (write-ahead + commit)."""
        return self.steps_ms.get(Step.WRITE_AHEAD.value, 0.0) + self.steps_ms.get(Step.COMMIT.value, 0.0)


class StepReporter:
    """Times the steps of one batch attempt (created by the protocol, one per attempt).

    Args:
        pipeline: Pipeline name.
        clock: Where time comes from.
        where: ``file:line`` of the pipeline's YAML, for errors without a node.
    """

    def __init__(self, pipeline: str, clock: Clock = SYSTEM_CLOCK, where: str | None = None) -> None:
        self.clock = clock
        self.where = where
        self.trace = BatchTrace(pipeline=pipeline, started=clock.now())
        self.context = BatchContext(pipeline, self.trace.trace_id)
        self._t0 = clock.monotonic()

    def planned(self, batch: int) -> None:
        """Record the batch number once the plan is known."""
        self.trace.batch = self.context.batch = batch

    @contextmanager
    def bound(self) -> Iterator[BatchContext]:
        """Bind this attempt's :class:`BatchContext` (log lines carry its trace id)."""
        with bound(self.context) as context:
            yield context

    @contextmanager
    def time(self, step: Step) -> Iterator[None]:
        """Time ``step``; a failure inside becomes one :class:`BatchFailed` naming the step.

        The failure carries this attempt's trace (``BatchFailed.trace``) for stories and traces.
        """
        t0 = self.clock.monotonic()
        self.trace.steps_start_ms.setdefault(step.value, (t0 - self._t0) * 1000)
        try:
            yield
        except BatchFailed as passed:
            if passed.trace is None:
                passed.trace = self.trace
            raise
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # incl. pyo3's PanicException (a Rust panic in delta-rs)
            trace = self.trace
            wrapped = BatchFailed(trace.pipeline, trace.batch, step.value, exc, where=self.where)
            wrapped.trace = trace
            raise wrapped from exc
        finally:
            elapsed = (self.clock.monotonic() - t0) * 1000
            key = step.value
            self.trace.steps_ms[key] = self.trace.steps_ms.get(key, 0.0) + elapsed
