"""Prometheus metrics of the runtime, on a registry of their own.

Lifecycle contract:
    * The daemon's stream manager calls :func:`record_batch` once per batch attempt (after a commit, a
      failure, an empty wake-up or before a retry) and :func:`record_status` whenever a
      pipeline's state, lag or watermarks change (at least after each batch and each
      pause/resume). Both are thread-safe (prometheus-client guards every sample).
    * The HTTP server's ``GET /metrics`` returns :meth:`Metrics.render` (through the daemon's
      ``ControlPlane.metrics_text``).
    * Every :class:`Metrics` owns a private ``CollectorRegistry``: several runtimes or tests in
      one process never clash on the process-global default registry.

Label values are only pipeline, node and source names, units and fixed state/status words,
which configuration restricts to identifiers; no value from a connection string or record can
become a label, so no secret can reach the exposition.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any, TypeGuard

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest

from odibi_stream.core.redact import redact
from odibi_stream.exceptions import root_cause
from odibi_stream.runtime.report import BatchReport

BATCH_STATUSES = ("committed", "failed", "empty", "retry")
"""Values of the ``status`` label of ``odibi_batches_total``."""

PIPELINE_STATES = ("running", "idle", "paused", "failed", "waiting_lease")
"""Values of the ``state`` label of ``odibi_pipeline_state`` (mirrors service.control)."""

# Micro-batches range from milliseconds (file_watch) to minutes (large Spark batches).
_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
_COMMIT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)

_NODE_COUNTS = ("rows_in", "rows_out", "rejected", "late")


class Metrics:
    """The runtime's metric families, registered on a private registry.

    Args:
        registry: Registry to register on; a fresh one by default.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r = self.registry
        self.batches = Counter(
            "odibi_batches_total", "Batch attempts by outcome.", ["pipeline", "status"], registry=r
        )
        self.batch_errors = Counter(
            "odibi_batch_errors_total",
            "Failed or retried batches by error type (class name only).",
            ["pipeline", "error"],
            registry=r,
        )
        self.batch_duration = Histogram(
            "odibi_batch_duration_seconds",
            "Wall time of a batch from plan to commit.",
            ["pipeline"],
            buckets=_DURATION_BUCKETS,
            registry=r,
        )
        self.checkpoint_commit = Histogram(
            "odibi_checkpoint_commit_seconds",
            "Time to durably write a batch's commit entry.",
            ["pipeline"],
            buckets=_COMMIT_BUCKETS,
            registry=r,
        )
        self.node_counters: dict[str, Counter] = {
            "rows_in": Counter("odibi_rows_in_total", "Rows read or received by a node.", ["pipeline", "node"], registry=r),
            "rows_out": Counter("odibi_rows_out_total", "Rows produced or written by a node.", ["pipeline", "node"], registry=r),
            "rejected": Counter("odibi_rejected_total", "Rows rejected by a node (on_error skip/dead_letter).", ["pipeline", "node"], registry=r),
            "late": Counter("odibi_late_rows_total", "Rows older than the node's watermark.", ["pipeline", "node"], registry=r),
        }
        self.source_lag = Gauge(
            "odibi_source_lag",
            "How far a source is behind its newest data, per unit (records, files, bytes, seconds).",
            ["pipeline", "source", "unit"],
            registry=r,
        )
        self.source_lost = Counter(
            "odibi_source_events_lost_total",
            "Events a source skipped because they were no longer available (retention), under on_data_loss: skip_and_report.",
            ["pipeline", "source"],
            registry=r,
        )
        self.watermark = Gauge(
            "odibi_watermark_seconds",
            "Event-time watermark of a node as Unix epoch seconds.",
            ["pipeline", "node"],
            registry=r,
        )
        self.maintenance = Counter(
            "odibi_maintenance_total",
            "Delta table maintenance operations by outcome (ok, error).",
            ["pipeline", "node", "operation", "status"],
            registry=r,
        )
        self.maintenance_duration = Histogram(
            "odibi_maintenance_duration_seconds",
            "Wall time of one Delta table maintenance operation.",
            ["pipeline", "operation"],
            buckets=_DURATION_BUCKETS,
            registry=r,
        )
        self.table_files = Gauge(
            "odibi_table_files",
            "Data files of a maintained Delta table after its latest maintenance operation.",
            ["pipeline", "node"],
            registry=r,
        )
        self.pipeline_state = Gauge(
            "odibi_pipeline_state",
            "1 for the pipeline's current state, 0 for the others.",
            ["pipeline", "state"],
            registry=r,
        )

    # ------------------------------------------------------------------ recording
    def record_batch(
        self,
        pipeline: str,
        report: BatchReport | None,
        status: str,
        error: BaseException | None = None,
    ) -> None:
        """Count one batch attempt and, when ``report`` is given, its timings and row counts.

        Args:
            pipeline: Pipeline name.
            report: The committed batch's report, or None for attempts without one.
            status: One of :data:`BATCH_STATUSES`.
            error: The exception of a failed or retried attempt; only the class name of its
                cause is used (never its text).

        Raises:
            ValueError: ``status`` is not one of :data:`BATCH_STATUSES`.
        """
        if status not in BATCH_STATUSES:
            raise ValueError(f"unknown batch status {status!r}; expected one of {BATCH_STATUSES}")
        self.batches.labels(pipeline, status).inc()
        if error is not None:
            self.batch_errors.labels(pipeline, type(root_cause(error)).__name__).inc()
        if report is None:
            return
        self.batch_duration.labels(pipeline).observe(max(report.duration_ms, 0.0) / 1000.0)
        self.checkpoint_commit.labels(pipeline).observe(max(report.commit_ms, 0.0) / 1000.0)
        self._count_nodes(pipeline, report.nodes)
        self._set_lag(pipeline, report.lag)
        self._set_watermarks(pipeline, report.watermarks)
        for source, lost in report.data_loss.items():
            self.source_lost.labels(pipeline, source).inc(lost)
        self.record_maintenance(pipeline, report.maintenance)

    def record_maintenance(self, pipeline: str, results: Any) -> None:
        """Count maintenance operations (``BatchReport.maintenance`` items) and their effect."""
        for item in results if isinstance(results, list) else []:
            if not isinstance(item, Mapping):
                continue
            node, operation = str(item.get("node")), str(item.get("operation"))
            self.maintenance.labels(pipeline, node, operation, "error" if item.get("error") else "ok").inc()
            duration = item.get("duration_ms")
            if _is_number(duration):
                self.maintenance_duration.labels(pipeline, operation).observe(duration / 1000.0)
            files = item.get("files_after")
            if _is_number(files):
                self.table_files.labels(pipeline, node).set(float(files))

    def record_status(self, pipeline: str, status: Mapping[str, Any]) -> None:
        """Set the state, lag and watermark gauges from a pipeline description.

        Args:
            pipeline: Pipeline name.
            status: A ``ControlPlane`` pipeline description (or part of it): ``state``,
                ``lag`` (source -> unit -> amount), ``watermarks`` (node -> datetime/number).
                Missing keys leave their gauges untouched.
        """
        state = status.get("state")
        if isinstance(state, str):
            self.set_state(pipeline, state)
        self._set_lag(pipeline, status.get("lag"))
        self._set_watermarks(pipeline, status.get("watermarks"))

    def set_state(self, pipeline: str, state: str) -> None:
        """Make ``state`` the one state of ``pipeline`` with value 1 (unknown states included)."""
        for known in PIPELINE_STATES:
            self.pipeline_state.labels(pipeline, known).set(1.0 if known == state else 0.0)
        if state not in PIPELINE_STATES:
            self.pipeline_state.labels(pipeline, state).set(1.0)

    def render(self) -> tuple[bytes, str]:
        """Return the Prometheus text exposition (redacted: labels come from config) and its type."""
        text = generate_latest(self.registry).decode("utf-8")
        return redact(text).encode("utf-8"), CONTENT_TYPE_LATEST

    # ------------------------------------------------------------------ internals
    def _count_nodes(self, pipeline: str, nodes: Any) -> None:
        if not isinstance(nodes, Mapping):
            return
        for node, counts in nodes.items():
            if not isinstance(counts, Mapping):
                continue
            for key in _NODE_COUNTS:
                value = counts.get(key)
                if _is_number(value) and value > 0:
                    self.node_counters[key].labels(pipeline, str(node)).inc(float(value))

    def _set_lag(self, pipeline: str, lag: Any) -> None:
        if not isinstance(lag, Mapping):
            return
        for source, by_unit in lag.items():
            if not isinstance(by_unit, Mapping):
                continue
            for unit, amount in by_unit.items():
                if _is_number(amount):
                    self.source_lag.labels(pipeline, str(source), str(unit)).set(float(amount))

    def _set_watermarks(self, pipeline: str, watermarks: Any) -> None:
        if not isinstance(watermarks, Mapping):
            return
        for node, value in watermarks.items():
            seconds = epoch_seconds(value)
            if seconds is not None:
                self.watermark.labels(pipeline, str(node)).set(seconds)


def epoch_seconds(value: Any) -> float | None:
    """Convert a watermark (datetime, ISO string or number) to Unix epoch seconds.

    Naive datetimes are taken as UTC (the runtime's internal zone). Returns None for values
    that are not a point in time (None, unparsable strings, other types).
    """
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
        return moment.timestamp()
    if _is_number(value):
        return float(value)
    if isinstance(value, str):
        try:
            # Python 3.10's fromisoformat does not accept the "Z" suffix.
            text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
            return epoch_seconds(datetime.fromisoformat(text))
        except ValueError:
            return None
    return None


def _is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


metrics = Metrics()
"""The process default used by the daemon through the module functions below."""


def record_batch(
    pipeline: str, report: BatchReport | None, status: str, error: BaseException | None = None
) -> None:
    """Record a batch attempt on the default :data:`metrics` (see :meth:`Metrics.record_batch`)."""
    metrics.record_batch(pipeline, report, status, error)


def record_status(pipeline: str, status: Mapping[str, Any]) -> None:
    """Set gauges on the default :data:`metrics` (see :meth:`Metrics.record_status`)."""
    metrics.record_status(pipeline, status)


def render() -> tuple[bytes, str]:
    """Render the default :data:`metrics` (see :meth:`Metrics.render`)."""
    return metrics.render()
