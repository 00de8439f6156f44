"""odibi-stream: a streaming-first event runtime for data pipelines.

The public API: :class:`Runtime` (embed the daemon, register pipelines, run them), the
``@transform`` decorator for Python transforms, :func:`load_project`, and the error types.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from odibi_stream.exceptions import (
    CheckpointError,
    ConfigError,
    ConnectorError,
    EngineError,
    OdibiError,
    TransformError,
)
from odibi_stream.plugins.transforms import transform

if TYPE_CHECKING:
    from odibi_stream.api import Runtime
    from odibi_stream.service.project import load as load_project

__version__ = "0.1.0"

__all__ = [
    "CheckpointError",
    "ConfigError",
    "ConnectorError",
    "EngineError",
    "OdibiError",
    "Runtime",
    "TransformError",
    "__version__",
    "load_project",
    "transform",
]


def __getattr__(name: str) -> Any:
    # The runtime pulls in the daemon, scheduler and HTTP server: import it only when asked,
    # so `import odibi_stream` (and every CLI start) stays light.
    if name == "Runtime":
        from odibi_stream.api import Runtime

        return Runtime
    if name == "load_project":
        # Loading through the service layer registers the project's secrets for redaction.
        from odibi_stream.service.project import load

        return load
    raise AttributeError(f"module 'odibi_stream' has no attribute {name!r}")
