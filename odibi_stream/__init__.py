"""odibi-stream: a streaming-first event runtime for data pipelines."""

from __future__ import annotations

from odibi_stream.engines.transforms import transform
from odibi_stream.runtime.api import Runtime

__version__ = "0.1.0"

__all__ = ["Runtime", "__version__", "transform"]
