"""Personal data: masks before non-sensitive sinks, in dead letters and error texts; config checks."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pyarrow as pa
import pytest

from odibi_stream.config.loader import load_project
from odibi_stream.core.masks import REDACTED, MaskRule, mask_record, mask_table, scrub_text
from odibi_stream.exceptions import BatchFailed, ConfigError
from odibi_stream.runtime.compile import compile_pipeline
from tests.conftest import land, write_project
from tests.unit.runtime.helpers import delta_rows, runner

SALT = "pepper-for-tests-0123"

PIPELINE = """\
pipeline: people
on_error: dead_letter
dead_letter: {connection: local, path: lake/dlq, format: delta}
pii: {salt: "${secret:PII_SALT}"}
nodes:
  - name: raw
    read: {connection: local, format: jsonl, path: in/*.jsonl,
           options: {schema: {id: int64, email: string, ssn: string, phone: string, age: int64}},
           incremental: {mode: files, settle_seconds: 0}}
    columns:
      email: {sensitive: true, mask: hash}
      ssn: {sensitive: true, mask: keep_last(4)}
      phone: {sensitive: true, mask: redact}
      age: {sensitive: true, mask: "null"}
    checks: [{name: adult, expr: "age >= 18"}]
  - name: masked
    depends_on: [raw]
    write: {connection: local, format: delta, path: lake/masked, mode: merge, merge: {keys: [email]}}
  - name: vault
    depends_on: [raw]
    write: {connection: local, format: delta, path: lake/vault, sensitive: true}
"""

ROWS = [
    {"id": 1, "email": "ann@example.org", "ssn": "123-45-6789", "phone": "+1-555-0101", "age": 30},
    {"id": 2, "email": "bob@example.org", "ssn": "987-65-4321", "phone": "+1-555-0102", "age": 12},
]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PII_SALT", SALT)
    return write_project(tmp_path / "p", {"people": PIPELINE})


def _h(value: str) -> str:
    return hmac.new(SALT.encode(), value.encode(), hashlib.sha256).hexdigest()


def test_masks_apply_before_non_sensitive_sinks_and_in_dead_letters(project: Path) -> None:
    lines = [json.dumps(r) for r in ROWS] + ['{"id": 3, "email": "cy@example.org", "age": "cy@example.org"}', "{broken carl@example.org"]
    land(project / "data" / "in", "a.jsonl", "\n".join(lines) + "\n")
    report = runner(project, "people").run_batch()
    assert report is not None and report.rejected == 3
    masked = delta_rows(project / "data" / "lake" / "masked")
    assert masked == [{"id": 1, "email": _h("ann@example.org"), "ssn": "*******6789", "phone": REDACTED, "age": None}]
    vault = delta_rows(project / "data" / "lake" / "vault")
    assert [r["email"] for r in vault] == ["ann@example.org"], "the sensitive sink keeps raw values"
    dead = delta_rows(project / "data" / "lake" / "dlq")
    text = json.dumps(dead, default=str)
    for raw in ("bob@example.org", "987-65-4321", "+1-555-0102", "cy@example.org", "carl@example.org"):
        assert raw not in text, raw
    checked = next(d for d in dead if "adult" in d["_odibi_error"])
    assert json.loads(checked["_odibi_record"])["email"] == _h("bob@example.org")
    assert any(d["_odibi_record"].startswith("[masked: unparsable record") for d in dead)


def test_hash_needs_a_salt_from_a_secret(project: Path) -> None:
    (project / "pipelines" / "people.yaml").write_text(PIPELINE.replace('"${secret:PII_SALT}"', "literal-salt"))
    with pytest.raises(ConfigError, match=r"\$\{secret:NAME\} reference") as err:
        compile_pipeline(load_project(project), "people")
    assert err.value.location().endswith("people.yaml:4")
    (project / "pipelines" / "people.yaml").write_text(PIPELINE.replace('pii: {salt: "${secret:PII_SALT}"}\n', ""))
    with pytest.raises(ConfigError, match=r"has no pii\.salt"):
        compile_pipeline(load_project(project), "people")


def test_a_merge_key_masked_by_redact_is_refused(project: Path) -> None:
    (project / "pipelines" / "people.yaml").write_text(PIPELINE.replace("merge: {keys: [email]}", "merge: {keys: [phone]}"))
    with pytest.raises(ConfigError, match=r"merges by key\(s\) \['phone'\]"):
        compile_pipeline(load_project(project), "people")


def test_a_fail_policy_error_does_not_quote_personal_data(project: Path) -> None:
    (project / "pipelines" / "people.yaml").write_text(PIPELINE.replace("on_error: dead_letter", "on_error: fail"))
    land(project / "data" / "in", "a.jsonl", '{"id": 3, "email": "dee@example.org", "age": "dee@example.org"}\n')
    with pytest.raises(BatchFailed) as err:
        runner(project, "people").run_batch()
    assert "dee@example.org" not in str(err.value)
    assert "field 'age': cannot convert '[MASKED]'" in str(err.value)


def test_mask_functions() -> None:
    rules = {"email": MaskRule.parse("hash"), "ssn": MaskRule.parse("keep_last(4)"), "n": MaskRule.parse("null")}
    table = mask_table(pa.table({"email": ["a", None], "ssn": ["123", "12345"], "n": pa.array([1, 2], pa.int32())}), rules, b"k")
    assert table.to_pylist() == [
        {"email": hmac.new(b"k", b"a", hashlib.sha256).hexdigest(), "ssn": "***", "n": None},
        {"email": None, "ssn": "*2345", "n": None},
    ]
    assert table.schema.field("n").type == pa.int32()
    hashed = hmac.new(b"k", b"x@y.z", hashlib.sha256).hexdigest()
    assert json.loads(mask_record('{"EMAIL": "x@y.z", "k": 1}', rules, b"k")) == {"EMAIL": hashed, "k": 1}
    assert mask_record("1,x@y.z", rules, b"k") == "[masked: unparsable record of 7 characters]"
    assert scrub_text("column 'amount': cannot convert 'x@y.z' to double", rules) == "column 'amount': cannot convert '[MASKED]' to double"
    with pytest.raises(ValueError):
        MaskRule.parse("keep_first(2)")
