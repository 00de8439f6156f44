"""The control-plane protocol: what the HTTP server (and the CLI through it) may ask a daemon.

Lifecycle contract:
    * The daemon's :class:`~odibi_stream.service.control_adapter.DaemonControl` implements
      :class:`ControlPlane`; the layer above the service (the CLI's ``serve``, the ``Runtime``
      API) hands it to ``odibi_stream.server.app.start_server``.
    * The server calls these methods from its request threads, concurrently with the daemon's own
      threads: implementations must be thread-safe and must never block on a running batch
      (``trigger``/``pause``/``resume`` only *request*; the runner thread acts on it).
    * Everything returned is plain JSON-serialisable data and never contains secret values.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

PIPELINE_STATES = ("running", "idle", "paused", "failed", "waiting_lease")
"""Values of the ``state`` field of a pipeline description."""

ACTIONS = ("trigger", "pause", "resume", "retry", "skip")
"""What may be asked of one pipeline (``POST /api/pipelines/{name}/{action}``)."""


class ActionRefused(Exception):
    """The pipeline's state forbids an action now (the server answers 409 with the message).

    Args:
        message: Why (names the state).
        hint: What to do instead.
    """

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


@runtime_checkable
class ControlPlane(Protocol):
    """Read and steer a running daemon.

    A pipeline description (``pipelines()`` items, ``pipeline(name)``) has the keys:
    ``name``, ``state`` (one of :data:`PIPELINE_STATES`), ``trigger`` (kind), ``engine``,
    ``last_batch`` (a BatchReport as a dict, or None), ``last_error`` (str or None), ``error``
    (the last failure as ``{message, type, pipeline, batch, step, node, where, input, hint}``, see
    ``odibi_stream.runtime.failure``, or None), ``lag``, ``watermarks``, ``nodes`` (names),
    ``edges`` (``[upstream, downstream]`` pairs), ``reload_error`` (the last failed reload's
    message when it concerns this pipeline's file or ``odibi.yaml``, else None), ``degraded``
    (bool: retrying a retryable error) and ``batches`` (batches committed by this process).
    """

    def pipelines(self) -> list[dict[str, Any]]:
        """Describe every pipeline of the project, sorted by name."""
        ...

    def pipeline(self, name: str) -> dict[str, Any] | None:
        """Describe one pipeline, or None if the project has no pipeline of that name."""
        ...

    def trigger(self, name: str) -> None:
        """Request a forced run of ``name`` (KeyError if unknown; ignored while paused/failed)."""
        ...

    def pause(self, name: str) -> None:
        """Stop starting batches of ``name`` (a running batch finishes). KeyError if unknown."""
        ...

    def resume(self, name: str) -> None:
        """Clear paused/failed for ``name`` and run it if data is waiting. KeyError if unknown."""
        ...

    def retry(self, name: str) -> None:
        """Run a ``failed`` pipeline's failed batch again (KeyError if unknown; ActionRefused
        if it is not failed). A pause is kept."""
        ...

    def skip(self, name: str) -> int:
        """Commit the pending batch of a ``failed`` or ``paused`` pipeline without running it
        and return its number (KeyError if unknown; ActionRefused if the pipeline is running,
        has no pending batch or is not owned here). A failed pipeline goes on with the next
        batch; a paused one stays paused."""
        ...

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        """Return (ready, detail): ready once all pipelines are loaded and their leases held.

        ``detail`` maps each pipeline to ``{"state", "lease", "degraded"}`` and carries a
        top-level ``"reload_error"``.
        """
        ...

    def batches(self, name: str, limit: int) -> list[dict[str, Any]] | None:
        """Summaries of the newest ``limit`` batch stories of ``name``, newest first.

        None if the project has no pipeline of that name. Each item: ``batch``, ``status``
        (committed | failed), ``finished``, ``trace_id``, ``rows_in``, ``rows_out``, ``rejected``,
        ``late``, ``duration_ms``, ``rows_per_second``, ``lag``, ``dead_letters``,
        ``maintenance`` (operations run) and ``error``.
        """
        ...

    def batch(self, name: str, batch: int) -> dict[str, Any] | None:
        """The full story (``observability.story``) of one batch, or None if unknown."""
        ...

    def metrics_text(self) -> tuple[bytes, str]:
        """Return the Prometheus exposition payload and its content type."""
        ...
