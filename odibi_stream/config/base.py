"""The base of every config model, and config value parsers shared by the model modules.

All models are frozen and reject unknown keys, so a typo is an error with a hint rather than a
silently ignored setting. Every field carries a description (it becomes the JSON Schema that
``odibi-stream schema`` prints for editors).
"""

from __future__ import annotations

import re
from datetime import timedelta

from pydantic import BaseModel, ConfigDict

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
"""Pipeline, node and project names: identifiers (they name folders, tables and SQL tables)."""
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(value: str | int | float) -> timedelta:
    """Parse ``"10m"``, ``"250ms"``, ``"1.5h"`` or a number of seconds into a timedelta."""
    if isinstance(value, (int, float)):
        return timedelta(seconds=float(value))
    m = _DURATION.match(str(value))
    if not m:
        raise ValueError(f"not a duration: {value!r} (use e.g. 30s, 10m, 2h, 250ms)")
    return timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2)])


class Model(BaseModel):
    """Base: frozen, unknown keys rejected, input values never quoted in errors (secrets)."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", populate_by_name=True, hide_input_in_errors=True
    )
