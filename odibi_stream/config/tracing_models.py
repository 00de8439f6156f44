"""Model of ``tracing:`` in ``odibi.yaml``: OpenTelemetry traces of batches, exported over OTLP/HTTP.

Example::

    tracing:
      endpoint: http://collector:4318/v1/traces
      headers: {authorization: "Bearer ${secret:OTLP_TOKEN}"}
      service_name: orders-daemon

Without a ``tracing:`` section, tracing follows the standard OpenTelemetry environment: it is
on when ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (and
``OTEL_SDK_DISABLED`` is not true); ``OTEL_SERVICE_NAME``, ``OTEL_EXPORTER_OTLP_HEADERS`` and
``OTEL_RESOURCE_ATTRIBUTES`` apply. It needs the ``otel`` extra.
"""

from __future__ import annotations

from pydantic import Field

from odibi_stream.config.base import Model


class TracingConfig(Model):
    """OpenTelemetry tracing: one trace per batch, spans per protocol step and per node."""

    enabled: bool | None = Field(
        default=None,
        description="true: export traces; false: never; unset: export when OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT is set.",
    )
    endpoint: str | None = Field(
        default=None,
        description="OTLP/HTTP traces URL (e.g. http://collector:4318/v1/traces); default from OTEL_EXPORTER_OTLP_* or http://localhost:4318/v1/traces.",
    )
    headers: dict[str, str] = Field(
        default_factory=dict, description="Extra export request headers; values may use ${secret:NAME}."
    )
    service_name: str | None = Field(
        default=None, description="service.name resource attribute (default OTEL_SERVICE_NAME, else odibi-stream)."
    )
    timeout_seconds: float = Field(default=10.0, gt=0, le=120, description="Timeout of one export request.")
