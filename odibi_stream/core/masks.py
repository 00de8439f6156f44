"""Masking personal data: values, Arrow tables, raw records and error texts.

Masks (``columns: {email: {sensitive: true, mask: ...}}``):

* ``hash`` — HMAC-SHA256 of the value's text form keyed with the pipeline's salt, as 64 hex
  characters: equal values give equal hashes (joins and merge keys still work), but without
  the salt (a ``${secret:..}``) a value cannot be confirmed by hashing guesses;
* ``redact`` — the text ``[REDACTED]``; ``null`` — NULL (the column keeps its type);
* ``keep_last(N)`` — ``*`` for every character but the last N (all ``*`` when the value has
  no more than N characters).

NULL stays NULL under every mask. Every mask but ``null`` yields a string column. The
functions are pure and row-local, so both engines run the very same code (the Spark engine in
its Python workers, see :mod:`odibi_stream.engines.frames`) and mask identically.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
import pyarrow as pa

REDACTED = "[REDACTED]"
_KEEP_LAST = re.compile(r"^keep_last\((\d{1,3})\)$")
_LITERAL = re.compile(r"((?:column|field) )?(?:'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")")


@dataclass(frozen=True)
class MaskRule:
    """One column's mask: ``kind`` is hash, redact, null or keep_last (with ``keep``)."""

    kind: str
    keep: int = 0

    @classmethod
    def parse(cls, text: str) -> MaskRule:
        """``"keep_last(4)"`` → ``MaskRule("keep_last", 4)``.

        Raises:
            ValueError: not a known mask.
        """
        m = _KEEP_LAST.match(text)
        if m:
            return cls("keep_last", int(m.group(1)))
        if text in ("hash", "redact", "null"):
            return cls(text)
        raise ValueError(f"unknown mask {text!r}")

    @property
    def keeps_type(self) -> bool:
        """True if the masked column keeps its type (``null``); else it becomes a string."""
        return self.kind == "null"


def mask_value(value: Any, rule: MaskRule, salt: bytes | None) -> Any:
    """The masked form of one value (None stays None).

    Raises:
        ValueError: ``hash`` without a salt.
    """
    if value is None or rule.kind == "null":
        return None
    text = value if isinstance(value, str) else str(value)
    if rule.kind == "hash":
        if salt is None:
            raise ValueError("mask: hash needs pii.salt")
        return hmac.new(salt, text.encode("utf-8"), hashlib.sha256).hexdigest()
    if rule.kind == "keep_last":
        hidden = len(text) - rule.keep if len(text) > rule.keep else len(text)
        return "*" * hidden + text[hidden:]
    return REDACTED


def masked_schema(schema: pa.Schema, rules: Mapping[str, MaskRule]) -> pa.Schema:
    """``schema`` after :func:`mask_table` with ``rules``."""
    return pa.schema(
        [
            pa.field(f.name, f.type if rules[f.name].keeps_type else pa.string())
            if f.name in rules
            else f
            for f in schema
        ]
    )


def mask_table(table: pa.Table, rules: Mapping[str, MaskRule], salt: bytes | None) -> pa.Table:
    """Mask the columns of ``table`` named in ``rules`` (others are untouched)."""
    for name, rule in rules.items():
        if name not in table.column_names:
            continue
        i = table.schema.get_field_index(name)
        column = table.column(i)
        if rule.keeps_type:
            masked = pa.nulls(table.num_rows, column.type)
        else:
            cache: dict[Any, Any] = {}
            values = []
            for v in column.to_pylist():
                key = (type(v), v) if _hashable(v) else None
                if key is None:
                    values.append(mask_value(v, rule, salt))
                    continue
                if key not in cache:
                    cache[key] = mask_value(v, rule, salt)
                values.append(cache[key])
            masked = pa.array(values, pa.string())
        table = table.set_column(i, pa.field(name, masked.type), masked)
    return table


def _hashable(v: Any) -> bool:
    try:
        hash(v)
    except TypeError:
        return False
    return True


def mask_mapping(row: Mapping[str, Any], rules: Mapping[str, MaskRule], salt: bytes | None) -> dict[str, Any]:
    """A row dict with its sensitive fields masked (names matched case-insensitively)."""
    lowered = {k.lower(): r for k, r in rules.items()}
    return {k: (mask_value(v, lowered[k.lower()], salt) if k.lower() in lowered else v) for k, v in row.items()}


def mask_record(text: str, rules: Mapping[str, MaskRule], salt: bytes | None) -> str:
    """A raw record with sensitive fields masked.

    A JSON object keeps its shape with the sensitive fields masked. Any other record (a CSV
    line, broken JSON) cannot be masked field by field, so it is replaced whole by a
    placeholder naming its length — a dead letter then says *that* a record was bad, never
    what personal data it held.
    """
    if not rules:
        return text
    try:
        obj = orjson.loads(text)
    except orjson.JSONDecodeError:
        obj = None
    if isinstance(obj, dict):
        return orjson.dumps(mask_mapping(obj, rules, salt), default=str).decode()
    return f"[masked: unparsable record of {len(text)} characters]"


def sensitive_values(text: str, rules: Mapping[str, MaskRule]) -> list[str]:
    """Text forms of the sensitive fields' values in a JSON-object record (for scrubbing)."""
    try:
        obj = orjson.loads(text)
    except orjson.JSONDecodeError:
        return []
    if not isinstance(obj, dict):
        return []
    lowered = {k.lower() for k in rules}
    return [str(v) for k, v in obj.items() if k.lower() in lowered and v is not None and str(v)]


def scrub_text(
    text: str, rules: Mapping[str, MaskRule], values: Iterable[str] = (), keep: Iterable[str] = ()
) -> str:
    """An error text with personal data removed (for pipelines that declare sensitive columns).

    Known sensitive ``values`` are replaced wherever they occur, and every quoted literal is
    replaced too — parser and SQL engines quote the offending value (``cannot convert
    'ann@x.org' to double``), and a shifted CSV line can put personal data in any column —
    except a column name (quoted right after ``column`` / ``field``) and the identifiers in
    ``keep`` (node and column names of the pipeline), so the message still says where.
    """
    if not rules:
        return text
    for v in sorted(set(values), key=len, reverse=True):
        if len(v) >= 2:
            text = text.replace(v, "[MASKED]")
    kept = {k.lower() for k in keep}

    def sub(m: re.Match[str]) -> str:
        if m.group(1) or m.group(0)[1:-1].lower() in kept:
            return m.group(0)
        return "'[MASKED]'"

    return _LITERAL.sub(sub, text)
