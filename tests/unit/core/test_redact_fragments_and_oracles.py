"""Issue 17 finding 3: redaction was whole-string only.

A secret echoed truncated (DuckDB: ``'S3cr3t-XYZ...'``) or wrapped over two lines reached
logs and the API; ``${env:..}`` values were never redacted; a short or common-word secret masked
ordinary text and so revealed itself. Each test fails on the old ``core.redact``.
"""

from __future__ import annotations

from collections.abc import Iterator

import duckdb
import pytest

from odibi_stream.core.redact import (
    Redactor,
    clear_secrets,
    from_references,
    redact,
    redact_json,
    register_secret,
    to_references,
)
from odibi_stream.core.redact_fragments import MIN_FRAGMENT

SECRET = "S3cr3t-XYZ-123"


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    clear_secrets()
    yield
    clear_secrets()


def fragments(secret: str) -> list[str]:
    """Every prefix and suffix of ``secret`` with at least 4 characters, and ``secret``."""
    n = len(secret)
    return [secret[:k] for k in range(MIN_FRAGMENT, n + 1)] + [secret[n - k :] for k in range(MIN_FRAGMENT, n)]


def duckdb_truncated_echo(secret: str) -> str:
    """A real DuckDB error whose echoed query is cut inside ``secret`` (``'S3cr3t-XY...``)."""
    con = duckdb.connect()
    try:
        for pad in range(20, 200):
            query = f"SELECT nope, {'x' * pad} AS a, '{secret}' AS b, {'y' * 100} AS c FROM range(1)"
            try:
                con.execute(query)
            except duckdb.Error as exc:
                text = str(exc)
                if secret not in text and f"'{secret[:MIN_FRAGMENT + 4]}" in text:
                    return text
    finally:
        con.close()
    raise AssertionError("DuckDB never cut the secret at 8+ characters")


def test_truncated_duckdb_echo_is_masked() -> None:
    register_secret(SECRET, "${secret:DB_PASS}")
    text = duckdb_truncated_echo(SECRET)
    out = redact(text)
    assert "'***..." in out
    for frag in fragments(SECRET):
        assert frag not in out


def test_whole_secret_becomes_its_reference_and_wrapped_halves_are_masked() -> None:
    register_secret(SECRET, "${secret:DB_PASS}")
    assert redact(f"LINE 1: SELECT * FROM src WHERE = '{SECRET}'") == (
        "LINE 1: SELECT * FROM src WHERE = '${secret:DB_PASS}'"
    )
    wrapped = f"auth failed for '{SECRET[:8]}\n{SECRET[8:]}' (retrying)"  # a terminal wrap
    out = redact(wrapped)
    assert SECRET[:8] not in out and SECRET[8:] not in out
    cut_left = f"...{SECRET[5:]}' is not a valid token"
    assert SECRET[5:] not in redact(cut_left)


def test_ordinary_text_is_untouched_so_masking_reveals_nothing() -> None:
    register_secret(SECRET)
    # Fragments inside ordinary words, and the secret's 4-character pieces mid-sentence, stay.
    text = "batch-1234 wrote S3cra rows; XYZ-12 is a part number; 3cr3 in the middle"
    assert redact(text) == text


@pytest.mark.parametrize("weak", ["orange", "password", "admin", "12345678", "aaaaaaab", "pw"])
def test_short_or_common_secrets_are_never_registered(weak: str) -> None:
    register_secret(weak)
    text = f"the {weak} is here"
    assert redact(text) == text  # no masking of ordinary text: no oracle
    assert len(Redactor([weak])) == 0


def test_references_round_trip_for_persisted_entries() -> None:
    register_secret(SECRET, "${secret:DB_PASS}")
    doc = {"files": [{"path": f"landing/{SECRET}/a.csv"}], "n": 1}
    stored = to_references(doc)
    assert SECRET not in str(stored) and "${secret:DB_PASS}" in str(stored)
    assert from_references(stored) == doc


def test_json_documents_stay_valid() -> None:
    register_secret(SECRET)
    doc = '{"account_key": {"type": "string"}, "token": null, "password": "x1"}'
    assert redact(doc) == '{"account_key": {"type": "string"}, "token": null, "password": "***"}'


def test_json_keys_lose_whole_secrets_only() -> None:
    # A secret that starts with a word (``sink``) must not turn a report's ``sink`` key into
    # ``***``: keys are our own names, never a cut-off echo. A whole secret as a key still goes.
    register_secret("sinkS3cr3t-42", "${secret:SINK}")
    report = {"sink": {"v": 4}, "sinkS3cr3t-42": 1, "error": "cut at sink"}
    assert redact_json(report) == {"sink": {"v": 4}, "${secret:SINK}": 1, "error": "cut at ***"}
