"""Step 4-5 of the protocol: run one batch's DAG on an engine and write its sinks.

Nodes of one topological layer run in parallel (bounded by ``max_parallel_nodes``); a layer
starts only when the previous one finished. Every node follows the same order: read → watermark
→ transform → checks → write. Bad records follow the node's ``on_error``; late rows follow the
watermark's ``late`` policy. Sink writes are idempotent on their own, so a replayed batch skips
the writes of nodes whose output already landed (node-level resume) and re-does the rest. A
node's failure is raised as ``BatchFailed`` naming the node and its YAML ``file:line``.

On an engine where counting costs a pass over the input, an eligible batch first runs with its
accounting deferred until after the writes (:mod:`odibi_stream.runtime.deferred`), and again
eagerly if that attempt fails.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from odibi_stream.config.models import NodeConfig
from odibi_stream.connectors import dead_letter
from odibi_stream.connectors.base import BatchKey, Position, Source
from odibi_stream.core.values import decode_value, encode_value, sql_literal
from odibi_stream.engines.base import (
    DEFER_ACCOUNTING,
    Deferral,
    Engine,
    Frame,
    ReadResult,
    Reject,
    SupportsDeferredCounts,
)
from odibi_stream.exceptions import BatchFailed, RecordError, TransformError
from odibi_stream.runtime import quality
from odibi_stream.runtime.deferred import deferrable
from odibi_stream.runtime.failure import describe_input
from odibi_stream.runtime.faults import fault_point
from odibi_stream.runtime.file_rejects import UnreadableFile, read_file_by_file, splittable
from odibi_stream.runtime.outcome import SAMPLE_ROWS, Execution, NodeOutcome

if TYPE_CHECKING:
    from odibi_stream.runtime.compile import LivePipeline

log = logging.getLogger(__name__)


class BatchExecutor:
    """Runs the DAG of one planned batch.

    Lifecycle: the runner creates one per batch attempt and calls :meth:`run` once.
    """

    def __init__(self, pipe: LivePipeline, engine: Engine, batch: int, ranges: Mapping[str, Any],
                 watermarks: Mapping[str, Any], planned: datetime | None = None) -> None:
        self.pipe = pipe
        self.compiled = pipe.compiled
        self.engine = engine
        self.batch = batch
        self.ranges = ranges
        self.watermarks_in = watermarks
        self.planned = planned
        self.masker = pipe.compiled.masker
        self.lazy = deferrable(engine, pipe.compiled.config)
        self._lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self.frames: dict[str, Frame | None] = {}
        self.outcomes: dict[str, NodeOutcome] = {}
        self.dead: dict[str, list[Frame]] = {}
        # With quality gates, sinks write only after every node passed (see runtime.quality).
        self.deferred: list[tuple[NodeConfig, Frame, NodeOutcome]] | None = (
            [] if quality.needs_gate(self.compiled.config) else None
        )
        # Deferred accounting: what to settle after the last write, in order (node, work).
        self.later: list[tuple[NodeConfig, Callable[[], None]]] = []
        self._t0 = time.perf_counter()

    def run(self) -> Execution:
        """Execute every layer; raise on the first node failure."""
        if self.lazy:
            try:
                return self._attempt()
            except BatchFailed as exc:
                log.info("%s; running the batch again with eager accounting", exc)
            self.lazy = False
            self._reset()
        return self._attempt()

    def _attempt(self) -> Execution:
        workers = max(1, self.compiled.max_parallel_nodes)
        self._t0 = time.perf_counter()
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"odibi-{self.compiled.name}") as pool:
            for layer in self.compiled.dag.layers():
                if len(layer) == 1:
                    self._run_node(self.compiled.node(layer[0]))
                    continue
                # Each node thread sees the batch's context (log lines carry its trace id).
                futures = [
                    pool.submit(contextvars.copy_context().run, self._run_node, self.compiled.node(n))
                    for n in layer
                ]
                for fut in futures:
                    fut.result()
            if self.deferred is not None:
                quality.gate(self.compiled.name, self.batch, {n: o.quality for n, o in self.outcomes.items()})
                writes = [
                    pool.submit(contextvars.copy_context().run, self._run_node, n, (f, o)) for n, f, o in self.deferred
                ]
                for fut in writes:
                    fut.result()
        for node, settle in self.later:
            self._guarded(node, settle)
        return Execution(self.outcomes, self._new_watermarks(), self.dead)

    # ------------------------------------------------------------------ one node
    def _run_node(self, node: NodeConfig, write: tuple[Frame, NodeOutcome] | None = None) -> None:
        if write is None:
            self._guarded(node, lambda: self._node(node))
        else:
            self._guarded(node, lambda: self._timed_write(node, *write))

    def _timed_write(self, node: NodeConfig, frame: Frame, out: NodeOutcome) -> None:
        t0 = time.perf_counter()
        self._write(node, frame, out)
        out.duration_ms += (time.perf_counter() - t0) * 1000

    def _guarded(self, node: NodeConfig, work: Callable[[], None]) -> None:
        try:
            work()
        except (BatchFailed, KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # incl. pyo3's PanicException (a Rust panic in delta-rs)
            raise BatchFailed(
                self.compiled.name, self.batch, "execute", self.masker.scrub_error(exc), node=node.name,
                where=self.compiled.node_where.get(node.name), input=self._input_text(node, exc),
            ) from exc

    def _input_text(self, node: NodeConfig, exc: BaseException) -> str | None:
        """The input a failing node was processing: the one bad file, its range, or the batch's."""
        if isinstance(exc, UnreadableFile):
            return exc.path
        if node.name in self.compiled.static_reads:
            return self.compiled.static_reads[node.name].uri
        if node.name in self.ranges:
            return describe_input(self.ranges[node.name])
        described = [d for rng in self.ranges.values() if (d := describe_input(rng))]
        return "; ".join(described) or None

    def _node(self, node: NodeConfig) -> None:
        out = NodeOutcome()
        t0 = time.perf_counter()
        out.start_ms = (t0 - self._t0) * 1000
        frame = self._input(node, out)
        if frame is not None and node.transform is not None:
            frame = self._transform(node, frame)
        if frame is not None and node.checks:
            frame = self._checks(node, frame, out)
        if frame is None:
            out.skipped = True
        else:
            self._count(node, [frame], lambda n: setattr(out, "rows_out", n))
            out.quality.update(quality.measure(self.engine, node, frame, out.rows_in, out.rejected))
            if node.write is not None and self.deferred is not None:
                with self._lock:
                    self.deferred.append((node, frame, out))
            elif node.write is not None:
                self._write(node, frame, out)
        out.duration_ms = (time.perf_counter() - t0) * 1000
        with self._lock:
            self.frames[node.name] = frame
            self.outcomes[node.name] = out

    def _input(self, node: NodeConfig, out: NodeOutcome) -> Frame | None:
        if node.read is None:
            inputs = [self.frames.get(d) for d in node.depends_on]
            present = [f for f in inputs if f is not None]
            if not present:
                return None
            self._count(node, present, lambda n: setattr(out, "rows_in", n))
            if len(present) == 1 or node.transform is not None:
                # Transforms see every upstream by name; this frame only marks "has input".
                return present[0]
            return self.engine.union(present)
        frame = self._read(node, out)
        if frame is not None:
            fault_point("after_read")
            frame = self._apply_watermark(node, frame, out)
        return frame

    def _read(self, node: NodeConfig, out: NodeOutcome) -> Frame | None:
        assert node.read is not None
        source = self.pipe.sources.get(node.name)
        if source is None:
            loc = self.compiled.static_reads[node.name]
            frame = self.engine.read_table(
                loc.uri, node.read.format, loc.storage_options, options=node.read.options
            )
            self._count(node, [frame], lambda n: setattr(out, "rows_in", n))
            return frame
        rng = self.ranges.get(node.name)
        if rng is None:
            return None
        try:
            result = self._source_read(node, source, rng)
        except (RecordError, PermissionError, IsADirectoryError):
            if not splittable(rng):
                raise
            # One bad file must not hold back the others: find it, then follow on_error.
            result = read_file_by_file(source, self.engine, rng, self._policy(node))
        if result.pending is not None:
            with self._lock:
                self.later.append((node, lambda: self._settle_read(node, result, out)))
            return result.frame
        out.rows_in = self.engine.count(result.frame) + len(result.rejects)
        if result.rejects:
            self._route_rejects(node, result.rejects, out)
        return result.frame

    def _source_read(self, node: NodeConfig, source: Source, rng: Position) -> ReadResult:
        # Under on_error: fail a deferred read fails its job on a bad record; the eager re-run
        # of the batch then reports it before any write, as always.
        deferral: Deferral | None = ("fail" if self._policy(node) == "fail" else "collect") if self.lazy else None
        token = DEFER_ACCOUNTING.set(deferral)
        try:
            return source.read(self.engine, rng)
        finally:
            DEFER_ACCOUNTING.reset(token)

    def _settle_read(self, node: NodeConfig, result: ReadResult, out: NodeOutcome) -> None:
        assert result.pending is not None
        rows, rejects = result.pending()
        out.rows_in = rows + len(rejects)
        if rejects:
            self._route_rejects(node, rejects, out)

    def _count(self, node: NodeConfig, frames: list[Frame], into: Callable[[int], None]) -> None:
        """``into(rows of frames)``: now, or after the writes when accounting is deferred."""
        if not self.lazy:
            into(sum(self.engine.count(f) for f in frames))
            return
        with self._lock:
            self.later.append((node, lambda: into(sum(self.engine.count(f) for f in frames))))

    def _apply_watermark(self, node: NodeConfig, frame: Frame, out: NodeOutcome) -> Frame:
        wm_cfg = node.read.watermark if node.read else None
        if wm_cfg is None:
            return frame
        out.max_event_time = self.engine.max_value(frame, wm_cfg.column)
        current = self.watermarks_in.get(node.name)
        if current is None:
            return frame
        # A row exactly at the watermark is on time: only strictly older rows are late.
        on_time, late = self.engine.split(frame, f"{wm_cfg.column} >= {sql_literal(decode_value(current))}")
        out.late = self.engine.count(late)
        if out.late and wm_cfg.late == "dead_letter":
            self._dead_letter_frame(node, late, f"late: {wm_cfg.column} older than watermark", out)
        return on_time

    def _transform(self, node: NodeConfig, frame: Frame) -> Frame:
        assert node.transform is not None
        tables: dict[str, Frame] = {d: f for d in node.depends_on if (f := self.frames.get(d)) is not None}
        if node.read is not None:
            tables[node.name] = frame
        if node.transform.sql:
            try:
                return self.engine.sql(node.transform.sql, tables)
            except TransformError:
                raise
            except Exception as exc:  # engine-specific SQL errors become our type
                raise TransformError(f"node '{node.name}': SQL failed: {exc}") from exc
        fn = self.compiled.functions[node.name]
        return self.engine.apply(fn, tables, node.transform.params)

    def _checks(self, node: NodeConfig, frame: Frame, out: NodeOutcome) -> Frame:
        for check in node.checks:
            good, bad = self.engine.split(frame, check.expr)
            n_bad = self.engine.count(bad)
            policy = quality.check_policy(check, self._policy(node))
            if n_bad:
                out.quality.setdefault("checks", {})[check.name] = {"failed": n_bad, "severity": check.severity or policy}
            if policy is None:
                continue  # severity: warn keeps the rows
            if n_bad:
                self._route_bad_frame(node, bad, f"check '{check.name}' failed: {check.expr}", n_bad, out, policy)
            frame = good
        return frame

    def _write(self, node: NodeConfig, frame: Frame, out: NodeOutcome) -> None:
        sink = self.pipe.sinks[node.name]
        key = BatchKey(self.compiled.name, node.name, self.batch, planned=self.planned)
        assert node.write is not None
        rows: Callable[[], int] | None = None
        if self.lazy and isinstance(self.engine, SupportsDeferredCounts):
            # The write's own job counts its rows; an empty batch writes just its marker.
            frame, rows = self.engine.observe_rows(frame)
        elif out.rows_out == 0 and node.write.mode != "overwrite":
            out.sink = {"skipped": True, "reason": "no rows"}
            return
        frame = self.masker.for_sink(self.engine, node.write, frame)
        result = sink.write(self.engine, frame, key)
        if rows is not None:
            out.rows_out = rows()
        out.sink = {"skipped": result.skipped, **result.detail}
        out.schema = self.engine.schema(frame)
        fault_point("after_sink")

    # ------------------------------------------------------------------ bad records
    def _policy(self, node: NodeConfig) -> str:
        return self.compiled.config.node_on_error(node)

    def _route_rejects(self, node: NodeConfig, rejects: list[Reject], out: NodeOutcome) -> None:
        rejects = self.masker.rejects(rejects)
        out.rejected += len(rejects)
        out.sample([r.record for r in rejects[:SAMPLE_ROWS]], [r.error for r in rejects[:SAMPLE_ROWS]],
                   [r.source for r in rejects[:SAMPLE_ROWS]])
        policy = self._policy(node)
        if policy == "fail":
            first = rejects[0]
            raise RecordError(
                f"node '{node.name}': {len(rejects)} bad record(s) in batch {self.batch}; first at "
                f"{first.source}: {first.error}",
                hint="set on_error: dead_letter (with a dead_letter target) or skip on the node/pipeline",
            )
        if policy == "dead_letter":
            dl = dead_letter.to_frame(self.engine, rejects, node.name, self.batch)
            self._add_dead(node.name, dl)

    def _route_bad_frame(
        self, node: NodeConfig, bad: Frame, error: str, n_bad: int, out: NodeOutcome, policy: str | None = None
    ) -> None:
        out.rejected += n_bad
        policy = policy or self._policy(node)
        if policy == "fail":
            raise RecordError(
                f"node '{node.name}': {n_bad} row(s) failed in batch {self.batch}: {error}",
                hint="set on_error: dead_letter or skip to keep the good rows flowing",
            )
        if policy == "dead_letter":
            self._dead_letter_frame(node, bad, error, out)

    def _dead_letter_frame(self, node: NodeConfig, bad: Frame, error: str, out: NodeOutcome) -> None:
        # As dead_letter.frame_rejects, keeping the records at hand for the story's samples.
        bad = self.masker.frame(self.engine, bad)
        records = self.engine.to_json_records(bad)
        out.sample(records, error, f"node:{node.name}")
        rejects = [Reject(r, error, f"node:{node.name}") for r in records]
        dl = dead_letter.to_frame(self.engine, rejects, node.name, self.batch)
        self._add_dead(node.name, dl)

    def _add_dead(self, node: str, frame: Frame) -> None:
        with self._lock:
            self.dead.setdefault(node, []).append(frame)

    # ------------------------------------------------------------------ watermarks
    def _new_watermarks(self) -> dict[str, Any]:
        marks = dict(self.watermarks_in)
        for name, delay in self.compiled.watermark_delays.items():
            seen = self.outcomes.get(name, NodeOutcome()).max_event_time
            if seen is None:
                continue
            candidate = _minus(seen, delay)
            current = marks.get(name)
            if current is None or candidate > decode_value(current):
                marks[name] = encode_value(candidate)
        return marks


def _minus(value: Any, seconds: float) -> Any:
    if isinstance(value, (int, float)):
        return value - seconds
    return value - timedelta(seconds=seconds)
