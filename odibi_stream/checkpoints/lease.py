"""Leases: exactly one owner per pipeline per checkpoint root, with fencing epochs.

The lease is the JSON document ``<pipeline>/lease.json`` in the checkpoint store::

    {"version": 1, "owner": "...", "epoch": 7, "expires": "2026-01-01T00:00:15+00:00"}

Every change goes through ``CheckpointStore.compare_and_swap`` against the exact bytes last
seen, so two processes racing for a free lease cannot both win, and a takeover always bumps the
epoch. The runner writes the epoch into ``offsets/N`` and calls :meth:`Lease.check` right before
``commits/N``: a batch planned under an old epoch (a paused zombie) therefore cannot commit.

Lifecycle contract:
    * The daemon creates one :class:`Lease` per pipeline and calls :meth:`Lease.try_acquire`
      (non-blocking) until it returns True; a :class:`LeaseKeeper` thread then renews it every
      ``ttl/3`` and reports a loss through a callback.
    * On shutdown the daemon calls :meth:`Lease.release`, which marks the lease expired (keeping
      its epoch) so a waiting process takes over at once with ``epoch + 1``. ``release`` never
      raises: if the store cannot be written (full disk) the lease simply expires.
    * A lease document no healthy daemon could have written (see
      :mod:`~odibi_stream.checkpoints.lease_record`), or one held by another owner until far
      beyond any renewal, is a :class:`~odibi_stream.exceptions.CheckpointCorrupt` naming
      ``odibi-stream checkpoint unlock``; the keeper reports it and keeps trying.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from odibi_stream.checkpoints.lease_record import (
    LEASE_VERSION,
    CasStore,
    LeaseRecord,
    clear_lease,
    unlock_hint,
)
from odibi_stream.core.clock import SYSTEM_CLOCK, Clock
from odibi_stream.exceptions import CheckpointCorrupt, LeaseLost, OdibiError

log = logging.getLogger(__name__)

__all__ = ["LEASE_VERSION", "Lease", "LeaseKeeper", "LeaseRecord", "clear_lease", "default_owner"]

SKEW_SECONDS = 60.0
"""Clock skew tolerated between daemons before a lease's expiry counts as impossible."""

def default_owner() -> str:
    """A process-unique owner id: ``host:pid:random`` (no secrets, stable for the process)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Lease:
    """Ownership of one pipeline, implementing the runner's ``Fence`` protocol.

    Args:
        store: The checkpoint store (needs ``read`` and ``compare_and_swap``).
        pipeline: Pipeline name; the lease lives at ``<pipeline>/lease.json``.
        owner: This process's owner id (see :func:`default_owner`).
        ttl_seconds: How long a lease stays valid without renewal.
        clock: Where "now" comes from (expiry decisions).
    """

    def __init__(
        self,
        store: CasStore,
        pipeline: str,
        owner: str,
        ttl_seconds: float = 15.0,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.store = store
        self.clock = clock
        self.pipeline = pipeline
        self.owner = owner
        self.ttl = timedelta(seconds=ttl_seconds)
        self.key = f"{pipeline}/lease.json"
        self._lock = threading.Lock()
        self._raw: bytes | None = None  # the bytes we last wrote: the CAS expectation
        self.epoch = 0
        """The epoch of the lease we hold or last held (0 if never acquired)."""

    @property
    def held(self) -> bool:
        """True if this object believes it holds the lease (not verified against the store)."""
        return self._raw is not None

    def current(self) -> LeaseRecord | None:
        """The stored lease, or None if there is none."""
        raw = self.store.read(self.key)
        return None if raw is None else LeaseRecord.decode(raw, self.key)

    def try_acquire(self) -> bool:
        """Take the lease if it is free, expired or already ours; never blocks.

        Returns:
            True if we hold the lease afterwards (a takeover gets ``epoch + 1``).
        """
        with self._lock:
            raw = self.store.read(self.key)
            cur = None if raw is None else LeaseRecord.decode(raw, self.key)
            now = self.clock.now()
            if cur is not None and raw == self._raw:
                return self._write(cur.epoch, raw, now)
            if cur is not None and not cur.expired(now):
                self._check_possible(cur, now)
                return False
            epoch = (cur.epoch if cur else 0) + 1
            return self._write(epoch, raw, now)

    def _check_possible(self, cur: LeaseRecord, now: datetime) -> None:
        """A lease held by another owner far beyond any renewal is reported, not honoured silently."""
        limit = now + self.ttl * 10 + timedelta(seconds=SKEW_SECONDS)
        if cur.expires > limit:
            raise CheckpointCorrupt(
                f"{self.key}: held by {cur.owner[:80]!r} until {cur.expires.isoformat()}, far "
                f"beyond any renewal (ttl {self.ttl.total_seconds():g}s): a tampered lease or a "
                "clock far ahead",
                hint=unlock_hint(self.key),
            )

    def _write(self, epoch: int, expected: bytes | None, now: datetime) -> bool:
        data = LeaseRecord(self.owner, epoch, now + self.ttl).encode()
        if self.store.compare_and_swap(self.key, data, expected):
            if epoch != self.epoch:
                log.info("lease acquired: pipeline=%s epoch=%d", self.pipeline, epoch)
            self._raw, self.epoch = data, epoch
            return True
        return False

    def renew(self) -> None:
        """Extend the lease by ``ttl`` from now.

        Raises:
            LeaseLost: another owner (or a newer epoch) replaced our lease, or we hold none.
        """
        with self._lock:
            if self._raw is None or not self._write(self.epoch, self._raw, self.clock.now()):
                self._raw = None
                raise LeaseLost(
                    f"pipeline {self.pipeline!r}: lease epoch {self.epoch} was taken over",
                    hint="another daemon owns this pipeline now",
                )

    def check(self) -> None:
        """Fence: verify, against the store, that we still own an unexpired lease.

        Raises:
            LeaseLost: the stored lease has another owner/epoch, or it expired.
        """
        cur = self.current()
        if cur is None or cur.owner != self.owner or cur.epoch != self.epoch:
            raise LeaseLost(
                f"pipeline {self.pipeline!r}: lease epoch {self.epoch} is no longer ours"
            )
        if cur.expired(self.clock.now()):
            raise LeaseLost(f"pipeline {self.pipeline!r}: lease epoch {self.epoch} expired")

    def release(self) -> None:
        """Give the lease up (expire it now, keeping the epoch); never raises.

        No error if it is not ours. If the store cannot be written (full disk, outage) the
        lease is forgotten here and simply expires by itself after ``ttl``.
        """
        with self._lock:
            if self._raw is None:
                return
            raw, self._raw = self._raw, None
            data = LeaseRecord(self.owner, self.epoch, self.clock.now() - timedelta(seconds=1)).encode()
            try:
                self.store.compare_and_swap(self.key, data, raw)
            except Exception as exc:  # a failing release must never kill its caller's thread
                log.warning(
                    "lease release failed (it expires by itself): pipeline=%s epoch=%d: %s",
                    self.pipeline, self.epoch, exc,
                )
                return
            log.info("lease released: pipeline=%s epoch=%d", self.pipeline, self.epoch)


LeaseProblem = Callable[["Lease", "str | None"], None]
"""``on_problem(lease, message)``: renewing/acquiring failed (message), or works again (None)."""

PROBLEM_LOG_EVERY = 60.0
"""Seconds between repeated log lines of an unchanged lease problem."""


class LeaseKeeper:
    """One background thread that acquires wanted leases and renews held ones.

    Every ``interval`` seconds (typically ``ttl/3``) it renews each held lease, spread evenly
    over the interval (a :class:`LeaseLost` forgets the lease and calls ``on_lost(lease)``; the
    owner stops the pipeline and calls :meth:`want` again to wait for it) and tries to acquire
    each wanted lease (success calls ``on_acquired(lease)``). Callbacks run on the keeper
    thread and must not block for long.

    Failures never end the thread: a renewal or acquisition that fails (storage outage, a lock
    file held by a foreign process, a corrupt or impossible lease) is logged — once per change,
    then at most every :data:`PROBLEM_LOG_EVERY` seconds — reported through
    ``on_problem(lease, message)`` in the same round, and retried next round; the first success
    afterwards reports ``on_problem(lease, None)``. An exception escaping a callback is logged.

    Args:
        interval: Seconds between rounds.
        on_acquired: Called once per acquisition.
        on_lost: Called once per loss.
        clock: Where the keeper waits between renewals.
        on_problem: Told about failing and recovered renewals/acquisitions.
    """

    def __init__(
        self,
        interval: float,
        on_acquired: Callable[[Lease], None],
        on_lost: Callable[[Lease], None],
        clock: Clock = SYSTEM_CLOCK,
        on_problem: LeaseProblem | None = None,
    ) -> None:
        self.interval = interval
        self.clock = clock
        self._on_acquired = on_acquired
        self._on_lost = on_lost
        self._on_problem = on_problem
        self._wanted: dict[str, Lease] = {}
        self._held: dict[str, Lease] = {}
        self._problems: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def want(self, lease: Lease) -> None:
        """Start pursuing ``lease`` (tried at the next round; see :meth:`round`)."""
        with self._lock:
            self._wanted[lease.pipeline] = lease

    def drop(self, pipeline: str) -> None:
        """Stop pursuing/renewing ``pipeline`` and release its lease if held (never raises)."""
        with self._lock:
            self._wanted.pop(pipeline, None)
            lease = self._held.pop(pipeline, None)
            self._problems.pop(pipeline, None)
        if lease is not None:
            lease.release()

    def held(self) -> list[str]:
        """Names of pipelines whose lease is held."""
        with self._lock:
            return sorted(self._held)

    def start(self) -> None:
        """Run one round now (synchronously), then keep going on a daemon thread."""
        self.round()
        self._thread = threading.Thread(target=self._loop, name="odibi-lease-keeper", daemon=True)
        self._thread.start()

    def stop(self, release: bool = True) -> None:
        """Stop the thread and (by default) release every held lease."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.interval + 5)
        if release:
            for name in self.held():
                self.drop(name)

    def _loop(self) -> None:
        # Renewals are spread evenly over the interval rather than done in one burst, so
        # fifty pipelines cost a steady trickle of small writes instead of periodic spikes.
        while not self._stop.is_set():
            try:
                if self._one_round():
                    return
            except Exception:  # a bug must not end lease renewal for every pipeline
                log.exception("lease keeper round failed (continuing)")
                if self.clock.wait(self._stop, self.interval):
                    return

    def _one_round(self) -> bool:
        """One paced round; True when asked to stop."""
        with self._lock:
            held = list(self._held.values())
        step = self.interval / max(1, len(held))
        if not held and self.clock.wait(self._stop, self.interval):
            return True
        for lease in held:
            if self.clock.wait(self._stop, step):
                return True
            self._renew(lease)
        with self._lock:
            wanted = list(self._wanted.values())
        for lease in wanted:
            self._acquire(lease)
        return False

    def round(self) -> None:
        """Renew held leases, then try to acquire wanted ones."""
        with self._lock:
            held, wanted = list(self._held.values()), list(self._wanted.values())
        for lease in held:
            self._renew(lease)
        for lease in wanted:
            self._acquire(lease)

    def _renew(self, lease: Lease) -> None:
        try:
            lease.renew()
        except LeaseLost:
            with self._lock:
                # Only a lease we still hold can be lost: one dropped (and maybe replaced by a
                # newer Lease of the same pipeline) while this round ran is none of our business.
                if self._held.get(lease.pipeline) is not lease:
                    return
                del self._held[lease.pipeline]
            log.warning("lease lost: pipeline=%s", lease.pipeline)
            self._call(self._on_lost, lease)
        except Exception as exc:
            self._problem(lease, "renew", exc)
        else:
            self._solved(lease)

    def _acquire(self, lease: Lease) -> None:
        try:
            got = lease.try_acquire()
        except Exception as exc:
            self._problem(lease, "acquire", exc)
            return
        self._solved(lease)
        if not got:
            return
        with self._lock:
            if lease.pipeline in self._held:
                return  # a concurrent round got there first
            if self._wanted.pop(lease.pipeline, None) is None:
                lease.release()  # dropped while we were acquiring
                return
            self._held[lease.pipeline] = lease
        self._call(self._on_acquired, lease)

    def _problem(self, lease: Lease, action: str, exc: Exception) -> None:
        kind = type(exc).__name__
        hint = f" (hint: {exc.hint})" if isinstance(exc, OdibiError) and exc.hint else ""
        message = f"lease {action} failed: {kind}: {exc}{hint}"
        now = time.monotonic()
        with self._lock:
            last = self._problems.get(lease.pipeline)
            fresh = last is None or last[0] != message or now - last[1] >= PROBLEM_LOG_EVERY
            if fresh:
                self._problems[lease.pipeline] = (message, now)
        if fresh:
            retry = "retrying" if isinstance(exc, OdibiError) else "a bug; retrying"
            log.error("%s (%s every %.1fs): pipeline=%s", message, retry, self.interval, lease.pipeline)
        if self._on_problem is not None:
            self._call(self._on_problem, lease, message)

    def _solved(self, lease: Lease) -> None:
        with self._lock:
            had = self._problems.pop(lease.pipeline, None)
        if had is not None:
            log.info("lease works again: pipeline=%s", lease.pipeline)
            if self._on_problem is not None:
                self._call(self._on_problem, lease, None)

    @staticmethod
    def _call(callback: Callable[..., None], *args: object) -> None:
        try:
            callback(*args)
        except Exception:  # the keeper thread outlives any callback bug
            log.exception("lease keeper callback %s failed", getattr(callback, "__name__", callback))
