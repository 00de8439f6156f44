"""Secret redaction and the logging setup (text and JSON)."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from odibi_stream.core.redact import redact, redact_mapping, register_secret
from odibi_stream.exceptions import ConfigError
from odibi_stream.observability.logs import configure_logging, get_logger

SECRET = "p4ss-w0rd-registered-xyz"


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    logger = logging.getLogger("odibi_stream")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield
    logger.handlers[:] = saved[0]
    logger.setLevel(saved[1])
    logger.propagate = saved[2]


def test_registered_values_and_patterns_are_masked() -> None:
    register_secret(SECRET)
    register_secret("ab")  # too short to mask safely: ignored
    assert redact(f"x {SECRET} y") == "x *** y"
    assert redact("tab and crab") == "tab and crab"
    conn = "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=abc/def==;EndpointSuffix=x"
    assert (
        redact(conn)
        == "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=***;EndpointSuffix=x"
    )
    assert redact("Endpoint=sb://h/;SharedAccessKeyName=n;SharedAccessKey=zzz") == (
        "Endpoint=sb://h/;SharedAccessKeyName=n;SharedAccessKey=***"
    )
    assert redact('{"sasl.password": "hidden1"}') == '{"sasl.password": "***"}'
    assert redact("password=hunter2 user=bob") == "password=*** user=bob"
    assert redact("postgres://bob:hunter3@db:5432/x") == "postgres://bob:***@db:5432/x"


def test_redact_mapping() -> None:
    register_secret(SECRET)
    data = {
        "account_key": "k1",
        "sasl.username": "u",
        "token": "t",
        "connection_string": "cs",
        "merge_keys": ["id"],
        "nested": {"password": "p", "note": f"has {SECRET}"},
        "path": "tables/x",
    }
    assert redact_mapping(data) == {
        "account_key": "***",
        "sasl.username": "***",
        "token": "***",
        "connection_string": "***",
        "merge_keys": ["id"],
        "nested": {"password": "***", "note": "has ***"},
        "path": "tables/x",
    }


def test_json_logs_are_redacted_one_object_per_line() -> None:
    register_secret(SECRET)
    out = io.StringIO()
    configure_logging("json", "debug", stream=out)
    configure_logging("json", "debug", stream=out)  # idempotent: still one handler
    log = get_logger("odibi_stream.test")
    log.info("connecting with %s", SECRET, extra={"pipeline": "orders", "password": "pw-extra"})
    try:
        raise RuntimeError(f"boom {SECRET}")
    except RuntimeError:
        log.exception("failed")
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["msg"] == "connecting with ***"
    assert first["level"] == "INFO" and first["logger"] == "odibi_stream.test"
    assert first["pipeline"] == "orders" and first["password"] == "***"
    assert first["ts"].endswith("+00:00")
    assert "boom ***" in second["exc"]
    assert SECRET not in out.getvalue()


def test_text_logs_are_redacted_plain_and_rich() -> None:
    register_secret(SECRET)
    for rich in (False, True):
        out = io.StringIO()
        configure_logging("text", "INFO", stream=out, rich=rich)
        get_logger("runner").warning("key is %s; AccountKey=abc123", SECRET)
        get_logger("runner").debug("not shown")
        text = out.getvalue()
        assert "key is ***; AccountKey=***" in text
        assert SECRET not in text and "abc123" not in text
        assert "not shown" not in text
    assert get_logger("runner").name == "odibi_stream.runner"
    assert (
        len(
            [
                h
                for h in logging.getLogger("odibi_stream").handlers
                if getattr(h, "_odibi_stream_handler", False)
            ]
        )
        == 1
    )


def test_bad_level_or_format() -> None:
    with pytest.raises(ConfigError):
        configure_logging("text", "LOUD")
    with pytest.raises(ConfigError):
        configure_logging("xml", "INFO")


def test_secret_from_config_never_reaches_log_output_of_a_real_process(tmp_path: Path) -> None:
    secret_dir = tmp_path / "secrets"
    secret_dir.mkdir()
    (secret_dir / "KAFKA_PW").write_text("kafka-secret-value-42\n")
    root = tmp_path / "proj"
    (root / "pipelines").mkdir(parents=True)
    (root / "odibi.yaml").write_text(
        "project: p\nconnections:\n  bus:\n    type: kafka\n    options:\n"
        "      bootstrap.servers: localhost:9092\n      sasl.password: ${secret:KAFKA_PW}\n"
    )
    (root / "pipelines" / "a.yaml").write_text(
        "pipeline: a\nnodes:\n  - name: n\n    read: {connection: bus, format: kafka, topic: t}\n"
    )
    script = textwrap.dedent(
        f"""
        from odibi_stream import load_project  # the public loader registers secrets
        from odibi_stream.observability.logs import configure_logging, get_logger
        import sys
        configure_logging(sys.argv[1], "INFO")
        project = load_project({str(root)!r})
        options = project.config.connections["bus"].kafka_options().client_config()
        value = options["sasl.password"]
        get_logger("x").info("resolved %s", value, extra={{"options": options}})
        """
    )
    for fmt in ("json", "text"):
        env = {"ODIBI_SECRETS_DIR": str(secret_dir), "PATH": "/usr/bin:/bin"}
        proc = subprocess.run(
            [sys.executable, "-c", script, fmt],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        assert "resolved ${secret:KAFKA_PW}" in proc.stderr  # the reference, never the value
        assert "kafka-secret-value-42" not in proc.stderr
        if fmt == "json":
            assert json.loads(proc.stderr.strip())["options"] == {
                "bootstrap.servers": "localhost:9092",
                "sasl.password": "***",
            }
