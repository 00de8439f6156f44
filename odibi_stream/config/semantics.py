"""Config models of data semantics: merge strategies, schema evolution, PII and quality thresholds.

They hang off the pipeline models (``config/models.py``) by a field each:

* ``write.merge`` — :class:`MergeConfig` (CDC upserts/deletes, SCD1/SCD2, append-only,
  delete-insert, ``sequence_by``, audit columns) for ``format: delta, mode: merge``;
* ``write.schema`` — :class:`SchemaPolicyConfig` (``add_columns | strict | rescue``);
* ``write.sensitive`` — the sink may hold raw personal data (else sensitive columns are masked);
* ``node.columns`` — :class:`ColumnConfig` per column (``sensitive: true``, ``mask:``);
* ``pipeline.pii`` — :class:`PiiConfig` (the salt of ``mask: hash``, a ``${secret:..}``);
* ``check.severity`` — :data:`Severity`; ``node.expect`` — :class:`ExpectConfig`.

Pure data like the rest of ``config``: what the runtime does with them is documented where it
does it (``engines.merge_sql``, ``connectors.delta_schema``, ``runtime.masking``,
``runtime.quality``).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from odibi_stream.config.base import Model

Strategy = Literal["upsert", "scd1", "scd2", "append_only", "delete_insert"]
Evolution = Literal["add_columns", "strict", "rescue"]
Severity = Literal["warn", "drop", "fail"]

SCD2_COLUMNS = ("_valid_from", "_valid_to", "_is_current")
AUDIT_COLUMNS = ("_created_at", "_updated_at", "_odibi_batch")
DELETED_COLUMN = "_is_deleted"
RESCUED_COLUMN = "_rescued_data"
SYSTEM_COLUMNS = frozenset((*SCD2_COLUMNS, *AUDIT_COLUMNS, DELETED_COLUMN, RESCUED_COLUMN))
"""Columns the runtime maintains in a table; data may not bring its own of these names."""

_KEEP_LAST = re.compile(r"^keep_last\((\d{1,3})\)$")


class MergeDeletes(Model):
    """Which rows of a batch are deletes (a CDC operation column) and how they apply."""

    column: str = Field(description="Operation column of the change rows, e.g. op. It is not written to the table.")
    value: str | int | bool = Field(description="Value of that column that marks a delete, e.g. D.")
    mode: Literal["hard", "soft"] = Field(
        default="hard",
        description="hard: the row is deleted (scd2: its current version is closed); soft: it is kept with _is_deleted = true (scd2: a deleted version is added).",
    )


class MergeConfig(Model):
    """How ``mode: merge`` applies a batch of changes to a Delta table."""

    keys: list[str] = Field(min_length=1, description="Key columns identifying a row (a business key).")
    strategy: Strategy = Field(
        default="upsert",
        description="upsert: update or insert; scd1: upsert that leaves unchanged rows (and their audit times) alone; scd2: keep history (_valid_from, _valid_to, _is_current); append_only: insert new keys only; delete_insert: replace all rows of each key in the batch.",
    )
    sequence_by: str | None = Field(
        default=None,
        description="Ordering column of the changes (timestamp, LSN). Within a batch the latest change per key wins (ties: a delete, then the later input row); a change not newer than the table's is ignored.",
    )
    deletes: MergeDeletes | None = Field(default=None, description="Delete rows, from a CDC operation column.")
    audit_columns: bool = Field(
        default=False,
        description="Maintain _created_at, _updated_at (the batch's planned time) and _odibi_batch (the batch number).",
    )

    @model_validator(mode="after")
    def _check(self) -> MergeConfig:
        if len(set(self.keys)) != len(self.keys):
            raise ValueError("merge.keys lists a column twice")
        used = {*self.keys, *([self.sequence_by] if self.sequence_by else [])}
        if self.deletes is not None:
            used.add(self.deletes.column)
            if self.deletes.column in self.keys or self.deletes.column == self.sequence_by:
                raise ValueError("merge.deletes.column must not be a key or the sequence_by column")
        clash = sorted(used & SYSTEM_COLUMNS)
        if clash:
            raise ValueError(f"merge columns {clash} are names the runtime maintains; rename them")
        if self.strategy == "append_only" and self.deletes is not None:
            raise ValueError("strategy append_only never deletes: remove merge.deletes")
        if self.strategy == "delete_insert" and self.sequence_by is not None:
            raise ValueError("strategy delete_insert replaces every row of a key: sequence_by has no meaning there")
        return self


class SchemaPolicyConfig(Model):
    """What a Delta sink does when a batch's columns differ from its table's."""

    evolution: Evolution = Field(
        default="add_columns",
        description="add_columns: new columns are added, widened types widen the table; strict: any difference fails the batch with the diff; rescue: unknown or mistyped fields go into a _rescued_data JSON column. Narrowing is always refused.",
    )


class ColumnConfig(Model):
    """Facts about one column of a node's data."""

    sensitive: bool = Field(default=False, description="Personal data: masked before non-sensitive sinks and always in logs, dead letters, samples and stories.")
    mask: str = Field(
        default="redact",
        description="How a sensitive value is masked: hash (salted HMAC-SHA256, needs pii.salt), redact, null, keep_last(N).",
    )

    @field_validator("mask")
    @classmethod
    def _mask(cls, v: str) -> str:
        if v in ("hash", "redact", "null") or _KEEP_LAST.match(v):
            return v
        raise ValueError("mask must be hash, redact, null or keep_last(N), e.g. keep_last(4)")

    def keep_last(self) -> int | None:
        """N of ``keep_last(N)`` (None for other masks)."""
        m = _KEEP_LAST.match(self.mask)
        return int(m.group(1)) if m else None


class PiiConfig(Model):
    """Pipeline-wide settings for personal data."""

    salt: str | None = Field(
        default=None,
        description="Key of mask: hash (HMAC-SHA256). Must be a ${secret:NAME} reference so it never sits in the config file.",
    )


class ExpectConfig(Model):
    """Batch-level data-quality thresholds of a node (evaluated before any sink writes)."""

    min_rows: int | None = Field(default=None, ge=0, description="The node's output must have at least this many rows.")
    max_null_fraction: dict[str, float] = Field(
        default_factory=dict, description="Column → highest allowed fraction of NULLs in the node's output, e.g. {email: 0.1}."
    )
    max_reject_fraction: float | None = Field(
        default=None, ge=0, le=1, description="Highest allowed fraction of the node's input rows rejected (bad records, failed checks)."
    )
    severity: Literal["warn", "fail"] = Field(
        default="fail",
        description="fail: a breach fails the batch (nothing is written or committed; the pipeline is failed); warn: it is only reported.",
    )

    @field_validator("max_null_fraction")
    @classmethod
    def _fractions(cls, v: dict[str, float]) -> dict[str, float]:
        bad = sorted(c for c, f in v.items() if not 0 <= f <= 1)
        if bad:
            raise ValueError(f"max_null_fraction of {bad} must be between 0 and 1")
        return v
