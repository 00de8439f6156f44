"""OpenTelemetry traces of batches, exported over OTLP/HTTP (the optional ``otel`` extra).

One trace per batch attempt, under the trace id the batch's log lines carry
(``BatchTrace.trace_id``): a root span ``batch`` with one child span per protocol step
(``plan``, ``write_ahead``, ``execute`` …) and, under ``execute``, one span per node. Attributes:
``odibi.pipeline``, ``odibi.batch``, ``odibi.step``, ``odibi.node``, ``odibi.rows_in``/
``rows_out``/``rejected``/``late``, ``odibi.bytes``/``odibi.files``/``odibi.offsets`` (a
source's range size), ``odibi.source.range`` (the range, JSON, cut to 2 KB) and the sink's
``odibi.sink.version``. A failed attempt's step (and node) spans carry status ERROR, the
exception event and ``odibi.error.where``.

Spans are built after the attempt from its recorded timings (the protocol is not slowed by
tracing), on the caller's thread — the service hands them over on a background queue — and
exported by the SDK's batch processor. When tracing is off nothing here is imported: no cost.

Lifecycle: the service calls :func:`tracing_settings` (project config + ``OTEL_*``
environment) and, when it returns settings, :func:`open_tracer`; then :meth:`BatchTracer.committed`
/ :meth:`BatchTracer.failed` per attempt, and :meth:`BatchTracer.close` once (flushes).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from odibi_stream.config.tracing_models import TracingConfig
from odibi_stream.core.extras import require_extra
from odibi_stream.core.redact import redact
from odibi_stream.exceptions import BatchFailed, root_cause
from odibi_stream.runtime.report import BatchReport
from odibi_stream.runtime.steps import BatchTrace, Step

DEFAULT_ENDPOINT = "http://localhost:4318/v1/traces"
_TRUE = ("1", "true", "yes", "on")
_MAX_ATTR = 2048


@dataclass(frozen=True)
class TraceSettings:
    """Resolved tracing settings (config over environment)."""

    endpoint: str
    service_name: str
    headers: dict[str, str] | None = None
    timeout: float = 10.0
    resource: dict[str, str] = field(default_factory=dict)


def tracing_settings(config: TracingConfig | None, environ: Mapping[str, str] | None = None) -> TraceSettings | None:
    """The settings to export with, or None when tracing is off (see the module docstring)."""
    env = os.environ if environ is None else environ
    env_endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or (
        env["OTEL_EXPORTER_OTLP_ENDPOINT"].rstrip("/") + "/v1/traces" if env.get("OTEL_EXPORTER_OTLP_ENDPOINT") else None
    )
    enabled = config.enabled if config is not None else None
    if enabled is None:
        enabled = bool(config is not None and config.endpoint) or bool(env_endpoint)
        if env.get("OTEL_SDK_DISABLED", "").lower() in _TRUE or env.get("OTEL_TRACES_EXPORTER", "") == "none":
            enabled = False
    if not enabled:
        return None
    return TraceSettings(
        endpoint=(config.endpoint if config and config.endpoint else None) or env_endpoint or DEFAULT_ENDPOINT,
        service_name=(config.service_name if config else None) or env.get("OTEL_SERVICE_NAME") or "odibi-stream",
        headers=dict(config.headers) if config and config.headers else None,
        timeout=config.timeout_seconds if config else 10.0,
    )


def open_tracer(settings: TraceSettings, project: str) -> BatchTracer:
    """A tracer exporting to ``settings.endpoint``.

    Raises:
        ConfigError: the ``otel`` extra is not installed (with the pip hint).
    """
    require_extra("opentelemetry.sdk", "otel", "tracing")
    require_extra("opentelemetry.exporter.otlp.proto.http", "otel", "tracing")
    return BatchTracer(settings, project)


class BatchTracer:
    """Turns batch reports and failures into spans (see the module docstring)."""

    def __init__(self, settings: TraceSettings, project: str) -> None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        self.settings = settings
        self._ids = _trace_ids()
        resource = Resource.create({"service.name": settings.service_name, "odibi.project": project})
        self.provider = TracerProvider(resource=resource, id_generator=self._ids, shutdown_on_exit=False)
        exporter = OTLPSpanExporter(endpoint=settings.endpoint, headers=settings.headers, timeout=settings.timeout)
        self.provider.add_span_processor(BatchSpanProcessor(exporter))
        self.tracer = self.provider.get_tracer("odibi_stream")

    # ------------------------------------------------------------------ entry points
    def committed(self, report: BatchReport) -> None:
        """Emit the spans of a committed batch."""
        trace = report.trace
        attrs = _batch_attrs(report.pipeline, report.batch) | {
            "odibi.status": "committed", "odibi.replayed": report.replayed,
            "odibi.rows_in": report.rows_in, "odibi.rows_out": report.rows_out,
            "odibi.rejected": report.rejected, "odibi.late": report.late,
        }
        root, t0 = self._root(trace, attrs)
        steps = self._steps(root, trace, t0, report.pipeline, report.batch)
        execute = steps.get(Step.EXECUTE.value)
        if execute is not None:
            exec_start = t0 + _ns(trace.steps_start_ms.get(Step.EXECUTE.value, 0.0))
            for name, out in report.nodes.items():
                self._node(execute, exec_start, report, name, out)
        for span, end in steps.values():
            span.end(end_time=end)
        root.end(end_time=t0 + _ns(_span_ms(trace)))

    def failed(self, error: BaseException, pipeline: str) -> None:
        """Emit the spans of a failed attempt, the error recorded where it happened."""
        from opentelemetry.trace import Status, StatusCode

        trace = getattr(error, "trace", None)
        if not isinstance(trace, BatchTrace):
            return  # failed outside a batch (e.g. while opening): no trace to attach to
        failed = error if isinstance(error, BatchFailed) else None
        cause = root_cause(error)
        message = redact(f"{type(cause).__name__}: {cause}")
        attrs = _batch_attrs(pipeline, trace.batch) | {"odibi.status": "failed"}
        root, t0 = self._root(trace, attrs)
        steps = self._steps(root, trace, t0, pipeline, trace.batch)
        step = failed.step if failed else None
        for name, (span, end) in steps.items():
            if name == step:
                if failed is not None and failed.node:
                    node_attrs = _batch_attrs(pipeline, trace.batch) | {"odibi.node": failed.node}
                    node = self.tracer.start_span(f"node {failed.node}", context=_ctx(span), attributes=node_attrs,
                                                  start_time=end)
                    self._error(node, cause, message, failed)
                    node.end(end_time=end)
                self._error(span, cause, message, failed)
            span.end(end_time=end)
        root.set_status(Status(StatusCode.ERROR, message))
        root.end(end_time=t0 + _ns(_span_ms(trace)))

    def flush(self, timeout: float = 10.0) -> bool:
        """Export every finished span now."""
        return bool(self.provider.force_flush(int(timeout * 1000)))

    def close(self) -> None:
        """Flush and stop the exporter (once, at shutdown)."""
        self.provider.shutdown()

    # ------------------------------------------------------------------ spans
    def _root(self, trace: BatchTrace, attrs: dict[str, Any]) -> tuple[Any, int]:
        t0 = int(trace.started.timestamp() * 1e9)
        with self._ids.fixed(int(trace.trace_id, 16)):
            root = self.tracer.start_span("batch", attributes=attrs, start_time=t0)
        return root, t0

    def _steps(self, root: Any, trace: BatchTrace, t0: int, pipeline: str, batch: int | None) -> dict[str, tuple[Any, int]]:
        out = {}
        for step, ms in trace.steps_ms.items():
            start = t0 + _ns(trace.steps_start_ms.get(step, 0.0))
            span = self.tracer.start_span(step, context=_ctx(root), start_time=start,
                                          attributes=_batch_attrs(pipeline, batch) | {"odibi.step": step})
            out[step] = (span, start + _ns(ms))
        return out

    def _node(self, parent: tuple[Any, int], exec_start: int, report: BatchReport, name: str, out: Mapping[str, Any]) -> None:
        attrs: dict[str, Any] = _batch_attrs(report.pipeline, report.batch) | {"odibi.node": name}
        for key in ("rows_in", "rows_out", "rejected", "late"):
            attrs[f"odibi.{key}"] = int(out.get(key, 0))
        for unit, amount in report.inputs.get(name, {}).items():
            attrs[f"odibi.{unit}"] = int(amount)
        if name in report.sources:
            # Ranges hold paths, which may embed a secret (a tenant folder): redact like any output.
            attrs["odibi.source.range"] = _cut(redact(orjson.dumps(report.sources[name], default=str).decode()))
        sink = out.get("sink")
        if isinstance(sink, Mapping) and isinstance(sink.get("version"), int):
            attrs["odibi.sink.version"] = sink["version"]
        start = exec_start + _ns(float(out.get("start_ms", 0.0)))
        span = self.tracer.start_span(f"node {name}", context=_ctx(parent[0]), attributes=attrs, start_time=start)
        span.end(end_time=start + _ns(float(out.get("duration_ms", 0.0))))

    @staticmethod
    def _error(span: Any, cause: BaseException, message: str, failed: BatchFailed | None) -> None:
        from opentelemetry.trace import Status, StatusCode

        span.set_status(Status(StatusCode.ERROR, message))
        span.add_event("exception", {"exception.type": type(cause).__name__, "exception.message": message})
        if failed is not None and failed.where:
            span.set_attribute("odibi.error.where", failed.where)


def _batch_attrs(pipeline: str, batch: int | None) -> dict[str, Any]:
    return {"odibi.pipeline": pipeline} | ({"odibi.batch": batch} if batch is not None else {})


def _ctx(span: Any) -> Any:
    from opentelemetry import trace

    return trace.set_span_in_context(span)


def _ns(ms: float) -> int:
    return int(ms * 1e6)


def _span_ms(trace: BatchTrace) -> float:
    return max((trace.steps_start_ms.get(s, 0.0) + ms for s, ms in trace.steps_ms.items()), default=0.0)


def _cut(text: str) -> str:
    return text if len(text) <= _MAX_ATTR else text[: _MAX_ATTR - 1] + "…"


def _trace_ids() -> Any:
    """An id generator whose next trace id can be fixed (the batch's own) for one root span."""
    from contextlib import contextmanager

    from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator

    class FixedTraceIds(IdGenerator):  # type: ignore[misc]
        def __init__(self) -> None:
            self._random = RandomIdGenerator()
            self._local = threading.local()

        def generate_span_id(self) -> int:
            return int(self._random.generate_span_id())

        def generate_trace_id(self) -> int:
            fixed = getattr(self._local, "trace_id", None)
            return int(fixed) if fixed else int(self._random.generate_trace_id())

        @contextmanager
        def fixed(self, trace_id: int) -> Any:
            self._local.trace_id = trace_id
            try:
                yield
            finally:
                self._local.trace_id = None

    return FixedTraceIds()
