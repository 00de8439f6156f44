"""Logging setup: text (rich or plain) or JSON lines on stderr, always redacted.

Lifecycle: the CLI calls :func:`configure_logging` once at start-up (calling it again replaces
the previous setup rather than adding handlers); library code only calls :func:`get_logger`.
Guarantees: every record handled by the ``odibi_stream`` logger tree passes through
:class:`RedactingFilter` before formatting, so registered secrets and credential patterns are
masked in the message, its arguments, ``extra`` fields and exception text.
"""

from __future__ import annotations

import logging
import sys
import traceback
from datetime import datetime, timezone
from typing import Any, Literal, TextIO

import orjson

from odibi_stream.core.batch_context import current as current_batch
from odibi_stream.core.redact import redact, redact_mapping
from odibi_stream.exceptions import ConfigError

ROOT_LOGGER = "odibi_stream"
_MARK = "_odibi_stream_handler"

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


def get_logger(name: str) -> logging.Logger:
    """Return a logger under the ``odibi_stream`` tree (``name`` may be a module ``__name__``)."""
    if name == ROOT_LOGGER or name.startswith(ROOT_LOGGER + "."):
        return logging.getLogger(name)
    return logging.getLogger(f"{ROOT_LOGGER}.{name}")


def configure_logging(
    fmt: Literal["text", "json"] | str = "text",
    level: str = "INFO",
    *,
    stream: TextIO | None = None,
    rich: bool | None = None,
) -> logging.Logger:
    """Install the single stderr handler of the ``odibi_stream`` logger.

    Args:
        fmt: ``"text"`` or ``"json"`` (one JSON object per line).
        level: Level name such as ``"INFO"`` or ``"debug"``.
        stream: Where to write (defaults to the current ``sys.stderr``).
        rich: Text only: use rich's handler; by default only when the stream is a terminal.

    Raises:
        ConfigError: Unknown format or level.
    """
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ConfigError(f"unknown log level '{level}'", hint="use DEBUG, INFO, WARNING or ERROR")
    if fmt not in ("text", "json"):
        raise ConfigError(f"unknown log format '{fmt}'", hint="use text or json")
    out = stream if stream is not None else sys.stderr
    logger = logging.getLogger(ROOT_LOGGER)
    for old in [h for h in logger.handlers if getattr(h, _MARK, False)]:
        logger.removeHandler(old)
    handler = _make_handler(fmt, out, rich)
    setattr(handler, _MARK, True)
    handler.addFilter(RedactingFilter())
    logger.addHandler(handler)
    logger.setLevel(numeric)
    # Our handler is the one place records are printed; the root logger would print them twice.
    logger.propagate = False
    return logger


def _make_handler(fmt: str, out: TextIO, rich: bool | None) -> logging.Handler:
    if fmt == "json":
        handler: logging.Handler = logging.StreamHandler(out)
        handler.setFormatter(JsonFormatter())
        return handler
    use_rich = rich if rich is not None else bool(getattr(out, "isatty", lambda: False)())
    if use_rich:
        from rich.console import Console
        from rich.logging import RichHandler

        return RichHandler(
            console=Console(file=out), show_path=False, rich_tracebacks=False, markup=False
        )
    handler = logging.StreamHandler(out)
    formatter = logging.Formatter(
        "%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%S%z"
    )
    formatter.converter = _utc_struct_time
    handler.setFormatter(formatter)
    return handler


def _utc_struct_time(seconds: float | None) -> Any:
    import time

    return time.gmtime(seconds)


class RedactingFilter(logging.Filter):
    """Masks secrets in a record before any formatter sees it (attach to handlers)."""

    def filter(self, record: logging.LogRecord) -> bool:
        batch = current_batch()
        if batch is not None and not hasattr(record, "trace_id"):
            # Lines logged during a batch carry its trace id (the batch's OTel trace, its story).
            record.trace_id = batch.trace_id
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for key, value in extra_fields(record).items():
            setattr(record, key, redact_mapping({key: value})[key])
        return True


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The ``extra=`` fields of a record."""
    return {
        k: v
        for k, v in record.__dict__.items()
        if k not in _STANDARD_ATTRS and not k.startswith("_")
    }


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts (ISO 8601 UTC), level, logger, msg, extra fields, exc."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, tz=timezone.utc).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in extra_fields(record).items():
            payload.setdefault(key, value)
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(self.formatException(record.exc_info))
        if record.exc_text:
            payload["exc"] = record.exc_text
        return orjson.dumps(payload, default=str).decode("utf-8")
