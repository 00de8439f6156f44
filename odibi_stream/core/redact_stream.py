"""A text stream that redacts what passes through it, a line at a time.

The CLI wraps ``sys.stdout`` and ``sys.stderr`` in :class:`RedactingStream` first thing, so
every byte the process prints — command output, ``--json`` documents, log lines, ``--debug``
and uncaught-exception tracebacks (Python's default hooks print to ``sys.stderr``) — passes
through :func:`odibi_stream.core.redact.redact`, whoever wrote it.

Text is redacted per complete line (a secret split over two ``write`` calls of one line is
still seen whole); a partial line is redacted and written on :meth:`RedactingStream.flush`,
which ``print(..., flush=True)``, ``click.echo`` and logging handlers call after each message.

Lifecycle: :func:`install` once at start-up (idempotent); the interpreter flushes the wrappers
at exit like any ``sys.stdout``.
"""

from __future__ import annotations

import io
import sys
import threading
from collections.abc import Callable
from typing import TextIO

from odibi_stream.core.redact import redact


class RedactingStream(io.TextIOBase):
    """Wraps a text stream; everything written is redacted before it reaches ``inner``.

    Args:
        inner: The stream to write to.
        scrub: The redaction function (defaults to the process-wide :func:`redact`).
    """

    def __init__(self, inner: TextIO, scrub: Callable[[str], str] = redact) -> None:
        super().__init__()
        self.inner = inner
        self._scrub = scrub
        self._pending = ""
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        """Buffer ``text``; write (redacted) every line it completes."""
        with self._lock:
            self._pending += text
            if "\n" in self._pending:
                done, _, self._pending = self._pending.rpartition("\n")
                self.inner.write(self._scrub(done + "\n"))
        return len(text)

    def flush(self) -> None:
        """Write the partial line (redacted) and flush ``inner``."""
        with self._lock:
            if self._pending:
                self.inner.write(self._scrub(self._pending))
                self._pending = ""
        self.inner.flush()

    def writable(self) -> bool:
        """Always writable."""
        return True

    def isatty(self) -> bool:
        """Whether ``inner`` is a terminal (rich and click decide colours by it)."""
        return bool(getattr(self.inner, "isatty", lambda: False)())

    def fileno(self) -> int:
        """``inner``'s descriptor (for code that needs one, e.g. terminal size)."""
        return self.inner.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        """``inner``'s encoding."""
        return str(getattr(self.inner, "encoding", None) or "utf-8")

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        """``inner``'s error handler."""
        return getattr(self.inner, "errors", None)


def install() -> None:
    """Wrap ``sys.stdout`` and ``sys.stderr`` (once; later calls do nothing)."""
    if not isinstance(sys.stdout, RedactingStream) and sys.stdout is not None:
        sys.stdout = RedactingStream(sys.stdout)
    if not isinstance(sys.stderr, RedactingStream) and sys.stderr is not None:
        sys.stderr = RedactingStream(sys.stderr)
