"""Models of Delta table maintenance: ``maintenance:`` on a Delta sink or as the project default.

Example (``odibi.yaml`` default, or under a node's ``write:``)::

    maintenance:
      optimize: {every: 100 batches, target_file_size: 128MB}   # or every: 1h
      vacuum: {retain: 7d, every: 1d}
      checkpoint_every: 50 commits

The runtime runs what is due between two batches of the owning pipeline, under its lease
(``runtime.maintenance``); ``odibi-stream maintain`` runs everything at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydantic import Field, field_validator

from odibi_stream.config.base import Model, parse_duration

_BATCHES = re.compile(r"^\s*(\d+)\s*(?:batch|batches)\s*$", re.IGNORECASE)
_COMMITS = re.compile(r"^\s*(\d+)\s*(?:commit|commits)?\s*$", re.IGNORECASE)
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb|kib|mib|gib)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {
    None: 1, "b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3,
    "kib": 1024, "mib": 1024**2, "gib": 1024**3,
}


@dataclass(frozen=True)
class Every:
    """A parsed ``every``: a number of batches or a number of seconds (exactly one)."""

    batches: int | None = None
    seconds: float | None = None


def parse_every(value: str | int) -> Every:
    """``"100 batches"`` → every 100 batches; ``"1h"``/``3600`` → every 3600 seconds."""
    if isinstance(value, str):
        found = _BATCHES.match(value)
        if found:
            batches = int(found.group(1))
            if batches < 1:
                raise ValueError("'every' needs at least 1 batch")
            return Every(batches=batches)
    seconds = parse_duration(value).total_seconds()
    if seconds <= 0:
        raise ValueError("'every' must be positive")
    return Every(seconds=seconds)


def parse_size(value: str | int) -> int:
    """``"128MB"`` → 128000000 bytes (``MiB`` for powers of two); a number is bytes."""
    if isinstance(value, int):
        return value
    found = _SIZE.match(value)
    if not found:
        raise ValueError(f"not a size: {value!r} (use e.g. 128MB, 512MiB or a number of bytes)")
    return int(float(found.group(1)) * _SIZE_UNITS[(found.group(2) or "").lower() or None])


def parse_commits(value: str | int) -> int:
    """``"50 commits"`` or ``50`` → 50."""
    if isinstance(value, int):
        return value
    found = _COMMITS.match(value)
    if not found:
        raise ValueError(f"not a number of commits: {value!r} (use e.g. 50 commits)")
    return int(found.group(1))


class OptimizeConfig(Model):
    """Compaction of small files (delta-rs ``optimize.compact``, Spark ``executeCompaction``)."""

    every: str | int = Field(
        default="100 batches",
        description="How often: 'N batches' of the owning pipeline, or a duration such as 1h.",
    )
    target_file_size: str | int = Field(
        default="128MB", description="Size files are compacted towards (128MB, 512MiB or bytes)."
    )

    @field_validator("every")
    @classmethod
    def _every(cls, v: str | int) -> str | int:
        parse_every(v)
        return v

    @field_validator("target_file_size")
    @classmethod
    def _size(cls, v: str | int) -> str | int:
        if parse_size(v) < 1024:
            raise ValueError("target_file_size must be at least 1KiB")
        return v

    @property
    def schedule(self) -> Every:
        """The parsed ``every``."""
        return parse_every(self.every)

    @property
    def target_bytes(self) -> int:
        """The parsed ``target_file_size`` in bytes."""
        return parse_size(self.target_file_size)


class VacuumConfig(Model):
    """Deletion of files no table version within ``retain`` references (delta-rs / Spark vacuum)."""

    retain: str = Field(
        default="7d",
        description="Keep files still needed by any version younger than this (time travel and slow readers). Shorter than the table's 7d default is allowed and disables its safety check.",
    )
    every: str | int = Field(default="1d", description="How often: a duration (1d) or 'N batches'.")

    @field_validator("retain")
    @classmethod
    def _retain(cls, v: str) -> str:
        parse_duration(v)
        return v

    @field_validator("every")
    @classmethod
    def _every(cls, v: str | int) -> str | int:
        parse_every(v)
        return v

    @property
    def schedule(self) -> Every:
        """The parsed ``every``."""
        return parse_every(self.every)

    @property
    def retain_hours(self) -> float:
        """``retain`` in hours."""
        return parse_duration(self.retain).total_seconds() / 3600.0


class MaintenanceConfig(Model):
    """Delta table maintenance of a sink (or the project default for every Delta sink)."""

    enabled: bool = Field(default=True, description="Set false on a sink to opt out of the project default.")
    optimize: OptimizeConfig | None = Field(default=None, description="Compact small files.")
    vacuum: VacuumConfig | None = Field(default=None, description="Delete unreferenced old files.")
    checkpoint_every: str | int | None = Field(
        default=None,
        description="Write a Delta log checkpoint every N table commits ('50 commits' or 50), so readers replay a short log.",
    )

    @field_validator("checkpoint_every")
    @classmethod
    def _commits(cls, v: str | int | None) -> str | int | None:
        if v is not None and parse_commits(v) < 1:
            raise ValueError("checkpoint_every must be at least 1 commit")
        return v

    @property
    def checkpoint_commits(self) -> int | None:
        """The parsed ``checkpoint_every``."""
        return None if self.checkpoint_every is None else parse_commits(self.checkpoint_every)

    @property
    def active(self) -> bool:
        """True if anything is configured and enabled."""
        return self.enabled and any((self.optimize, self.vacuum, self.checkpoint_every))
