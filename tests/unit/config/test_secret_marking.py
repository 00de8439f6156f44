"""Which substituted values are secrets, weak secrets refused, and load errors without values.

Issue 17 findings 2 and 3 at the config layer: ``${env:..}`` values were never secrets, short
secrets were silently not masked, and a load error echoed a secret (``unknown connection
'S3cr3t-...'``) before the project — and so its secrets — was ever registered.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from odibi_stream.config.loader import load_project
from odibi_stream.exceptions import ConfigError

SECRET = "S3cr3t-XYZ-123"

PIPELINE = """\
pipeline: p
nodes:
  - name: src
    read: {connection: local, format: csv, path: landing/*.csv, incremental: {mode: files}}
  - name: out
    depends_on: [src]
    transform: {sql: "SELECT * FROM src WHERE pw = '${secret:DB_PASS}'"}
    write: {connection: local, format: delta, path: tables/p}
"""


def project(tmp_path: Path, odibi: str, pipeline: str = PIPELINE) -> Path:
    (tmp_path / "pipelines").mkdir(parents=True, exist_ok=True)
    (tmp_path / "odibi.yaml").write_text(odibi)
    (tmp_path / "pipelines" / "p.yaml").write_text(pipeline)
    return tmp_path


BASE = "project: t\nconnections:\n  local: {type: local, base_path: ./data}\n"


def test_secret_env_and_credential_keys_make_env_values_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DB_PASS", SECRET)
    monkeypatch.setenv("LISTED_VAR", "listed-value-987")
    monkeypatch.setenv("KAFKA_PW", "kafka-pw-value-55")
    monkeypatch.setenv("PLAIN_HOST", "broker-host-01:9092")
    odibi = (
        "project: t\n"
        "secret_env: [LISTED_VAR]\n"
        "connections:\n"
        "  local: {type: local, base_path: ./data}\n"
        "  bus:\n"
        "    type: kafka\n"
        "    options:\n"
        "      bootstrap.servers: ${env:PLAIN_HOST}\n"
        "      sasl.password: ${env:KAFKA_PW}\n"
        "      client.id: ${env:LISTED_VAR}\n"
    )
    loaded = load_project(project(tmp_path, odibi))
    assert loaded.secret_refs == {
        SECRET: "${secret:DB_PASS}",
        "listed-value-987": "${env:LISTED_VAR}",
        "kafka-pw-value-55": "${env:KAFKA_PW}",
    }
    assert "broker-host-01:9092" not in loaded.secrets
    sql_path = ("nodes", 1, "transform", "sql")
    assert loaded.template("p", *sql_path) == "SELECT * FROM src WHERE pw = '${secret:DB_PASS}'"


@pytest.mark.parametrize("weak", ["Xy7q", "password", "12345678"])
def test_weak_explicit_secrets_are_refused_at_their_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, weak: str
) -> None:
    monkeypatch.setenv("DB_PASS", weak)
    with pytest.raises(ConfigError) as info:
        load_project(project(tmp_path, BASE))
    err = info.value
    assert err.line == 7 and err.file is not None and err.file.endswith("p.yaml")
    assert "secret 'DB_PASS' is too weak to be masked safely" in err.message
    assert weak not in str(err) + str(err.hint)


def test_weak_value_under_a_credential_key_is_not_a_secret_and_not_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DB_PASS", SECRET)
    monkeypatch.setenv("DEV_PW", "pw")
    odibi = BASE + "  bus: {type: kafka, options: {bootstrap.servers: 'h:1', sasl.password: '${env:DEV_PW}'}}\n"
    loaded = load_project(project(tmp_path, odibi))
    assert "pw" not in loaded.secrets


def test_load_errors_show_the_reference_never_the_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DB_PASS", SECRET)
    bad = PIPELINE.replace("write: {connection: local", "write: {connection: '${secret:DB_PASS}'")
    bad = bad.replace("incremental: {mode: files}", "incremental: {mode: files}, watermark: {column: t, delay: '${secret:DB_PASS}'}")
    with pytest.raises(ConfigError) as info:
        load_project(project(tmp_path, BASE, bad))
    text = str(info.value) + str(info.value.hint)
    assert "${secret:DB_PASS}" in text
    for k in range(4, len(SECRET) + 1):
        assert SECRET[:k] not in text
