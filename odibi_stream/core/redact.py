"""Keeping secrets out of everything we print or persist: the one redaction layer.

A process-wide registry holds every secret value that config substitution resolved
(``${secret:NAME}``, and ``${env:VAR}`` values marked secret) together with its *reference*
(the unsubstituted template, e.g. ``${secret:DB_PASS}``). The layer that loads a project
registers them (config is pure data). :func:`redact` then rewrites text:

* a whole secret value becomes its reference (``... WHERE pw = '${secret:DB_PASS}'``), or
  ``***`` when it has none — so an error quoting user SQL shows the template, never the value;
* a *fragment* of a secret (4 or more characters) is masked as ``***`` where an echo was cut:
  a prefix right before ``...``/``…``/a line end/the end of the text (DuckDB truncates echoed
  SQL to ``'S3cr3t-XYZ...'``; terminals wrap long lines), a suffix right after such a cut, and a
  whole cut-off segment that lies inside a secret. Fragments must start (prefixes) or end
  (suffixes) at a word boundary, so ordinary words are not eaten from the middle;
* well-known credential patterns (``password=...``, ``AccountKey=...``, URL user-info) are
  masked whatever their value.

Oracles. Masking is itself an oracle when the masked text is predictable: a secret that is a
common word or very short would mask ordinary text and so reveal itself. Such values are never
registered (:data:`MIN_SECRET_LENGTH`, :func:`weak_secret_reason`); the config loader refuses
them as explicit secrets. Outputs never echo request input (the control plane answers fixed
texts), so an attacker cannot probe the registry by submitting candidates.

Persistence. Checkpoint entries keep ranges replayable without holding a secret:
:func:`to_references` turns whole secret values into their references before an entry is
written, :func:`from_references` turns them back after it is read (see
``checkpoints.entries``).

Contract: :func:`register_secrets` is called with a project's secrets right after it is loaded,
before anything of it can reach a log line; registration is thread-safe and permanent for the
process lifetime. Reads take no lock (an immutable snapshot is swapped on registration).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from odibi_stream.core.redact_fragments import Fragments

MASK = "***"

MIN_SECRET_LENGTH = 8
"""Shorter values are never registered: masking them would hide (and reveal) ordinary text."""

MIN_DISTINCT_CHARS = 5

_KEYWORDS = (
    r"password|passwd|pwd|accountkey|account_key|sharedaccesskey|sasl\.password|sasl\.oauthbearer\.config"
    r"|client_secret|secret|token|api_key|apikey|access_key|sig"
)
# ``"password": "x"`` (quoted key: JSON, dict reprs) masks only a quoted value, so a JSON
# document stays valid (``"account_key": {...}`` in a schema is structure, not a secret);
# ``password=x`` / ``password: x`` (bare key) masks the value up to a separator.
_QUOTED_KEY_RE = re.compile(
    rf"(?i)(?P<key>[\"'](?:{_KEYWORDS})[\"']\s*[=:]\s*[\"'])(?P<value>(?!\$\{{)[^\"']+)"
)
_PATTERN_RE = re.compile(
    rf"(?i)(?P<key>(?<!\$\{{)(?<![\"'\w])(?:{_KEYWORDS})\s*[=:]\s*[\"']?)(?P<value>(?![{{\[]|\$\{{)[^;\s,'\"&}}]+)"
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


def weak_secret_reason(value: str) -> str | None:
    """Why ``value`` is too weak to be masked safely (None if it is fine).

    A weak value would mask ordinary text wherever it occurs, and the masking would reveal it.
    """
    if len(value) < MIN_SECRET_LENGTH:
        return f"it is shorter than {MIN_SECRET_LENGTH} characters"
    if value.isalpha():
        return "it is letters only (a word)"
    if value.isdigit():
        return "it is digits only"
    if len(set(value)) < MIN_DISTINCT_CHARS:
        return f"it has fewer than {MIN_DISTINCT_CHARS} distinct characters"
    return None


class _Snapshot:
    """Immutable matching state for one set of registered secrets."""

    def __init__(self, refs: Mapping[str, str | None]) -> None:
        self.refs = dict(refs)
        ordered = sorted(self.refs, key=len, reverse=True)  # a secret containing another wins
        self.whole = re.compile("|".join(re.escape(s) for s in ordered)) if ordered else None
        named = {ref: value for value, ref in self.refs.items() if ref}
        self.by_ref = named
        self.ref_re = (
            re.compile("|".join(re.escape(r) for r in sorted(named, key=len, reverse=True)))
            if named
            else None
        )
        self.fragments = Fragments(ordered)

    def mask_whole(self, match: re.Match[str]) -> str:
        return self.refs.get(match.group(0)) or MASK


class Redactor:
    """A set of secrets and the masking they imply (the process uses one, see :func:`redact`).

    Args:
        secrets: Secret values, or a mapping of value → reference (``${secret:NAME}``).
    """

    def __init__(self, secrets: Iterable[str] | Mapping[str, str] = ()) -> None:
        self._lock = threading.Lock()
        self._snap = _Snapshot({})
        self.add_all(secrets)

    def add(self, value: str | None, reference: str | None = None) -> bool:
        """Register ``value``; False (ignored) if it is empty or too weak to mask safely."""
        if not value or weak_secret_reason(value) is not None:
            return False
        with self._lock:
            refs = self._snap.refs
            if value in refs and (refs[value] or not reference):
                return True
            self._snap = _Snapshot({**refs, value: reference or refs.get(value)})
        return True

    def add_all(self, secrets: Iterable[str] | Mapping[str, str]) -> None:
        """Register every value (with its reference when ``secrets`` is a mapping)."""
        if isinstance(secrets, Mapping):
            for value, ref in secrets.items():
                self.add(value, ref)
        else:
            for value in secrets:
                self.add(value)

    def clear(self) -> None:
        """Forget every secret."""
        with self._lock:
            self._snap = _Snapshot({})

    def __len__(self) -> int:
        return len(self._snap.refs)

    def redact(self, text: str) -> str:
        """``text`` with secrets (whole → reference, fragments → ``***``) and credentials masked."""
        if not text:
            return text
        snap = self._snap
        if snap.whole is not None:
            text = snap.whole.sub(snap.mask_whole, text)
            text = snap.fragments.mask(text, MASK)
        text = _QUOTED_KEY_RE.sub(lambda m: m.group("key") + MASK, text)
        text = _PATTERN_RE.sub(lambda m: m.group("key") + MASK, text)
        return _URL_USERINFO_RE.sub(lambda m: m.group("head") + MASK, text)

    def redact_values(self, text: str) -> str:
        """Like :meth:`redact` without fragment masking: for text a third party chose (records).

        Masking fragments of text an untrusted writer controls would let that writer learn a
        secret piece by piece wherever it can read the result; whole values cannot be guessed.
        """
        if not text:
            return text
        snap = self._snap
        if snap.whole is not None:
            text = snap.whole.sub(snap.mask_whole, text)
        text = _QUOTED_KEY_RE.sub(lambda m: m.group("key") + MASK, text)
        text = _PATTERN_RE.sub(lambda m: m.group("key") + MASK, text)
        return _URL_USERINFO_RE.sub(lambda m: m.group("head") + MASK, text)

    def to_references(self, text: str) -> str:
        """Whole secret values → their references (reversible; see :meth:`from_references`)."""
        snap = self._snap
        if snap.whole is None or not text:
            return text
        return snap.whole.sub(snap.mask_whole, text)

    def from_references(self, text: str) -> str:
        """References of registered secrets → their values (inverse of :meth:`to_references`)."""
        snap = self._snap
        if snap.ref_re is None or "${" not in text:
            return text
        return snap.ref_re.sub(lambda m: snap.by_ref[m.group(0)], text)


_REGISTRY = Redactor()


def register_secret(value: str | None, reference: str | None = None) -> None:
    """Remember ``value`` so :func:`redact` masks it from now on (weak values are ignored)."""
    _REGISTRY.add(value, reference)


def register_secrets(
    values: Iterable[str] | Mapping[str, str], references: Mapping[str, str] | None = None
) -> None:
    """Register a loaded project's secrets (``Project.secrets`` and ``Project.secret_refs``)."""
    refs: dict[str, str] = dict(values) if isinstance(values, Mapping) else {}
    refs.update(references or {})
    for value in values:
        _REGISTRY.add(value, refs.get(value))


def clear_secrets() -> None:
    """Forget all registered secrets (for tests that need a clean registry)."""
    _REGISTRY.clear()


def redact(text: str) -> str:
    """Return ``text`` with registered secrets and credential-looking values masked."""
    return _REGISTRY.redact(text)


def redact_record(text: str) -> str:
    """Redact data a third party wrote (whole secrets and credential patterns, no fragments)."""
    return _REGISTRY.redact_values(text)


def redact_json(value: Any) -> Any:
    """A copy of a JSON-like tree with every string passed through :func:`redact`.

    Keys are structure we wrote (node, column and metric names), never a cut-off echo, so they
    lose only whole secrets: fragment masking would turn a key like ``sink`` into ``***``
    whenever some secret happens to start with that word.
    """
    return _map_strings(value, _REGISTRY.redact, _REGISTRY.redact_values)


def to_references(value: Any) -> Any:
    """A copy of a JSON-like tree with whole secret values replaced by their references."""
    if not len(_REGISTRY):
        return value
    return _map_strings(value, _REGISTRY.to_references)


def from_references(value: Any) -> Any:
    """Inverse of :func:`to_references` for the secrets registered in this process."""
    if not len(_REGISTRY):
        return value
    return _map_strings(value, _REGISTRY.from_references)


def _map_strings(value: Any, fn: Any, key_fn: Any = None) -> Any:
    keys = key_fn or fn
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, Mapping):
        return {
            (keys(k) if isinstance(k, str) else k): _map_strings(v, fn, key_fn)
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return type(value)(_map_strings(v, fn, key_fn) for v in value)
    return value


def is_secret_key(key: str) -> bool:
    """True for option names that hold credentials (``password``, ``account_key``, ``sasl.*``...)."""
    lowered = key.lower()
    if lowered.startswith("sasl.") or any(word in lowered for word in _SECRET_KEY_WORDS):
        return True
    tokens = re.split(r"[._\-\s]+", lowered)
    return "key" in tokens or lowered.endswith("key")


_CREDENTIAL_TOKENS = frozenset(
    {"password", "passwd", "pwd", "secret", "token", "credential", "credentials", "apikey",
     "accountkey", "sas", "passphrase"}
)
_CREDENTIAL_PAIRS = (("api", "key"), ("account", "key"), ("access", "key"), ("private", "key"),
                     ("client", "secret"), ("connection", "string"), ("sas", "token"))


def is_credential_name(name: str) -> bool:
    """True for a variable or key name that clearly names a credential.

    Narrower than :func:`is_secret_key` (no bare ``*key``): ``DB_PASSWORD``, ``API_TOKEN``,
    ``sasl.password``, ``account_key``, ``AZURE_CLIENT_SECRET`` are; ``partition_key`` is not.
    """
    tokens = [t for t in re.split(r"[^a-z0-9]+", name.lower()) if t]
    if any(t in _CREDENTIAL_TOKENS for t in tokens):
        return True
    return any(a in tokens and b in tokens for a, b in _CREDENTIAL_PAIRS)


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
