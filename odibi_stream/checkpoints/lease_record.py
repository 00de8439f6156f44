"""The lease document ``<pipeline>/lease.json``: decoding it strictly, and clearing a stuck one.

Anything in the file that a healthy daemon could not have written — garbage, an unknown
version, an epoch that is not a plain integer in ``[0, 2**53)``, a missing or naive expiry — is
a :class:`~odibi_stream.exceptions.CheckpointCorrupt` whose hint names the command that
repairs it (``odibi-stream checkpoint unlock``). :func:`clear_lease` is that repair: it
replaces the document with an expired lease whose epoch is at least every epoch the pipeline's
checkpoint has seen, so the next owner takes over at once with a higher epoch and fencing
still holds (a zombie that believed it owned the pipeline cannot commit).
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Protocol

import orjson

from odibi_stream.exceptions import CheckpointConflict, CheckpointCorrupt, OdibiError

LEASE_VERSION = 1
MAX_EPOCH = 2**53 - 1
"""Epochs beyond this are impossible (a daemon bumps the epoch by one per takeover)."""

MAX_OWNER_LENGTH = 512
UNLOCKED_OWNER = "unlocked-by-operator"


class CasStore(Protocol):
    """The part of ``CheckpointStore`` a lease needs."""

    def read(self, key: str) -> bytes | None: ...

    def compare_and_swap(self, key: str, data: bytes, expected: bytes | None) -> bool: ...


def unlock_hint(key: str) -> str:
    """The repair command for the lease at ``key`` (``<pipeline>/lease.json``)."""
    pipeline = key.rsplit("/", 1)[0]
    return (
        f"repair it with `odibi-stream checkpoint unlock PROJECT --pipeline {pipeline}` "
        "(the next owner then takes over with a higher epoch)"
    )


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
        """Parse ``raw`` strictly.

        Raises:
            CheckpointCorrupt: garbage, an unknown version or an impossible field (the hint
                names the repair command).
        """
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise _corrupt(key, "not valid JSON") from None
        if not isinstance(doc, dict):
            raise _corrupt(key, "not a JSON object")
        if doc.get("version") != LEASE_VERSION:
            raise CheckpointCorrupt(
                f"{key}: unknown lease version {str(doc.get('version'))[:20]!r}",
                hint="upgrade odibi-stream, or " + unlock_hint(key),
            )
        owner, epoch, expires = doc.get("owner"), doc.get("epoch"), doc.get("expires")
        if not isinstance(owner, str) or not owner or len(owner) > MAX_OWNER_LENGTH:
            raise _corrupt(key, "no valid owner")
        if not isinstance(epoch, int) or isinstance(epoch, bool) or not 0 <= epoch <= MAX_EPOCH:
            raise _corrupt(key, f"impossible epoch (not an integer in [0, {MAX_EPOCH}])")
        return cls(owner=owner, epoch=epoch, expires=_expiry(expires, key))


def _expiry(value: object, key: str) -> datetime:
    if not isinstance(value, str):
        raise _corrupt(key, "no valid expiry")
    try:
        expires = datetime.fromisoformat(value)
    except ValueError:
        raise _corrupt(key, "no valid expiry") from None
    return expires if expires.tzinfo is not None else expires.replace(tzinfo=timezone.utc)


def _corrupt(key: str, why: str) -> CheckpointCorrupt:
    return CheckpointCorrupt(f"{key}: unreadable lease ({why})", hint=unlock_hint(key))


def clear_lease(store: CasStore, pipeline: str, floor_epoch: int, now: datetime) -> LeaseRecord:
    """Replace ``pipeline``'s lease by an expired one (the ``checkpoint unlock`` repair).

    Args:
        store: The checkpoint store.
        pipeline: Pipeline name.
        floor_epoch: The highest epoch recorded in the pipeline's checkpoint entries.
        now: Current time.

    Returns:
        The lease written (expired, epoch = max of ``floor_epoch`` and a sane stored epoch).

    Raises:
        CheckpointConflict: the lease changed while it was being cleared (try again).
    """
    key = f"{pipeline}/lease.json"
    raw = store.read(key)
    epoch = floor_epoch
    if raw is not None:
        # A corrupt lease has no usable epoch: the checkpoint's own entries say which were used.
        with suppress(OdibiError):
            epoch = max(epoch, LeaseRecord.decode(raw, key).epoch)
    record = LeaseRecord(UNLOCKED_OWNER, min(epoch, MAX_EPOCH - 1), now - timedelta(seconds=1))
    if not store.compare_and_swap(key, record.encode(), raw):
        raise CheckpointConflict(
            f"the lease of pipeline {pipeline!r} changed while it was being cleared",
            hint="a daemon is renewing it; stop that daemon first, or run the command again",
        )
    return record
