"""Optional extras: check, without importing, that an extra's package is installed."""

from __future__ import annotations

import importlib.util

from odibi_stream.exceptions import ConfigError


def has_module(name: str) -> bool:
    """True if ``name`` is importable (found on the path; nothing is imported)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def require_extra(module: str, extra: str, feature: str) -> None:
    """Raise a terminal ConfigError with the exact install hint unless ``module`` is installed.

    Args:
        module: Top-level import name (``confluent_kafka``).
        extra: The odibi-stream extra providing it (``kafka``).
        feature: What needs it, for the message (``format: kafka``).
    """
    if not has_module(module):
        raise ConfigError(
            f"{feature} needs the '{extra}' extra ({module} is not installed)",
            hint=f"pip install 'odibi-stream[{extra}]'",
        )
