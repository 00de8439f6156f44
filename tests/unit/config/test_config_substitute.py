"""${env:..} / ${secret:..} substitution."""

from __future__ import annotations

from pathlib import Path

import pytest

from odibi_stream.config.substitute import SECRETS_DIR_VAR, substitute
from odibi_stream.config.yamlpos import parse_yaml
from odibi_stream.core.redact import redact, register_secrets
from odibi_stream.exceptions import ConfigError

TEXT = """\
name: ${env:NAME}
nested:
  url: "https://${env:HOST}:${env:PORT:-8080}/x"
  list:
    - plain
    - ${env:ITEM:-fallback}
  empty_default: "${env:NOPE:-}"
  literal: "$${env:NOT_A_REF}"
number: 3
"""


def _sub(text: str, environ: dict[str, str], secrets: set[str] | None = None) -> object:
    doc = parse_yaml(text, "f.yaml")
    return substitute(doc.data, file="f.yaml", lines=doc.lines, environ=environ, secrets=secrets)


def test_whole_embedded_default_and_literal() -> None:
    out = _sub(TEXT, {"NAME": "n1", "HOST": "h", "ITEM": "it"})
    assert out == {
        "name": "n1",
        "nested": {
            "url": "https://h:8080/x",
            "list": ["plain", "it"],
            "empty_default": "",
            "literal": "${env:NOT_A_REF}",
        },
        "number": 3,
    }


def test_set_variable_wins_over_default() -> None:
    out = _sub("a: ${env:PORT:-8080}\n", {"PORT": "9"})
    assert out == {"a": "9"}


def test_missing_env_var_reports_line_and_hint() -> None:
    with pytest.raises(ConfigError) as info:
        _sub(TEXT, {"NAME": "n1"})
    err = info.value
    assert (err.file, err.line) == ("f.yaml", 3)
    assert "'HOST' is not set" in err.message
    assert err.hint == "export HOST=... or use ${env:HOST:-default}"


def test_missing_env_var_in_list_item_reports_item_line() -> None:
    with pytest.raises(ConfigError) as info:
        _sub("a:\n  - x\n  - ${env:MISSING_ONE}\n", {})
    assert info.value.line == 3


def test_unknown_reference_kind() -> None:
    with pytest.raises(ConfigError) as info:
        _sub("a: 1\nb: ${vault:X}\n", {})
    assert info.value.line == 2
    assert "unknown reference kind 'vault'" in info.value.message


def test_secret_from_environment_is_collected_not_registered() -> None:
    found: set[str] = set()
    out = _sub("key: ${secret:SUB_SECRET_A}\n", {"SUB_SECRET_A": "hunter2-from-env"}, found)
    assert out == {"key": "hunter2-from-env"}
    assert found == {"hunter2-from-env"}
    # Config is pure data: nothing is masked until the loading layer registers the values.
    assert redact("with hunter2-from-env") == "with hunter2-from-env"
    register_secrets(found)
    assert redact("connecting with hunter2-from-env now") == "connecting with *** now"


def test_secret_from_secrets_dir_file(tmp_path: Path) -> None:
    (tmp_path / "db-password").write_text("s3cr3t-from-file\n")
    found: set[str] = set()
    out = _sub("pw: ${secret:db-password}\n", {SECRETS_DIR_VAR: str(tmp_path)}, found)
    assert out == {"pw": "s3cr3t-from-file"}
    assert found == {"s3cr3t-from-file"}


def test_environment_wins_over_secrets_dir(tmp_path: Path) -> None:
    (tmp_path / "TOK").write_text("file-value-xyz")
    out = _sub("t: ${secret:TOK}\n", {"TOK": "env-value-xyz", SECRETS_DIR_VAR: str(tmp_path)})
    assert out == {"t": "env-value-xyz"}


def test_missing_secret_names_it_but_no_value(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        _sub("x: 1\npw: ${secret:ABSENT}\n", {SECRETS_DIR_VAR: str(tmp_path)})
    err = info.value
    assert err.line == 2
    assert "secret 'ABSENT' was not found" in err.message
    assert err.hint is not None and str(tmp_path / "ABSENT") in err.hint


def test_skip_leaves_subtree_unresolved() -> None:
    doc = parse_yaml("a: ${env:A1}\nenvironments:\n  prod:\n    a: ${env:UNSET_PROD}\n", "f.yaml")
    out = substitute(
        doc.data,
        file="f.yaml",
        lines=doc.lines,
        environ={"A1": "v"},
        skip=lambda p: p[:1] == ("environments",),
    )
    assert out == {"a": "v", "environments": {"prod": {"a": "${env:UNSET_PROD}"}}}


def test_input_is_not_modified() -> None:
    doc = parse_yaml("a: ${env:A2}\n", "f.yaml")
    substitute(doc.data, file="f.yaml", lines=doc.lines, environ={"A2": "v"})
    assert doc.data == {"a": "${env:A2}"}
