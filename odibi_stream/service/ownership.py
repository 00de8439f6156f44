"""Holding a pipeline's lease for a one-shot run (``odibi-stream run``, ``Runtime.run_once``).

A one-shot run must not process a pipeline that a daemon owns. It waits for the lease up to
``wait`` seconds (a process killed with SIGKILL leaves its lease until it expires, so a restart
right after a crash waits at most one TTL) — saying at once who holds it and until when — then
keeps it renewed while the run lasts and releases it at the end, so a daemon can take over at
once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from odibi_stream.checkpoints.lease import Lease, LeaseKeeper, default_owner
from odibi_stream.checkpoints.store import CheckpointStore
from odibi_stream.core.clock import SYSTEM_CLOCK, Clock
from odibi_stream.exceptions import LeaseLost

log = logging.getLogger(__name__)

_POLL_SECONDS = 0.1


@contextmanager
def owned(
    store: CheckpointStore, pipeline: str, ttl: float, *, wait: float, clock: Clock = SYSTEM_CLOCK
) -> Iterator[Lease]:
    """Yield a held, kept-alive lease on ``pipeline``; raise LeaseLost after ``wait`` seconds."""
    lease = Lease(store, pipeline, default_owner(), ttl, clock)
    deadline = clock.monotonic() + wait
    never = threading.Event()
    announced = False
    while not lease.try_acquire():
        holder = lease.current()
        if not announced and holder is not None:
            log.warning(
                "pipeline %s: waiting up to %.0fs for its lease, held by %s until %s",
                pipeline, wait, holder.owner, holder.expires.isoformat(),
            )
            announced = True
        if clock.monotonic() >= deadline:
            who = f" by {holder.owner} until {holder.expires.isoformat()}" if holder else ""
            raise LeaseLost(
                f"pipeline {pipeline!r} is owned{who} (a running daemon?)",
                hint="stop it, or run the pipeline through it: odibi-stream trigger PROJECT PIPELINE",
            )
        clock.wait(never, _POLL_SECONDS)  # polling a lease file: there is no event to wait on
    keeper = LeaseKeeper(ttl / 3, lambda _lease: None, lambda _lease: None, clock)
    keeper.want(lease)
    keeper.start()
    try:
        yield lease
    finally:
        keeper.stop(release=True)
        lease.release()
