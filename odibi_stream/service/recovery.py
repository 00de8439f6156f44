"""Recovering a pipeline without a daemon: pause, resume, retry and skip through the checkpoint.

``odibi-stream pause|resume|retry|skip PROJECT PIPELINE`` act *live* through the daemon's API
when one serves the project (see :mod:`odibi_stream.service.control_adapter`), and otherwise
*offline* through this module. Every offline action first takes the pipeline's lease (without
waiting): while another process holds it — a daemon that is not reachable, a ``run`` — the
action is refused, naming the holder and until when; so an operator can never change a
checkpoint under a running batch.

The pause marker ``<pipeline>/paused.json`` (``{"version": 1, "paused_at", "by"}``) makes a
pause durable: a daemon starts a marked pipeline paused, ``run`` leaves it alone, and
``resume`` (live or offline) removes the marker.

Lifecycle: the CLI calls one function per command and closes nothing itself (each function
opens and closes the checkpoint store it needs).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from odibi_stream.checkpoints.lease import Lease, default_owner
from odibi_stream.checkpoints.log import PipelineLog
from odibi_stream.checkpoints.manager import CheckpointManager
from odibi_stream.checkpoints.store import CheckpointStore
from odibi_stream.config.project import Project
from odibi_stream.core.clock import utc_now
from odibi_stream.exceptions import CheckpointCorrupt, LeaseLost, OdibiError
from odibi_stream.runtime.report import BatchReport

PAUSE_VERSION = 1


def pause_key(pipeline: str) -> str:
    """Checkpoint key of the pause marker of ``pipeline``."""
    return f"{pipeline}/paused.json"


def is_paused(store: CheckpointStore, pipeline: str) -> bool:
    """True if ``pipeline`` carries a pause marker."""
    raw = store.read(pause_key(pipeline))
    if raw is None:
        return False
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise CheckpointCorrupt(f"pause marker of {pipeline!r} is unreadable: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("version") != PAUSE_VERSION:
        raise CheckpointCorrupt(f"pause marker of {pipeline!r} has an unknown version")
    return True


def mark_paused(store: CheckpointStore, pipeline: str, by: str) -> None:
    """Write (or refresh) the pause marker of ``pipeline``."""
    doc = {"version": PAUSE_VERSION, "paused_at": utc_now().isoformat(), "by": by}
    store.replace(pause_key(pipeline), json.dumps(doc, sort_keys=True).encode())


def clear_paused(store: CheckpointStore, pipeline: str) -> None:
    """Remove the pause marker of ``pipeline`` (no error if there is none)."""
    store.delete(pause_key(pipeline))


@contextmanager
def exclusive(project: Project, pipeline: str) -> Iterator[PipelineLog]:
    """Hold ``pipeline``'s lease for an offline repair; refuse at once if anyone else holds it.

    Raises:
        LeaseLost: another process (a daemon, a ``run``) holds the lease.
    """
    ttl = project.config.runtime.lease_ttl_seconds
    with CheckpointManager.open(project.checkpoint) as manager:
        lease = Lease(manager.store, pipeline, default_owner(), ttl)
        if not lease.try_acquire():
            holder = lease.current()
            who = f" by {holder.owner} until {holder.expires.isoformat()}" if holder else ""
            raise LeaseLost(
                f"pipeline {pipeline!r} is owned{who}: another process is running it",
                hint="if that is a daemon, run the command against it (it is found through its "
                "address file, or pass --port); a killed process's lease expires after "
                f"runtime.lease_ttl_seconds ({ttl:g} s)",
            )
        try:
            yield manager.log(pipeline)
        finally:
            lease.release()


@dataclass(frozen=True)
class Outcome:
    """What an offline action did, for the CLI to print."""

    message: str


def pause(project: Project, pipeline: str) -> Outcome:
    """Mark ``pipeline`` paused: no daemon or ``run`` starts its batches until ``resume``."""
    with exclusive(project, pipeline) as log:
        mark_paused(log.store, pipeline, default_owner())
    return Outcome(f"paused '{pipeline}' (no daemon running: the pause is kept in its checkpoint)")


def resume(project: Project, pipeline: str) -> Outcome:
    """Remove ``pipeline``'s pause marker."""
    with exclusive(project, pipeline) as log:
        was = is_paused(log.store, pipeline)
        clear_paused(log.store, pipeline)
    state = "resumed" if was else "was not paused:"
    return Outcome(f"{state} '{pipeline}' (the next run or serve processes it)")


def skip(project: Project, pipeline: str) -> Outcome:
    """Commit ``pipeline``'s pending batch without running it (its input is never processed)."""
    with exclusive(project, pipeline) as log:
        batch = log.skip()
    return Outcome(f"skipped batch {batch} of '{pipeline}' (its input will not be processed)")


def retry(project: Project, pipeline: str) -> tuple[Outcome, list[BatchReport]]:
    """Run ``pipeline``'s next batch now — the pending one, replayed — and nothing more.

    Raises:
        OdibiError: the pipeline is paused (resume it instead).
        LeaseLost: another process holds the pipeline.
        BatchFailed: the batch failed again (the pending batch stays pending).
    """
    from odibi_stream.service.one_shot import run_pipeline

    with CheckpointManager.open(project.checkpoint) as manager:
        pending = manager.log(pipeline).recover(quarantine=False).pending
        if is_paused(manager.store, pipeline):
            raise OdibiError(
                f"pipeline {pipeline!r} is paused",
                hint=f"resume it: odibi-stream resume {project.root} {pipeline}",
            )
    reports = run_pipeline(project, pipeline, max_batches=1, wait=0)
    what = f"batch {pending.batch}" if pending is not None else "the next batch"
    if not reports:
        return Outcome(f"'{pipeline}': nothing to retry (no pending batch, no new input)"), reports
    return Outcome(f"retried '{pipeline}': {what} committed"), reports
