"""Step 9 of the protocol: Delta table maintenance between batches, under the pipeline's lease.

Lifecycle contract:
    * The runner builds one :class:`DeltaMaintainer` when its pipeline has maintenance
      configured (``CompiledPipeline.maintenance``) and passes it to every batch; the protocol
      calls :meth:`DeltaMaintainer.after_commit` after retain, in the pipeline's own thread —
      so maintenance never overlaps the pipeline's writes — and ``odibi-stream maintain`` calls
      :meth:`DeltaMaintainer.run_all` while holding the lease.
    * What is due is decided per table and operation from ``<pipeline>/maintenance.json`` in the
      checkpoint store (the batch and time each operation last ran, and the table version of
      the last log checkpoint), so schedules survive restarts. The first sight of a table
      records a baseline: nothing runs until a full period has passed.
    * The lease is checked before every operation. A failing operation is logged and reported
      in the result (``error``), never raised: the batch has committed already.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from odibi_stream.checkpoints.entries import CommitEntry
from odibi_stream.checkpoints.store import CheckpointStore
from odibi_stream.config.maintenance_models import Every, MaintenanceConfig
from odibi_stream.connectors import delta_maintenance as ops
from odibi_stream.connectors.delta import DeltaSinkSpec
from odibi_stream.core.clock import SYSTEM_CLOCK, Clock
from odibi_stream.core.redact import redact
from odibi_stream.engines.base import Engine
from odibi_stream.exceptions import LeaseLost
from odibi_stream.runtime.batch import Fence
from odibi_stream.runtime.compile import CompiledPipeline
from odibi_stream.runtime.faults import fault_point

log = logging.getLogger(__name__)

STATE_VERSION = 1


@dataclass(frozen=True)
class Table:
    """One maintained table: the sink node (or ``_dead_letter``), where it is, what to do."""

    node: str
    uri: str
    storage_options: dict[str, str]
    config: MaintenanceConfig


def tables(compiled: CompiledPipeline) -> list[Table]:
    """The pipeline's tables with maintenance configured, in node order."""
    found: list[Table] = []
    for node, config in compiled.maintenance.items():
        if node == "_dead_letter" and compiled.dead_letter is not None:
            loc = compiled.dead_letter.location
        else:
            spec = compiled.sinks.get(node)
            if not isinstance(spec, DeltaSinkSpec):
                continue
            loc = spec.location
        found.append(Table(node, loc.uri, dict(loc.storage_options), config))
    return found


class DeltaMaintainer:
    """Runs due maintenance of one pipeline's Delta tables (see the module docstring).

    Args:
        compiled: The pipeline.
        store: The checkpoint store (holds ``<pipeline>/maintenance.json``).
        clock: Where time comes from.
    """

    def __init__(self, compiled: CompiledPipeline, store: CheckpointStore, clock: Clock = SYSTEM_CLOCK) -> None:
        self.pipeline = compiled.name
        self.tables = tables(compiled)
        self.store = store
        self.clock = clock
        self._key = f"{compiled.name}/maintenance.json"
        self._state: dict[str, dict[str, Any]] | None = None
        self._dirty = False

    # ------------------------------------------------------------------ entry points
    def after_commit(self, done: CommitEntry, engine: Engine, fence: Fence) -> list[dict[str, Any]]:
        """Run whatever is due after committed batch ``done`` (see ``runtime.batch.Maintainer``)."""
        try:
            state = self._load()
            plan = [(t, op) for t in self.tables for op in self._due(t, state, done)]
            if self._dirty:
                self._save(state)
        except Exception as exc:  # maintenance state is housekeeping: never fail a batch
            log.warning("pipeline %s: maintenance planning failed: %s", self.pipeline, redact(str(exc)))
            return []
        return self._run(plan, engine, fence, done.batch)

    def run_all(self, engine: Engine, fence: Fence, batch: int | None = None) -> list[dict[str, Any]]:
        """Run every configured operation of every table now (``odibi-stream maintain``)."""
        plan = [(t, op) for t in self.tables for op in _configured(t.config)]
        return self._run(plan, engine, fence, batch)

    # ------------------------------------------------------------------ scheduling
    def _due(self, table: Table, state: dict[str, dict[str, Any]], done: CommitEntry) -> list[str]:
        entry = state.setdefault(table.node, {})
        now = self.clock.now()
        due = []
        cfg = table.config
        for op, every in (("optimize", cfg.optimize), ("vacuum", cfg.vacuum)):
            if every is None:
                continue
            last = entry.get(op)
            if last is None:  # first sight: the period starts now
                entry[op] = {"batch": done.batch, "at": now.isoformat()}
                self._dirty = True
            elif _elapsed(every.schedule, last, done.batch, now):
                due.append(op)
        commits = cfg.checkpoint_commits
        version = _sink_version(done, table.node)
        if commits is not None and version is not None:
            last_cp = entry.get("checkpoint")
            if last_cp is None:
                entry["checkpoint"] = {"version": version, "batch": done.batch, "at": now.isoformat()}
                self._dirty = True
            elif version - int(last_cp.get("version", 0)) >= commits:
                due.append("checkpoint")
        return due

    # ------------------------------------------------------------------ running
    def _run(self, plan: list[tuple[Table, str]], engine: Engine, fence: Fence, batch: int | None) -> list[dict[str, Any]]:
        results: list[dict[str, Any]] = []
        if not plan:
            return results
        state = self._load_quietly()
        for table, op in plan:
            result = self._one(table, op, engine, fence)
            results.append(result)
            if result.get("error") is None:
                entry = state.setdefault(table.node, {})
                previous = entry.get(op) or {}
                entry[op] = {
                    # An on-demand run outside a batch keeps the batch count where it was.
                    "batch": batch if batch is not None else previous.get("batch"),
                    "at": self.clock.now().isoformat(),
                    "version": result.get("version", 0),
                }
            if result.get("error") == "lease lost":
                break
            fault_point("during_maintenance")
        try:
            self._save(state)
        except Exception as exc:
            log.warning("pipeline %s: could not save maintenance state: %s", self.pipeline, redact(str(exc)))
        return results

    def _one(self, table: Table, op: str, engine: Engine, fence: Fence) -> dict[str, Any]:
        head = {"node": table.node, "table": table.uri, "operation": op}
        try:
            fence.check()
        except LeaseLost:
            return {**head, "error": "lease lost"}
        cfg = table.config
        try:
            if op == "optimize":
                assert cfg.optimize is not None
                out = ops.optimize(engine, table.uri, table.storage_options, cfg.optimize.target_bytes)
            elif op == "vacuum":
                assert cfg.vacuum is not None
                out = ops.vacuum(engine, table.uri, table.storage_options, cfg.vacuum.retain_hours)
            else:
                out = ops.checkpoint(engine, table.uri, table.storage_options)
        except Exception as exc:
            message = redact(f"{type(exc).__name__}: {exc}")
            log.warning("pipeline %s node %s: %s failed: %s", self.pipeline, table.node, op, message)
            return {**head, "error": message}
        log.info("pipeline %s node %s: %s done: %s", self.pipeline, table.node, op,
                 {k: v for k, v in out.items() if k != "operation"})
        return {**head, **out, "error": None}

    # ------------------------------------------------------------------ state
    def _load(self) -> dict[str, dict[str, Any]]:
        if self._state is None:
            raw = self.store.read(self._key)
            doc = orjson.loads(raw) if raw else {}
            if doc and doc.get("version") != STATE_VERSION:
                log.warning("pipeline %s: unknown maintenance state version; starting afresh", self.pipeline)
                doc = {}
            self._state = dict(doc.get("tables", {}))
        return self._state

    def _load_quietly(self) -> dict[str, dict[str, Any]]:
        try:
            return self._load()
        except Exception:
            self._state = {}
            return self._state

    def _save(self, state: dict[str, dict[str, Any]]) -> None:
        doc = {"version": STATE_VERSION, "pipeline": self.pipeline, "tables": state}
        self.store.replace(self._key, orjson.dumps(doc, option=orjson.OPT_SORT_KEYS))
        self._dirty = False


def _configured(cfg: MaintenanceConfig) -> list[str]:
    found = []
    if cfg.optimize is not None:
        found.append("optimize")
    if cfg.vacuum is not None:
        found.append("vacuum")
    if cfg.checkpoint_every is not None:
        found.append("checkpoint")
    return found


def _elapsed(every: Every, last: dict[str, Any], batch: int, now: datetime) -> bool:
    if every.batches is not None:
        last_batch = last.get("batch")
        return last_batch is None or batch - int(last_batch) >= every.batches
    at = last.get("at")
    if at is None:
        return True
    return (now - datetime.fromisoformat(at)).total_seconds() >= (every.seconds or 0.0)


def _sink_version(done: CommitEntry, node: str) -> int | None:
    sink = done.nodes.get(node, {}).get("sink", {})
    version = sink.get("version") if isinstance(sink, dict) else None
    return int(version) if isinstance(version, int) else None
