"""Schema changes recorded in commit entries, for reports, ``checkpoint history`` and stories.

A Delta sink records what its write changed in the table's schema under
``nodes.<node>.sink.schema_change`` of ``commits/N`` (see
:mod:`odibi_stream.connectors.delta_schema`). This module only reads that JSON, so the CLI can
import it without the runtime's heavier modules.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def schema_changes(nodes: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per sink node, the schema change its write made (``added``/``removed``/``widened``/``rescued``)."""
    return {n: dict(v["sink"]["schema_change"]) for n, v in nodes.items() if (v.get("sink") or {}).get("schema_change")}


def describe_schema_changes(changes: Mapping[str, Mapping[str, Any]]) -> str:
    """One line for tables: ``sink: +c(string) -d ~n(int32→int64) rescued[x]``."""
    parts = []
    for node, ch in sorted(changes.items()):
        bits = [f"+{c}({t})" for c, t in (ch.get("added") or {}).items()]
        bits += [f"-{c}" for c in ch.get("removed") or []]
        bits += [f"~{c}({t})" for c, t in (ch.get("widened") or {}).items()]
        if ch.get("rescued"):
            bits.append(f"rescued[{','.join(ch['rescued'])}]")
        parts.append(f"{node}: {' '.join(bits)}")
    return "; ".join(parts)
