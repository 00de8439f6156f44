"""PipelineLog: one pipeline's offsets/commits logs, snapshot, recovery and retention.

Layout under the store (``<pipeline>/...``)::

    metadata.json        written once
    offsets/<N>.json     write-ahead plan of batch N (create-exclusive)
    commits/<N>.json     batch N done (create-exclusive, only after offsets/N)
    snapshot.json        compacted state as of batch S; entries <= S may be deleted

Lifecycle contract:
    * The runner that owns the pipeline's lease calls :meth:`PipelineLog.recover` once at start
      (and after any failure), then per batch :meth:`write_offsets` -> work ->
      :meth:`write_commit` -> :meth:`compact` (with the snapshot it holds in memory). Batches are strictly serial.
    * Operators (the ``checkpoint`` CLI) call :meth:`history`, :meth:`rewind`, :meth:`reset`
      and :meth:`skip` while the pipeline is stopped.
    * Every method is crash-safe: a kill at any point leaves a log that :meth:`recover` reads
      correctly (leftovers of an interrupted compaction or rewind are tolerated).
    * Recovery reads only what is retained (snapshot + at most ``retain`` entries per log).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from odibi_stream.checkpoints.entries import (
    CommitEntry,
    Metadata,
    OffsetsEntry,
    Snapshot,
    decode,
    encode,
)
from odibi_stream.checkpoints.store import CheckpointStore, split_key
from odibi_stream.core.clock import utc_now
from odibi_stream.exceptions import (
    CheckpointConflict,
    CheckpointCorrupt,
    CheckpointError,
    CheckpointUnavailable,
)

_ENTRY_NAME = re.compile(r"^(\d+)\.json$")
_REWIND_HINT = "inspect with `odibi-stream checkpoint history`, then repair with `odibi-stream checkpoint rewind --to N`"
Ent = TypeVar("Ent", OffsetsEntry, CommitEntry)


class _Vanished(CheckpointUnavailable):
    """A listed entry disappeared before it was read (a concurrent compaction or rewind)."""


@dataclass
class Recovery:
    """What :meth:`PipelineLog.recover` found.

    Attributes:
        snapshot: The compacted state, if any.
        commits: Committed entries after the snapshot, ascending (fold them over the snapshot).
        last_committed: Newest committed batch (the snapshot's batch counts); -1 if none.
        pending: The plan of batch ``last_committed + 1`` that has no commit: replay verbatim.
        next_batch: Number of the next batch (``last_committed + 1``), pending or not.
        problems: Human-readable reports of corrupt entries found (and quarantined).
    """

    snapshot: Snapshot | None
    commits: list[CommitEntry]
    last_committed: int
    pending: OffsetsEntry | None
    next_batch: int
    problems: list[str] = field(default_factory=list)


class PipelineLog:
    """The checkpoint log of one pipeline inside a :class:`CheckpointStore`.

    Args:
        store: The project's checkpoint store.
        pipeline: Pipeline name (the folder under the checkpoint root).
    """

    def __init__(self, store: CheckpointStore, pipeline: str) -> None:
        split_key(pipeline)  # validates the name as a key segment
        if "/" in pipeline:
            raise CheckpointError(f"invalid pipeline name for a checkpoint: {pipeline!r}")
        self.store = store
        self.pipeline = pipeline

    # ------------------------------------------------------------------ keys

    def _key(self, *parts: str) -> str:  # "<pipeline>/<parts...>"
        return "/".join((self.pipeline, *parts))

    def offsets_key(self, n: int) -> str:
        """Return the key of ``offsets/<n>.json``."""
        return self._key("offsets", f"{n}.json")

    def commit_key(self, n: int) -> str:
        """Return the key of ``commits/<n>.json``."""
        return self._key("commits", f"{n}.json")

    def _numbers(self, folder: str) -> list[int]:
        found = []
        for key in self.store.list(self._key(folder)):
            m = _ENTRY_NAME.match(key.rsplit("/", 1)[-1])
            if m:
                found.append(int(m.group(1)))
        return sorted(found)

    # ------------------------------------------------------------------ reads

    def read_offsets(self, n: int) -> OffsetsEntry | None:
        """Return the verified plan of batch ``n`` (None if absent).

        Raises:
            CheckpointCorrupt: the entry exists but is unreadable.
        """
        return self._read(self.offsets_key(n), OffsetsEntry, n)

    def read_commit(self, n: int) -> CommitEntry | None:
        """Return the verified commit of batch ``n`` (None if absent)."""
        return self._read(self.commit_key(n), CommitEntry, n)

    def read_snapshot(self) -> Snapshot | None:
        """Return the snapshot (None if none was written yet)."""
        data = self.store.read(self._key("snapshot.json"))
        return None if data is None else decode(data, Snapshot, self._key("snapshot.json"))

    def _floor(self) -> int:
        snapshot = self.read_snapshot()
        return snapshot.batch if snapshot else -1

    def _read(self, key: str, cls: type[Ent], n: int) -> Ent | None:
        data = self.store.read(key)
        if data is None:
            return None
        entry = decode(data, cls, key)
        if entry.batch != n:
            raise CheckpointCorrupt(
                f"checkpoint entry {key} is corrupt: it records batch {entry.batch}"
            )
        return entry

    # ------------------------------------------------------------------ writes

    def ensure_metadata(self, fingerprint: str) -> Metadata:
        """Create ``metadata.json`` on first use; return the existing one otherwise."""
        key = self._key("metadata.json")
        data = self.store.read(key)
        if data is None:
            meta = Metadata(
                pipeline=self.pipeline, created=utc_now(), config_fingerprint=fingerprint
            )
            try:
                self.store.create(key, encode(meta))
                return meta
            except CheckpointConflict:
                data = self.store.read(key)
                if data is None:
                    raise
        return decode(data, Metadata, key)

    def write_offsets(self, entry: OffsetsEntry) -> None:
        """Durably write the plan of batch ``entry.batch`` (step 3, write-ahead).

        Raises:
            CheckpointConflict: a plan for that batch exists (a zombie or a replay bug).
        """
        if entry.batch < 0:
            raise CheckpointError(f"batch numbers start at 0, got {entry.batch}")
        self.store.create(self.offsets_key(entry.batch), encode(entry))

    def write_commit(self, entry: CommitEntry) -> None:
        """Durably mark batch ``entry.batch`` committed (step 6).

        Raises:
            CheckpointError: there is no plan ``offsets/<N>`` for it.
            CheckpointConflict: the batch is already committed.
        """
        if self.store.read(self.offsets_key(entry.batch)) is None:
            raise CheckpointError(
                f"cannot commit batch {entry.batch} of {self.pipeline!r}: it was never planned",
                hint="write_offsets must precede write_commit",
            )
        self.store.create(self.commit_key(entry.batch), encode(entry))

    # ------------------------------------------------------------------ recovery

    def recover(self, *, quarantine: bool = True) -> Recovery:
        """Read the log and decide where the pipeline resumes (protocol step 1).

        A corrupt *newest* commit or offsets entry is reported in ``problems``, moved aside to
        ``<key>.corrupt-<utc>`` (unless ``quarantine`` is False, for read-only inspection) and
        the previous entry is used.

        Raises:
            CheckpointCorrupt: a corrupt entry that is not the newest, a gap in the log, or a
                plan beyond the pending batch; the hint names ``checkpoint rewind``.
        """
        for _attempt in range(5):
            try:
                return self._recover_once(quarantine)
            except _Vanished:
                continue  # a concurrent compaction moved the floor: read again
        return self._recover_once(quarantine)

    def _recover_once(self, quarantine: bool) -> Recovery:
        problems: list[str] = []
        snapshot = self.read_snapshot()
        floor = snapshot.batch if snapshot else -1
        # Plans before commits: offsets/N+1 is only written after commits/N, so a reader racing
        # a live writer sees a consistent (if slightly older) pair, never a plan beyond a commit.
        offsets = self._load_log("offsets", OffsetsEntry, floor, problems, quarantine)
        commits = self._load_log("commits", CommitEntry, floor, problems, quarantine)
        if self._floor() != floor:
            raise _Vanished(f"the snapshot of {self.pipeline!r} changed while it was read")
        last = commits[-1].batch if commits else floor
        self._check_contiguous([c.batch for c in commits], floor, "commits")
        pending = None
        for entry in offsets:
            if entry.batch == last + 1:
                pending = entry
            elif entry.batch > last + 1:
                raise CheckpointCorrupt(
                    f"pipeline {self.pipeline!r}: plan offsets/{entry.batch} is beyond the next batch {last + 1}",
                    hint=_REWIND_HINT,
                )
        return Recovery(snapshot, commits, last, pending, last + 1, problems)

    def _load_log(
        self, folder: str, cls: type[Ent], floor: int, problems: list[str], quarantine: bool
    ) -> list[Ent]:
        numbers = [n for n in self._numbers(folder) if n > floor]
        entries: list[Ent] = []
        for i, n in enumerate(numbers):
            key = self._key(folder, f"{n}.json")
            try:
                entry = self._read(key, cls, n)
            except CheckpointCorrupt as exc:
                if i != len(numbers) - 1:
                    raise CheckpointCorrupt(
                        f"pipeline {self.pipeline!r}: {exc} (and newer entries exist)",
                        hint=_REWIND_HINT,
                    ) from None
                problems.append(self._quarantine(key, str(exc), quarantine))
                continue
            if entry is None:
                raise _Vanished(
                    f"checkpoint entry {key} vanished while it was read (concurrent compaction?)"
                )
            entries.append(entry)
        return entries

    def _quarantine(self, key: str, why: str, move: bool) -> str:
        if not move:
            return f"{why}; the previous entry is used"
        data = self.store.read(key)
        target = f"{key}.corrupt-{utc_now().strftime('%Y%m%dT%H%M%S%fZ')}"
        if data is not None:
            self.store.create(target, data)
            self.store.delete(key)
        return f"{why}; moved aside to {target} and the previous entry is used"

    def _check_contiguous(self, batches: list[int], floor: int, folder: str) -> None:
        expected = floor + 1
        for n in batches:
            if n != expected:
                raise CheckpointCorrupt(
                    f"pipeline {self.pipeline!r}: {folder}/{expected}.json is missing (found {folder}/{n}.json)",
                    hint=_REWIND_HINT,
                )
            expected += 1

    # ------------------------------------------------------------------ retention

    def compact(self, snapshot: Snapshot) -> int:
        """Make ``snapshot`` — the state as of committed batch S — the floor of the log (step 8).

        The caller (the protocol) already holds that state in memory, so nothing is re-read.
        The snapshot is written first (atomic replace), the entries up to S deleted after,
        oldest first, so a crash at any point leaves a readable log. A snapshot at or below
        the current floor only sweeps leftovers.

        Returns:
            The number of entries (offsets and commits files) removed.

        Raises:
            CheckpointError: batch S is not committed (a snapshot must never run ahead).
        """
        floor = self._floor()
        if snapshot.batch <= floor:
            return self._delete_upto(floor)
        if self.store.read(self.commit_key(snapshot.batch)) is None:
            raise CheckpointError(
                f"cannot compact {self.pipeline!r} to batch {snapshot.batch}: it is not committed"
            )
        self.store.replace(self._key("snapshot.json"), encode(snapshot))
        return self._delete_upto(snapshot.batch)

    def install_snapshot(self, snapshot: Snapshot) -> int:
        """Make ``snapshot`` the whole history: write it, then drop every entry up to its batch.

        Used by rewind/reset so that batch numbers never go backwards: sinks key idempotency
        on batch numbers, so a re-used number would be skipped by a sink that already holds it.
        Crash-safe like :meth:`compact` (the snapshot is the floor the moment it is written).

        Returns:
            The number of entries removed.
        """
        self.store.replace(self._key("snapshot.json"), encode(snapshot))
        return self._delete_upto(snapshot.batch)

    def highest_batch(self) -> int:
        """The highest batch number ever planned or compacted (-1 for a new pipeline)."""
        numbers = self._numbers("offsets") + self._numbers("commits") + [self._floor()]
        return max(numbers)

    def _delete_upto(self, floor: int) -> int:
        # Also sweeps leftovers of an earlier compaction that crashed after its snapshot.
        removed = 0
        for folder in ("offsets", "commits"):
            for n in self._numbers(folder):
                if n <= floor:
                    self.store.delete(self._key(folder, f"{n}.json"))
                    removed += 1
        return removed

    # ------------------------------------------------------------------ operator actions

    def history(
        self, limit: int | None = None
    ) -> list[tuple[OffsetsEntry | None, CommitEntry | None]]:
        """Return (plan, commit) pairs of the retained batches, newest first.

        Unreadable entries show as None (``recover`` reports them); nothing is modified.
        """
        floor = self._floor()
        numbers = sorted(
            {n for f in ("offsets", "commits") for n in self._numbers(f) if n > floor}, reverse=True
        )
        if limit is not None:
            numbers = numbers[:limit]
        return [
            (self._lenient(self.read_offsets, n), self._lenient(self.read_commit, n))
            for n in numbers
        ]

    @staticmethod
    def _lenient(reader: Callable[[int], Ent | None], n: int) -> Ent | None:
        with contextlib.suppress(CheckpointCorrupt):
            return reader(n)
        return None

    def skip(self) -> int:
        """Commit the pending batch without running it; its input ranges are skipped.

        Returns:
            The skipped batch number.

        Raises:
            CheckpointError: no batch is pending.
        """
        pending = self.recover().pending
        if pending is None:
            raise CheckpointError(
                f"pipeline {self.pipeline!r} has no pending batch to skip",
                hint="`odibi-stream checkpoint show` lists the pending batch, if any",
            )
        self.write_commit(
            CommitEntry(
                batch=pending.batch,
                epoch=pending.epoch,
                committed=utc_now(),
                sources=pending.sources,
                watermarks=pending.watermarks,
                nodes={},
                metrics={"skipped": 1.0},
            )
        )
        return pending.batch
