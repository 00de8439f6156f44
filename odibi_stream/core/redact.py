"""Keeping secrets out of everything we print or persist.

A process-wide registry holds every secret value that config substitution resolved
(``${secret:NAME}``); the layer that loads a project registers them (config is pure data). :func:`redact` replaces those values, and a few well-known credential
patterns (``password=...``, ``AccountKey=...``, ``SharedAccessKey=...``, URL user-info), with
``***``. The logging filter, error presentation, stories and checkpoint writers call it.

Contract: :func:`register_secrets` is called with a project's secrets right after it is loaded,
before anything of it can reach a log line; registration is thread-safe and permanent for the process lifetime.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any

MASK = "***"

# Shorter values would mask ordinary words and digits all over the logs; credentials that
# short offer no protection anyway.
MIN_SECRET_LENGTH = 4

_lock = threading.Lock()
_secrets: set[str] = set()
_secret_re: re.Pattern[str] | None = None

_KEYWORDS = (
    r"password|passwd|pwd|accountkey|account_key|sharedaccesskey|sasl\.password|sasl\.oauthbearer\.config"
    r"|client_secret|secret|token|api_key|apikey|access_key|sig"
)
_PATTERN_RE = re.compile(
    rf"(?i)(?P<key>\b(?:{_KEYWORDS})[\"']?\s*[=:]\s*[\"']?)(?P<value>[^;\s,'\"&}}]+)"
)
_URL_USERINFO_RE = re.compile(
    r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]+:)(?P<value>[^@\s/]+)(?=@)"
)

_SECRET_KEY_WORDS = (
    "password",
    "passwd",
    "secret",
    "token",
    "connection_string",
    "connectionstring",
    "credential",
)


def register_secret(value: str | None) -> None:
    """Remember ``value`` so :func:`redact` masks it from now on (ignores very short values)."""
    global _secret_re
    if not value or len(value) < MIN_SECRET_LENGTH:
        return
    with _lock:
        if value in _secrets:
            return
        _secrets.add(value)
        # Longest first so a secret containing another secret is masked whole.
        ordered = sorted(_secrets, key=len, reverse=True)
        _secret_re = re.compile("|".join(re.escape(s) for s in ordered))


def register_secrets(values: Iterable[str]) -> None:
    """Register every value of ``values`` (a loaded project's ``secrets``)."""
    for value in values:
        register_secret(value)


def clear_secrets() -> None:
    """Forget all registered secrets (for tests that need a clean registry)."""
    global _secret_re
    with _lock:
        _secrets.clear()
        _secret_re = None


def redact(text: str) -> str:
    """Return ``text`` with registered secrets and credential-looking values replaced by ``***``."""
    if not text:
        return text
    pattern = _secret_re
    if pattern is not None:
        text = pattern.sub(MASK, text)
    text = _PATTERN_RE.sub(lambda m: m.group("key") + MASK, text)
    return _URL_USERINFO_RE.sub(lambda m: m.group("head") + MASK, text)


def is_secret_key(key: str) -> bool:
    """True for option names that hold credentials (``password``, ``account_key``, ``sasl.*``...)."""
    lowered = key.lower()
    if lowered.startswith("sasl.") or any(word in lowered for word in _SECRET_KEY_WORDS):
        return True
    tokens = re.split(r"[._\-\s]+", lowered)
    return "key" in tokens or lowered.endswith("key")


def redact_mapping(data: Mapping[str, Any]) -> dict[str, Any]:
    """Copy ``data`` with values under secret-ish keys masked, recursively; strings are redacted."""
    return {
        key: (MASK if is_secret_key(str(key)) else _redact_value(value))
        for key, value in data.items()
    }


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return redact_mapping(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_redact_value(v) for v in value)
    return value
