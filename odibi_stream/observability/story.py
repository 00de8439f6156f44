"""Batch stories: what one committed or failed batch did, as one versioned JSON document.

A story holds the batch's inputs (files, partition ranges), per node rows in/out/rejected/late
with timings, per protocol step timings, output schemas and sink versions, watermarks, lag,
dead-letter counts with a few sample rejected records (masked), table maintenance, and — for a
failed batch — the error with its step, node and ``file:line``. Format (``"version": 1``)::

    {"version": 1, "kind": "story", "pipeline": "orders", "batch": 12,
     "status": "committed" | "failed", "trace_id": "…", "started": "…", "finished": "…",
     "duration_ms": 41.2, "counts": {...}, "steps": [...], "inputs": {...}, "nodes": [...],
     "outputs": [...], "watermarks": {...}, "lag": {...}, "dead_letters": {...},
     "maintenance": [...], "error": null | {...}}

Lifecycle: the service's story writer calls :func:`committed_story` / :func:`failed_story` on
its own thread (never the batch's), with the pipeline's :class:`PipelineFacts`. Both are pure
functions of their inputs. Secrets never reach a story: every string from records or errors
goes through ``core.redact``, and columns marked sensitive are masked in sample records.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson

from odibi_stream.core.jsonable import jsonable
from odibi_stream.core.redact import (
    MASK,
    is_secret_key,
    redact,
    redact_json,
    redact_mapping,
    redact_record,
)
from odibi_stream.exceptions import BatchFailed, root_cause
from odibi_stream.runtime.report import BatchReport
from odibi_stream.runtime.steps import BatchTrace

STORY_VERSION = 1
MAX_LISTED = 20
"""Items of a long list (files of a range) kept in a story; the rest is counted."""


@dataclass(frozen=True)
class PipelineFacts:
    """What a story needs to know of the pipeline beyond the batch report (from its config).

    Attributes:
        outputs: Sink node → ``{"format", "location"}`` (no secrets: URIs, topics).
        sensitive: Column names masked in sample records (``sensitive: true`` columns).
        dead_letter: Where dead letters go (``{"format", "location"}``), if configured.
        edges: ``[upstream, downstream]`` pairs of the DAG (for the console).
    """

    outputs: dict[str, dict[str, str]] = field(default_factory=dict)
    sensitive: frozenset[str] = frozenset()
    dead_letter: dict[str, str] | None = None
    edges: tuple[tuple[str, str], ...] = ()


def committed_story(report: BatchReport, facts: PipelineFacts, lag: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The story of a committed batch."""
    trace = report.trace
    duration = report.duration_ms
    nodes = [_node(name, out, report, facts) for name, out in report.nodes.items()]
    dead = {n["name"]: n["rejected"] + n["late"] for n in nodes if n["rejected"] or n["late"]}
    return _redacted({
        **_head(report.pipeline, report.batch, "committed", trace, duration),
        "replayed": report.replayed,
        "counts": {"rows_in": report.rows_in, "rows_out": report.rows_out,
                   "rejected": report.rejected, "late": report.late},
        "steps": _steps(trace),
        "inputs": {n: {"range": summarize(rng), "size": report.inputs.get(n, {})} for n, rng in report.sources.items()},
        "nodes": nodes,
        "outputs": [_output(n, facts) | {"sink": redact_mapping(jsonable(out.get("sink", {})))}
                    for n, out in report.nodes.items() if n in facts.outputs],
        "watermarks": jsonable(report.watermarks),
        "lag": jsonable(dict(lag or report.lag)),
        "dead_letters": {"total": sum(dead.values()), "by_node": dead, "target": facts.dead_letter},
        "maintenance": jsonable(report.maintenance),
        "error": None,
    })


def failed_story(
    error: BaseException,
    facts: PipelineFacts,
    *,
    pipeline: str,
    batch: int | None,
    retrying: bool,
    attempt: int = 1,
    planned: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The story of a failed batch attempt (``planned``: its write-ahead ranges, if known)."""
    trace = getattr(error, "trace", None)
    trace = trace if isinstance(trace, BatchTrace) else None
    duration = trace.total_ms if trace else 0.0
    head = _head(pipeline, batch, "failed", trace, duration, now)
    return _redacted({
        **head,
        "attempt": attempt,
        "retrying": retrying,
        "counts": None,
        "steps": _steps(trace) if trace else [],
        "inputs": {n: {"range": summarize(rng), "size": {}} for n, rng in (planned or {}).items()},
        "nodes": [],
        "outputs": [_output(n, facts) for n in facts.outputs],
        "watermarks": {},
        "lag": {},
        "dead_letters": {"total": 0, "by_node": {}, "target": facts.dead_letter},
        "maintenance": [],
        "error": error_detail(error, retrying),
    })


def error_detail(error: BaseException, retrying: bool) -> dict[str, Any]:
    """The error of a failed batch: type, message, step, node, ``file:line`` (all redacted)."""
    cause = root_cause(error)
    failed = error if isinstance(error, BatchFailed) else None
    hint = getattr(error, "hint", None)
    return {
        "type": type(cause).__name__,
        "message": redact(str(cause)),
        "step": failed.step if failed else None,
        "node": failed.node if failed else None,
        "where": failed.where if failed else None,
        "retryable": bool(getattr(error, "retryable", False)),
        "retrying": retrying,
        "hint": redact(hint) if isinstance(hint, str) else None,
    }


def summary(story: Mapping[str, Any]) -> dict[str, Any]:
    """The one-line form of a story (batch lists, the console's history chart)."""
    counts = story.get("counts") or {}
    duration = float(story.get("duration_ms") or 0.0)
    rows_in = int(counts.get("rows_in", 0))
    lag = story.get("lag") or {}
    error = story.get("error")
    return {
        "batch": story.get("batch"),
        "status": story.get("status"),
        "finished": story.get("finished"),
        "trace_id": story.get("trace_id"),
        "replayed": bool(story.get("replayed", False)),
        "rows_in": rows_in,
        "rows_out": int(counts.get("rows_out", 0)),
        "rejected": int(counts.get("rejected", 0)),
        "late": int(counts.get("late", 0)),
        "duration_ms": round(duration, 3),
        "rows_per_second": round(rows_in / (duration / 1000.0), 1) if duration > 0 else None,
        "lag": lag_total(lag),
        "dead_letters": int((story.get("dead_letters") or {}).get("total", 0)),
        "maintenance": len(story.get("maintenance") or []),
        "error": None if not error else f"{error.get('type')}: {error.get('message')}"[:300],
        "error_step": error.get("step") if error else None,
        "error_node": error.get("node") if error else None,
        "error_where": error.get("where") if error else None,
    }


def lag_total(lag: Mapping[str, Any]) -> int:
    """Every unit of lag added up except bytes and seconds (a backlog size for charts)."""
    total = 0
    for by_unit in lag.values():
        if isinstance(by_unit, Mapping):
            total += sum(int(v) for k, v in by_unit.items()
                         if k not in ("bytes", "seconds") and isinstance(v, (int, float)))
    return total


def summarize(value: Any) -> Any:
    """``value`` as JSON with long lists cut to :data:`MAX_LISTED` items (plus a count)."""
    if isinstance(value, Mapping):
        return {str(k): summarize(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        items = [summarize(v) for v in value[:MAX_LISTED]]
        if len(value) > MAX_LISTED:
            items.append({"more": len(value) - MAX_LISTED})
        return items
    return jsonable(value)


def mask_record(record: str, sensitive: Iterable[str]) -> str:
    """A sample record with sensitive columns and secret-looking fields masked, then redacted.

    Records are third-party data: only whole secrets are masked in them (masking fragments of
    text an attacker wrote would tell them which guesses are prefixes of a secret).
    """
    masked = {c.lower() for c in sensitive}
    try:
        data = orjson.loads(record)
    except orjson.JSONDecodeError:
        return redact_record(record)
    if isinstance(data, dict):
        data = {k: (MASK if str(k).lower() in masked or is_secret_key(str(k)) else v) for k, v in data.items()}
        return redact_record(orjson.dumps(data, default=str).decode("utf-8"))
    return redact_record(record)


def _redacted(story: dict[str, Any]) -> dict[str, Any]:
    """Every string of a story through the redactor (paths, URIs, ranges, errors), except the
    sample records, which :func:`mask_record` already handled as third-party data."""
    out: dict[str, Any] = redact_json({k: v for k, v in story.items() if k != "nodes"})
    out["nodes"] = [
        {**redact_json({k: v for k, v in node.items() if k != "samples"}), "samples": node.get("samples", [])}
        for node in story.get("nodes", [])
    ]
    return out


def _head(pipeline: str, batch: int | None, status: str, trace: BatchTrace | None,
          duration_ms: float, now: datetime | None = None) -> dict[str, Any]:
    started = trace.started if trace else now
    finished = started + timedelta(milliseconds=duration_ms) if started else None
    return {
        "version": STORY_VERSION,
        "kind": "story",
        "pipeline": pipeline,
        "batch": batch,
        "status": status,
        "trace_id": trace.trace_id if trace else None,
        "started": started.isoformat() if started else None,
        "finished": finished.isoformat() if finished else None,
        "duration_ms": round(duration_ms, 3),
    }


def _steps(trace: BatchTrace) -> list[dict[str, Any]]:
    return [
        {"step": step, "start_ms": round(trace.steps_start_ms.get(step, 0.0), 3), "duration_ms": round(ms, 3)}
        for step, ms in trace.steps_ms.items()
    ]


def _node(name: str, out: Mapping[str, Any], report: BatchReport, facts: PipelineFacts) -> dict[str, Any]:
    samples = [
        {"record": mask_record(str(s.get("record", "")), facts.sensitive),
         "error": redact(str(s.get("error", ""))), "source": redact(str(s.get("source", "")))}
        for s in report.samples.get(name, [])
    ]
    return {
        "name": name,
        "rows_in": int(out.get("rows_in", 0)),
        "rows_out": int(out.get("rows_out", 0)),
        "rejected": int(out.get("rejected", 0)),
        "late": int(out.get("late", 0)),
        "skipped": bool(out.get("skipped", False)),
        "start_ms": float(out.get("start_ms", 0.0)),
        "duration_ms": float(out.get("duration_ms", 0.0)),
        "schema": report.schemas.get(name),
        "samples": samples,
    }


def _output(node: str, facts: PipelineFacts) -> dict[str, Any]:
    return {"node": node, **facts.outputs.get(node, {})}
