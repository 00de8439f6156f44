"""Which ``format:`` names a read, a write or a dead letter may use.

Built-in formats are listed here; a plugin distribution adds formats by naming an entry point
of the ``odibi_stream.connectors`` group after each format it serves (the entry point's object
is the :class:`~odibi_stream.connectors.factory.Connector`). Config validation only reads the
entry points' *names* — no plugin code is imported — so validating stays fast and works even
when a plugin's own dependencies are missing (compiling the pipeline then reports that).
"""

from __future__ import annotations

import functools
from typing import Any, Literal

from pydantic_core import PydanticCustomError

from odibi_stream.core.entry_points import CONNECTORS_GROUP, discovered
from odibi_stream.core.hints import did_you_mean

READ_FORMATS = ("csv", "json", "jsonl", "parquet", "delta", "kafka", "eventhub")
WRITE_FORMATS = ("delta", "parquet", "csv", "jsonl", "kafka", "eventhub")

Direction = Literal["read", "write"]


@functools.cache
def plugin_formats() -> tuple[str, ...]:
    """Format names installed plugins serve (entry-point names, sorted; read once per process)."""
    return tuple(sorted({ep.name for ep in discovered(CONNECTORS_GROUP)}))


def known_formats(direction: Direction) -> tuple[str, ...]:
    """Built-in formats of ``direction`` followed by every plugin format."""
    builtin = READ_FORMATS if direction == "read" else WRITE_FORMATS
    return builtin + tuple(f for f in plugin_formats() if f not in builtin)


def check_format(value: str, direction: Direction) -> str:
    """Return ``value`` if some connector serves it, else a validation error with a hint."""
    known = known_formats(direction)
    if value in known:
        return value
    raise PydanticCustomError(
        "unknown_choice",
        "unknown {direction} format '{value}' (known: {known})",
        {"direction": direction, "value": value, "known": ", ".join(known), "hint": did_you_mean(value, known)},
    )


def format_schema(direction: Direction) -> Any:
    """``json_schema_extra`` hook: list the formats as an enum when the schema is generated."""

    def extra(schema: dict[str, Any]) -> None:
        schema["enum"] = list(known_formats(direction))

    return extra
