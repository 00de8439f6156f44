"""Where a batch failed, as data: one structured description for the log, the API and the CLI.

Lifecycle: the executor calls :func:`describe_input` when it wraps a node's failure into a
:class:`~odibi_stream.exceptions.BatchFailed` (so the error names the input it was reading);
the service layer calls :func:`failure_detail` when it records a failed attempt, and exposes
the result as the ``error`` field of a pipeline description (``/api/pipelines/{name}``, the
status page, ``odibi-stream status``).

``error`` has the keys ``message`` (the cause's message, without the location prefix),
``type`` (the cause's type name), ``pipeline``, ``batch``, ``step``, ``node``, ``where`` (the
node's YAML ``file:line``), ``input`` (file path(s) or partition/offset ranges) and ``hint``;
unknown parts are None.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from odibi_stream.exceptions import BatchFailed, OdibiError, root_cause

MAX_LISTED_FILES = 3
"""Files named in an input description before ``(+N more)``."""

_MAX_INPUT_CHARS = 300


def describe_input(rng: Mapping[str, Any] | None) -> str | None:
    """A short text for a source range: file paths, ``topic:partition [a, b)`` or the range as JSON.

    Args:
        rng: A range as planned (``offsets/N``), or None.
    """
    if not rng:
        return None
    files = rng.get("files")
    if isinstance(files, list):
        paths = [str(f.get("path")) for f in files if isinstance(f, Mapping)]
        if not paths:
            return None
        shown = ", ".join(paths[:MAX_LISTED_FILES])
        more = len(paths) - MAX_LISTED_FILES
        return f"{shown} (+{more} more)" if more > 0 else shown
    parts = rng.get("partitions")
    if isinstance(parts, Mapping):
        return ", ".join(f"{key} offsets [{se[0]}, {se[1]})" for key, se in sorted(parts.items())
                         if isinstance(se, (list, tuple)) and len(se) == 2) or None
    text = json.dumps(dict(rng), sort_keys=True, default=str)
    return text if len(text) <= _MAX_INPUT_CHARS else text[: _MAX_INPUT_CHARS - 1] + "…"


def failure_detail(exc: BaseException) -> dict[str, Any]:
    """The structured ``error`` of a failed attempt (see the module docstring)."""
    cause = root_cause(exc)
    failed = exc if isinstance(exc, BatchFailed) else None
    hint = exc.hint if isinstance(exc, OdibiError) else None
    if hint is None and isinstance(cause, OdibiError):
        hint = cause.hint
    return {
        "message": str(cause),
        "type": type(cause).__name__,
        "pipeline": failed.pipeline if failed else None,
        "batch": failed.batch if failed else None,
        "step": failed.step if failed else None,
        "node": failed.node if failed else None,
        "where": failed.where if failed else None,
        "input": failed.input if failed else None,
        "hint": hint,
    }


def message_detail(message: str, hint: str | None = None) -> dict[str, Any]:
    """An ``error`` for a failure known only as text (e.g. a pipeline that could not start)."""
    return {
        "message": message, "type": None, "pipeline": None, "batch": None, "step": None,
        "node": None, "where": None, "input": None, "hint": hint,
    }


def error_lines(error: Mapping[str, Any]) -> list[str]:
    """``error`` as the lines ``odibi-stream status`` prints (location first, then the hint)."""
    at = []
    if error.get("batch") is not None:
        at.append(f"batch {error['batch']}")
    if error.get("step"):
        at.append(f"step {error['step']}")
    if error.get("node"):
        at.append(f"node {error['node']}")
    lines = []
    where = error.get("where")
    head = f"{where}: " if where else ""
    lines.append(f"{head}{' '.join(at)}: {error.get('message')}" if at else f"{head}{error.get('message')}")
    if error.get("input"):
        lines.append(f"input: {error['input']}")
    if error.get("hint"):
        lines.append(f"hint: {error['hint']}")
    return lines
