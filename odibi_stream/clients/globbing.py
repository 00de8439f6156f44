"""Glob matching over ``/``-separated names (blob listings), with ``pathlib`` semantics.

``*``, ``?`` and ``[...]`` match within one segment; a ``**`` segment matches any number of
segments (zero included). :func:`glob_base` finds the literal folder to list and whether the
listing must recurse, so a pattern like ``landing/*.csv`` costs one delimiter listing.
"""

from __future__ import annotations

import re

_GLOB_CHARS = frozenset("*?[")


def glob_regex(pattern: str) -> re.Pattern[str]:
    """Compile a glob over ``/``-separated names: ``*``, ``?``, ``[...]`` stay within one
    segment; a ``**`` segment matches any number of segments (as in ``pathlib`` globbing)."""
    parts = [p for p in pattern.strip("/").split("/") if p]
    out = ""
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if part == "**":
            out += ".*" if last else "(?:[^/]+/)*"
        else:
            out += _segment_regex(part) + ("" if last else "/")
    return re.compile(out + r"\Z")


def _segment_regex(seg: str) -> str:
    out, i = "", 0
    while i < len(seg):
        ch = seg[i]
        if ch == "*":
            out += "[^/]*"
        elif ch == "?":
            out += "[^/]"
        elif ch == "[" and (end := seg.find("]", i + 2)) != -1:
            body = seg[i + 1 : end]
            neg = body.startswith("!")
            body = body[1:] if neg else body
            out += "[" + ("^" if neg else "") + body.replace("\\", "\\\\") + "]"
            i = end
        else:
            out += re.escape(ch)
        i += 1
    return out


def glob_base(pattern: str) -> tuple[str, bool]:
    """(literal folder before the first wildcard segment, whether matching must recurse)."""
    parts = [p for p in pattern.strip("/").split("/") if p]
    base: list[str] = []
    for i, part in enumerate(parts):
        if _GLOB_CHARS & set(part):
            return "/".join(base), part == "**" or i < len(parts) - 1
        base.append(part)
    return "/".join(base[:-1]), False  # no wildcard: the file's own folder
