"""Recognising exhausted local resources (a full disk) in any error, whoever raised it.

A full disk is an outage, not a bug: the batch must be retried until space returns. Python
raises ``OSError(ENOSPC)``; native libraries wrap it (delta-rs: ``DeltaError('... No space left
on device (os error 28)')``; pyarrow: ``OSError`` with the text) and keep only the text. So
:func:`out_of_space` looks at the errno of every ``OSError`` in the cause/context chain and, for
errors that carry no errno, at the operating system's own message for it.
"""

from __future__ import annotations

import errno
import os

_CODES = frozenset({errno.ENOSPC, errno.EDQUOT})
_TEXTS = tuple(
    text.lower()
    for code in sorted(_CODES)
    for text in (os.strerror(code), f"(os error {code})")
)


def out_of_space(exc: BaseException) -> bool:
    """True if ``exc`` (or anything in its cause/context chain) is a full disk or quota."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in _CODES:
            return True
        text = str(current).lower()
        if any(t in text for t in _TEXTS):
            return True
        current = current.__cause__ or current.__context__ or getattr(current, "cause", None)
    return False
