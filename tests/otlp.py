"""Decoding what an OTLP/HTTP exporter sent (the real protobuf messages of opentelemetry-proto)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from tests.http_receiver import Received


@dataclass(frozen=True)
class Span:
    """One decoded span."""

    trace_id: str
    span_id: str
    parent: str
    name: str
    attributes: dict[str, Any]
    status: int
    status_message: str
    events: list[tuple[str, dict[str, Any]]]
    start_ns: int
    end_ns: int
    resource: dict[str, Any]


def _value(v: AnyValue) -> Any:
    kind = v.WhichOneof("value")
    return getattr(v, kind) if kind else None


def _attrs(items: Any) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in items}


def spans(requests: list[Received]) -> list[Span]:
    """Every span of every ``/v1/traces`` request, decoded."""
    found: list[Span] = []
    for request in requests:
        assert request.headers.get("content-type") == "application/x-protobuf"
        message = ExportTraceServiceRequest.FromString(request.body)
        for rs in message.resource_spans:
            resource = _attrs(rs.resource.attributes)
            for ss in rs.scope_spans:
                for s in ss.spans:
                    found.append(Span(
                        s.trace_id.hex(), s.span_id.hex(), s.parent_span_id.hex(), s.name, _attrs(s.attributes),
                        s.status.code, s.status.message, [(e.name, _attrs(e.attributes)) for e in s.events],
                        s.start_time_unix_nano, s.end_time_unix_nano, resource,
                    ))
    return found
