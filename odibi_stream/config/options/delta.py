"""Options of ``format: delta`` (read and write): none yet, so any key is a typo and an error."""

from __future__ import annotations

from odibi_stream.config.options.common import Options


class DeltaReadOptions(Options):
    """``read.options`` of ``format: delta`` (static or ``incremental: {mode: column}``)."""


class DeltaWriteOptions(Options):
    """``write.options`` of ``format: delta`` (mode, merge_keys and partition_by are keys of ``write``)."""
