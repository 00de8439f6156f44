"""Did-you-mean hints: the one place that picks the closest known name for an unknown one."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The choice closest to ``word`` (difflib ratio ≥ 0.6), or None."""
    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return found[0] if found else None


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """``"did you mean 'x'?"`` for the closest choice, or None."""
    match = closest(word, choices)
    return f"did you mean '{match}'?" if match else None


def unknown_name_hint(word: str, choices: Iterable[str], what: str) -> str:
    """A did-you-mean hint, else the list of known ``what`` (``"known pipelines: a, b"``)."""
    known = list(choices)
    return did_you_mean(word, known) or f"known {what}: {', '.join(known) or '(none)'}"
