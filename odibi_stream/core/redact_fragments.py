"""Masking fragments of secrets where an echo of them was cut (used by :mod:`core.redact`).

Libraries truncate what they echo (DuckDB: ``'S3cr3t-XYZ...'``; pydantic: ``'S3cr3t-XY...'``)
and terminals wrap long lines, so a secret can reach an output in pieces. The text is split at
*cuts* — ``...``, ``…``, line breaks, table borders, and the start and end of the text — and
in each piece
between two cuts (surrounding whitespace ignored):

* a piece that lies wholly inside a secret (4+ characters) is masked;
* a trailing *prefix* of a secret (4+ characters) that starts at a word boundary is masked;
* a leading *suffix* of a secret (4+ characters) that ends at a word boundary is masked.

Fragments are never looked for in the middle of a piece: a secret's four-letter substring
inside an ordinary word ("tion" in "information") is not masked, which keeps the masking from
both eating ordinary text and revealing which substrings the secret has.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

MIN_FRAGMENT = 4
"""Shortest fragment of a secret that is masked."""

MAX_INDEXED = 512
"""Longest prefix/suffix indexed per secret (keeps the index small for very long secrets)."""

# Box-drawing characters cut too: a table cell wraps its text inside borders.
_CUT_RE = re.compile(r"\.\.\.|\u2026|\r?\n|[\u2500-\u257f]")


def _is_word(char: str) -> bool:
    return char.isalnum() or char == "_"


class Fragments:
    """Fragment indexes of a set of secrets (immutable).

    Args:
        secrets: The secret values.
    """

    def __init__(self, secrets: Sequence[str]) -> None:
        self.secrets = tuple(secrets)
        self.longest = max((len(s) for s in self.secrets), default=0)
        prefixes: dict[str, set[str]] = {}
        suffixes: dict[str, set[str]] = {}
        for secret in self.secrets:
            n = len(secret)
            for k in range(MIN_FRAGMENT, min(n, MAX_INDEXED + 1)):
                head, tail = secret[:k], secret[n - k :]
                prefixes.setdefault(head[-MIN_FRAGMENT:], set()).add(head)
                suffixes.setdefault(tail[:MIN_FRAGMENT], set()).add(tail)
        # Longest first: the first fragment that fits is the one to mask.
        self._prefixes = {k: sorted(v, key=len, reverse=True) for k, v in prefixes.items()}
        self._suffixes = {k: sorted(v, key=len, reverse=True) for k, v in suffixes.items()}

    def mask(self, text: str, mask: str) -> str:
        """``text`` with every cut-off fragment of a secret replaced by ``mask``."""
        if not self.secrets or len(text) < MIN_FRAGMENT:
            return text
        out: list[str] = []
        pos = 0
        for cut in _CUT_RE.finditer(text):
            out.append(self._piece(text[pos : cut.start()], mask))
            out.append(cut.group(0))
            pos = cut.end()
        out.append(self._piece(text[pos:], mask))
        return "".join(out)

    def _piece(self, piece: str, mask: str) -> str:
        start = len(piece) - len(piece.lstrip())
        end = len(piece.rstrip())
        core = piece[start:end]
        if len(core) < MIN_FRAGMENT:
            return piece
        if len(core) <= self.longest and any(core in s for s in self.secrets):
            return piece[:start] + mask + piece[end:]
        head = self._leading_suffix(core)
        tail = self._trailing_prefix(core, head)
        if head == 0 and tail == len(core):
            return piece
        body = (mask if head else "") + core[head:tail] + (mask if tail < len(core) else "")
        return piece[:start] + body + piece[end:]

    def _leading_suffix(self, core: str) -> int:
        """Length of the secret suffix ``core`` starts with (0 if none)."""
        for frag in self._suffixes.get(core[:MIN_FRAGMENT], ()):
            n = len(frag)
            if core.startswith(frag) and (n == len(core) or not _is_word(core[n])):
                return n
        return 0

    def _trailing_prefix(self, core: str, after: int) -> int:
        """Where the secret prefix ``core`` ends with starts (``len(core)`` if none)."""
        for frag in self._prefixes.get(core[-MIN_FRAGMENT:], ()):
            at = len(core) - len(frag)
            if at >= after and core.endswith(frag) and (at == 0 or not _is_word(core[at - 1])):
                return at
        return len(core)
