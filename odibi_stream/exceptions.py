"""The exception hierarchy of odibi-stream.

Every error the runtime raises derives from :class:`OdibiError`. Whether an error is worth
retrying is a property of its *type* (the :class:`Retryable` / :class:`Terminal` mixins), never
of its message text: the runtime asks :func:`is_retryable`.
"""

from __future__ import annotations


class OdibiError(Exception):
    """Root of all odibi-stream errors.

    Args:
        message: Human-readable description. Must never contain secret values.
        hint: Optional suggestion shown to the user after the message.
    """

    retryable: bool = False

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class Retryable:
    """Mixin: the failed operation may succeed when tried again (outage, contention)."""

    retryable = True


class Terminal:
    """Mixin: trying again cannot help until something (config, data, an operator) changes."""

    retryable = False


class ConfigError(Terminal, OdibiError):
    """A project, pipeline or environment setting is invalid.

    Args:
        message: What is wrong.
        file: The file the setting came from, when known.
        line: 1-based line in that file, when known.
        hint: What to do about it ("did you mean 'depends_on'?").
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.file = file
        self.line = line

    def location(self) -> str:
        """Return ``file:line`` (or as much of it as is known)."""
        if self.file is None:
            return ""
        return f"{self.file}:{self.line}" if self.line else self.file

    def __str__(self) -> str:
        loc = self.location()
        return f"{loc}: {self.message}" if loc else self.message


class ConfigErrors(ConfigError):
    """Several configuration errors found in one validation pass."""

    def __init__(self, errors: list[ConfigError]) -> None:
        first = errors[0]
        super().__init__(first.message, file=first.file, line=first.line, hint=first.hint)
        self.errors = errors

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)


class DagError(ConfigError):
    """The node graph of a pipeline is invalid (cycle, unknown or duplicate node)."""


class ConnectorError(OdibiError):
    """An external system (storage, broker) failed. Retryable unless marked otherwise."""

    def __init__(self, message: str, *, retryable: bool = True, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.retryable = retryable


class SourceError(ConnectorError):
    """A source could not plan or read its range."""


class SinkError(ConnectorError):
    """A sink could not write a batch."""


class CheckpointError(OdibiError):
    """The checkpoint could not be read or written."""


class CheckpointUnavailable(Retryable, CheckpointError):
    """Checkpoint storage is temporarily unreachable."""


class CheckpointCorrupt(Terminal, CheckpointError):
    """A checkpoint entry is unreadable and cannot be safely skipped."""


class CheckpointConflict(Terminal, CheckpointError):
    """A create-exclusive write found the entry already present (another owner wrote it)."""


class CheckpointAccessDenied(Terminal, CheckpointError):
    """Checkpoint storage refused our credentials or permissions (fix the config, then restart)."""


class LeaseLost(Terminal, CheckpointError):
    """This process no longer owns the pipeline (a newer epoch exists)."""


class EngineError(Terminal, OdibiError):
    """The engine failed to execute a node."""


class TransformError(Terminal, OdibiError):
    """A SQL or Python transform failed."""


class RecordError(Terminal, OdibiError):
    """A record failed to parse or failed a declared check under ``on_error: fail``."""


class ExpectationFailed(Terminal, OdibiError):
    """A batch breached a ``fail`` data-quality threshold (``expect`` / a ``severity: fail`` check)."""


class SchemaMismatch(Terminal, OdibiError):
    """A batch's columns differ from its Delta table's in a way the sink's schema policy refuses."""


class BatchFailed(OdibiError):
    """A batch failed at a protocol step (and node): the one error a batch attempt raises.

    Retry is decided by the *cause's* type (see :func:`is_retryable`); the message names where
    it happened so logs, the API and the CLI can say it.

    Args:
        pipeline: Pipeline name.
        batch: Batch number (None if it failed before a number was assigned).
        step: Protocol step (``plan``, ``write_ahead``, ``execute``, ``commit`` ...).
        cause: The underlying error.
        node: The node being executed, when the failure belongs to one.
        where: The node's (or pipeline's) ``file:line``, when known.
        input: The input being processed (a file path, files, or partition/offset ranges),
            when known.

    Attributes:
        trace: The attempt's step timings (``runtime.steps.BatchTrace``), attached by the step
            reporter that raised or passed it on; None when raised outside a batch.
    """

    trace: object | None = None

    def __init__(
        self,
        pipeline: str,
        batch: int | None,
        step: str,
        cause: BaseException,
        *,
        node: str | None = None,
        where: str | None = None,
        input: str | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.batch = batch
        self.step = step
        self.node = node
        self.where = where
        self.input = input
        self.cause = cause
        at = f"pipeline {pipeline}" + (f" batch {batch}" if batch is not None else "")
        at += f" step {step}" + (f" node {node}" if node else "")
        loc = f" ({where})" if where else ""
        loc += f" input {input}" if input else ""
        super().__init__(f"{at}{loc}: {cause}", hint=cause.hint if isinstance(cause, OdibiError) else None)
        self.retryable = is_retryable(cause)


def root_cause(exc: BaseException) -> BaseException:
    """The error a :class:`BatchFailed` wraps (``exc`` itself otherwise)."""
    return exc.cause if isinstance(exc, BatchFailed) else exc


def is_retryable(exc: BaseException) -> bool:
    """Decide by type whether the runtime should retry after ``exc``.

    Unknown (non-odibi) exceptions are treated as terminal: retrying a bug hides it.
    OS-level I/O errors (connection resets, timeouts) are retryable.
    """
    exc = root_cause(exc)
    if isinstance(exc, OdibiError):
        return bool(exc.retryable)
    return isinstance(exc, (ConnectionError, TimeoutError))
