"""Versioned, checksummed checkpoint entries.

Every persisted entry is one JSON object::

    {"version": 1, "kind": "offsets", ..., "checksum": "<sha256 hex>"}

``checksum`` is the SHA-256 of the canonical JSON (orjson, sorted keys) of every other field,
so a truncated, half-written or bit-flipped file is detected on read instead of being trusted.
Readers reject versions they do not know (a newer odibi-stream wrote them) with a hint.

Source ranges, node reports and watermarks are opaque JSON owned by the connectors and the
runtime: this module only carries them — and keeps secrets out of them: a registered secret
value (a path under a connection whose base holds a secret...) is written as its reference
(``${secret:NAME}``) and read back as the value, so ranges stay replayable without the secret on
disk; node reports are redacted outright (``odibi_stream.core.redact``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from typing import Any, ClassVar, TypeVar

import orjson

from odibi_stream.core.redact import from_references, redact_json, to_references
from odibi_stream.exceptions import CheckpointCorrupt

FORMAT_VERSION = 1
_TS_FIELDS = ("created", "committed")


def _as_utc(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (got naive {value!r})")
    return value.astimezone(timezone.utc)


class _Entry:
    """Mixin: kind tag, UTC normalisation of timestamp fields."""

    KIND: ClassVar[str]

    def __post_init__(self) -> None:
        for name in _TS_FIELDS:
            value = getattr(self, name, None)
            if isinstance(value, datetime):
                object.__setattr__(self, name, _as_utc(value, name))


@dataclass(frozen=True)
class OffsetsEntry(_Entry):
    """``offsets/<N>.json``: the write-ahead plan of batch N, written before any work.

    Attributes:
        batch: The batch number N.
        epoch: Lease epoch of the owner that planned it (fencing).
        created: When the plan was written (UTC).
        sources: node -> the source's planned range (opaque JSON from the connector).
        watermarks: node -> encoded watermark in effect for this batch.
        config_fingerprint: Fingerprint of the pipeline config the plan was made with.
        forced: True when the trigger forced a batch although no source moved.
    """

    KIND: ClassVar[str] = "offsets"
    batch: int
    epoch: int
    created: datetime
    sources: dict[str, dict[str, Any]]
    watermarks: dict[str, Any]
    config_fingerprint: str
    forced: bool = False


@dataclass(frozen=True)
class CommitEntry(_Entry):
    """``commits/<N>.json``: batch N is done; every sink holds its data.

    Attributes:
        batch: The batch number N.
        epoch: Lease epoch of the committing owner.
        committed: When the commit was written (UTC).
        sources: node -> the committed range (next plans start after its end).
        watermarks: node -> encoded watermark after this batch.
        nodes: node -> {rows_in, rows_out, rejected, late, sink: {...}}.
        metrics: Step durations in ms and other numeric facts (``skipped`` for operator skips).
    """

    KIND: ClassVar[str] = "commit"
    batch: int
    epoch: int
    committed: datetime
    sources: dict[str, dict[str, Any]]
    watermarks: dict[str, Any]
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Snapshot(_Entry):
    """``snapshot.json``: compacted state as of batch ``batch`` (inclusive).

    Attributes:
        batch: The newest batch folded into this snapshot.
        states: node -> source state as of that batch (e.g. the set of processed files).
        watermarks: node -> encoded watermark as of that batch.
        extra: Anything else the runtime needs to keep (opaque JSON).
    """

    KIND: ClassVar[str] = "snapshot"
    batch: int
    states: dict[str, dict[str, Any]]
    watermarks: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Metadata(_Entry):
    """``metadata.json``: written once when a pipeline's checkpoint is created.

    Attributes:
        pipeline: Pipeline name.
        created: When the checkpoint was created (UTC).
        config_fingerprint: Fingerprint of the config the checkpoint was created with.
    """

    KIND: ClassVar[str] = "metadata"
    pipeline: str
    created: datetime
    config_fingerprint: str


AnyEntry = OffsetsEntry | CommitEntry | Snapshot | Metadata
E = TypeVar("E", OffsetsEntry, CommitEntry, Snapshot, Metadata)


def _canonical(body: dict[str, Any]) -> bytes:
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


def _checksum(body: dict[str, Any]) -> str:
    return hashlib.sha256(_canonical(body)).hexdigest()


def encode(entry: AnyEntry) -> bytes:
    """Serialise ``entry`` to checksummed JSON bytes (one line, sorted keys).

    Raises:
        TypeError: a payload value is not JSON-serialisable (a bug in the caller).
    """
    body: dict[str, Any] = {"version": FORMAT_VERSION, "kind": entry.KIND}
    for f in fields(entry):
        value = getattr(entry, f.name)
        body[f.name] = value.isoformat() if isinstance(value, datetime) else _persisted(f.name, value)
    try:
        checksum = _checksum(body)
    except orjson.JSONEncodeError as exc:
        raise TypeError(f"{entry.KIND} entry is not JSON-serialisable: {exc}") from exc
    return _canonical({**body, "checksum": checksum}) + b"\n"


def decode(data: bytes, cls: type[E], where: str) -> E:
    """Parse and verify bytes written by :func:`encode`.

    Args:
        data: The file contents.
        cls: The expected entry class.
        where: The key or path, used in error messages.

    Raises:
        CheckpointCorrupt: unparsable, wrong kind, unknown version, bad checksum or bad fields.
    """
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise _corrupt(where, f"not valid JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise _corrupt(where, "not a JSON object")
    version = doc.get("version")
    if version != FORMAT_VERSION:
        raise CheckpointCorrupt(
            f"checkpoint entry {where} has unknown format version {version!r} "
            f"(this odibi-stream reads version {FORMAT_VERSION})",
            hint="it was written by a different odibi-stream release; run the release that wrote it, or upgrade",
        )
    stored = doc.pop("checksum", None)
    if not isinstance(stored, str) or stored != _checksum(doc):
        raise _corrupt(where, "checksum mismatch (truncated or modified)")
    if doc.get("kind") != cls.KIND:
        raise _corrupt(where, f"expected a {cls.KIND!r} entry, found {doc.get('kind')!r}")
    return _build(cls, from_references(doc), where)


def _persisted(name: str, value: Any) -> Any:
    """What is written for field ``name``: no secret value (see the module docstring)."""
    return redact_json(value) if name == "nodes" else to_references(value)


def _build(cls: type[E], doc: dict[str, Any], where: str) -> E:
    kwargs: dict[str, Any] = {}
    try:
        for f in fields(cls):
            if f.name not in doc:
                continue  # dataclass defaults (or the TypeError below) decide
            value = doc[f.name]
            if f.name in _TS_FIELDS:
                value = datetime.fromisoformat(value)
            kwargs[f.name] = value
        entry = cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise _corrupt(where, f"invalid fields ({exc})") from None
    _check_types(entry, where)
    return entry


def _check_types(entry: AnyEntry, where: str) -> None:
    for name in ("batch", "epoch"):
        value = getattr(entry, name, 0)
        if not isinstance(value, int) or isinstance(value, bool):
            raise _corrupt(where, f"{name} is not an integer")
    for name in ("sources", "watermarks", "nodes", "metrics", "states", "extra"):
        if not isinstance(getattr(entry, name, {}), dict):
            raise _corrupt(where, f"{name} is not an object")


def _corrupt(where: str, why: str) -> CheckpointCorrupt:
    return CheckpointCorrupt(f"checkpoint entry {where} is corrupt: {why}")
