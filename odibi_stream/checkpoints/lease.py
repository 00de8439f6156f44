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
      its epoch) so a waiting process takes over at once with ``epoch + 1``.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Protocol

import orjson

from odibi_stream.core.clock import SYSTEM_CLOCK, Clock
from odibi_stream.exceptions import CheckpointCorrupt, LeaseLost, OdibiError

log = logging.getLogger(__name__)

LEASE_VERSION = 1


class _CasStore(Protocol):
    """The part of ``CheckpointStore`` a lease needs."""

    def read(self, key: str) -> bytes | None: ...

    def compare_and_swap(self, key: str, data: bytes, expected: bytes | None) -> bool: ...


def default_owner() -> str:
    """A process-unique owner id: ``host:pid:random`` (no secrets, stable for the process)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class LeaseRecord:
    """The decoded content of ``lease.json``."""

    owner: str
    epoch: int
    expires: datetime

    def expired(self, now: datetime) -> bool:
        """True once ``now`` is at or past the expiry time."""
        return now >= self.expires

    def encode(self) -> bytes:
        """Serialise with ``version``."""
        doc = {
            "version": LEASE_VERSION,
            "owner": self.owner,
            "epoch": self.epoch,
            "expires": self.expires.isoformat(),
        }
        return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)

    @classmethod
    def decode(cls, raw: bytes, key: str) -> LeaseRecord:
        """Parse ``raw``; CheckpointCorrupt on unknown versions or garbage."""
        try:
            doc = orjson.loads(raw)
            if doc.get("version") != LEASE_VERSION:
                raise CheckpointCorrupt(
                    f"{key}: unknown lease version {doc.get('version')!r}",
                    hint="upgrade odibi-stream or delete the lease file while no daemon runs",
                )
            expires = datetime.fromisoformat(doc["expires"])
            if expires.tzinfo is None:
                expires = expires.replace(tzinfo=timezone.utc)
            return cls(owner=str(doc["owner"]), epoch=int(doc["epoch"]), expires=expires)
        except OdibiError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise CheckpointCorrupt(
                f"{key}: unreadable lease ({exc.__class__.__name__})",
                hint="delete the lease file while no daemon runs",
            ) from exc


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
        store: _CasStore,
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
                return False
            epoch = (cur.epoch if cur else 0) + 1
            return self._write(epoch, raw, now)

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
        """Give the lease up (expire it now, keeping the epoch); no error if it is not ours."""
        with self._lock:
            if self._raw is None:
                return
            data = LeaseRecord(self.owner, self.epoch, self.clock.now() - timedelta(seconds=1)).encode()
            self.store.compare_and_swap(self.key, data, self._raw)
            self._raw = None
            log.info("lease released: pipeline=%s epoch=%d", self.pipeline, self.epoch)


class LeaseKeeper:
    """One background thread that acquires wanted leases and renews held ones.

    Every ``interval`` seconds (typically ``ttl/3``) it renews each held lease, spread evenly
    over the interval (a
    :class:`LeaseLost` forgets the lease and calls ``on_lost(lease)``; the owner stops the
    pipeline and calls :meth:`want` again to wait for it) and tries to acquire each wanted
    lease (success calls ``on_acquired(lease)``). Callbacks run on the
    keeper thread and must not block for long. Storage outages are logged and retried next round.

    Args:
        interval: Seconds between rounds.
        on_acquired: Called once per acquisition.
        on_lost: Called once per loss.
        clock: Where the keeper waits between renewals.
    """

    def __init__(
        self,
        interval: float,
        on_acquired: Callable[[Lease], None],
        on_lost: Callable[[Lease], None],
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.interval = interval
        self.clock = clock
        self._on_acquired = on_acquired
        self._on_lost = on_lost
        self._wanted: dict[str, Lease] = {}
        self._held: dict[str, Lease] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def want(self, lease: Lease) -> None:
        """Start pursuing ``lease`` (tried at the next round; see :meth:`poke`)."""
        with self._lock:
            self._wanted[lease.pipeline] = lease

    def drop(self, pipeline: str) -> None:
        """Stop pursuing/renewing ``pipeline`` and release its lease if held."""
        with self._lock:
            self._wanted.pop(pipeline, None)
            lease = self._held.pop(pipeline, None)
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
            with self._lock:
                held = list(self._held.values())
            step = self.interval / max(1, len(held))
            if not held and self.clock.wait(self._stop, self.interval):
                return
            for lease in held:
                if self.clock.wait(self._stop, step):
                    return
                self._renew(lease)
            with self._lock:
                wanted = list(self._wanted.values())
            for lease in wanted:
                self._acquire(lease)

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
            self._on_lost(lease)
        except OdibiError as exc:
            log.warning("lease renew failed (will retry): pipeline=%s: %s", lease.pipeline, exc)

    def _acquire(self, lease: Lease) -> None:
        try:
            got = lease.try_acquire()
        except OdibiError as exc:
            log.warning("lease acquire failed (will retry): pipeline=%s: %s", lease.pipeline, exc)
            return
        if not got:
            return
        with self._lock:
            if lease.pipeline in self._held:
                return  # a concurrent round got there first
            if self._wanted.pop(lease.pipeline, None) is None:
                lease.release()  # dropped while we were acquiring
                return
            self._held[lease.pipeline] = lease
        self._on_acquired(lease)
