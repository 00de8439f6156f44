"""Typed options: a typo'd option is a config error at its line with a did-you-mean hint.

Each case writes a real project whose one mistake sits on a known line, loads it, and checks
the error's file, line, message and hint (the same path ``validate``, ``run`` and ``serve`` take).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from odibi_stream.config.loader import load_project
from odibi_stream.config.models import ReadConfig, TriggerConfig, WriteConfig
from odibi_stream.config.options import (
    CsvReadOptions,
    JsonReadOptions,
    KafkaConnectionOptions,
    KafkaReadOptions,
    OptionsError,
    coerce_options,
)
from odibi_stream.exceptions import ConfigError

ODIBI = """\
project: p
connections:
  local: {type: local, base_path: data}
  bus: {type: kafka, options: {bootstrap.servers: "x:1"}}
"""

PIPELINE_HEAD = """\
pipeline: a
trigger: {manual: {}}
nodes:
"""


def _errors(tmp_path: Path, pipeline: str, odibi: str = ODIBI) -> list[ConfigError]:
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "odibi.yaml").write_text(textwrap.dedent(odibi))
    (tmp_path / "pipelines" / "a.yaml").write_text(textwrap.dedent(pipeline))
    with pytest.raises(ConfigError) as info:
        load_project(tmp_path)
    return list(getattr(info.value, "errors", [info.value]))


def _node(body: str) -> str:
    return PIPELINE_HEAD + textwrap.indent(textwrap.dedent(body), "  ")


# (case id, pipeline text, line of the typo, message part, hint part)
PIPELINE_TYPOS = [
    (
        "csv read",
        _node("""\
        - name: n
          read:
            connection: local
            format: csv
            path: in/*.csv
            options:
              header: false
              delimter: ";"
        """),
        11, "unknown key 'delimter' in nodes[0].read.options", "did you mean 'delimiter'?",
    ),
    (
        "json read",
        _node("""\
        - name: n
          read: {connection: local, format: jsonl, path: in,
                 options: {schmea: {a: int}}}
        """),
        6, "unknown key 'schmea'", "did you mean 'schema'?",
    ),
    (
        "kafka read",
        _node("""\
        - name: n
          read:
            connection: bus
            format: kafka
            topic: t
            options:
              value_format: json
              startng: latest
        """),
        11, "unknown key 'startng' in nodes[0].read.options", "did you mean 'starting'?",
    ),
    (
        "eventhub read",
        _node("""\
        - name: n
          read:
            connection: bus
            format: eventhub
            topic: hub
            options: {consumer_grup: $Default}
        """),
        9, "unknown key 'consumer_grup'", "did you mean 'consumer_group'?",
    ),
    (
        "parquet read takes none",
        _node("""\
        - name: n
          read:
            connection: local
            format: parquet
            path: t
            options:
              header: true
        """),
        10, "unknown key 'header' in nodes[0].read.options", "nodes[0].read.options takes no keys",
    ),
    (
        "csv write",
        _node("""\
        - name: n
          read: {connection: local, format: delta, path: t}
          write:
            connection: local
            format: csv
            path: out
            options:
              headers: false
        """),
        11, "unknown key 'headers' in nodes[0].write.options", "did you mean 'header'?",
    ),
    (
        "parquet write",
        _node("""\
        - name: n
          read: {connection: local, format: delta, path: t}
          write: {connection: local, format: parquet, path: out, options: {compresion: zstd}}
        """),
        6, "unknown key 'compresion'", "did you mean 'compression'?",
    ),
    (
        "kafka write",
        _node("""\
        - name: n
          read: {connection: local, format: delta, path: t}
          write:
            connection: bus
            format: kafka
            topic: out
            options:
              key_colum: id
        """),
        11, "unknown key 'key_colum' in nodes[0].write.options", "did you mean 'key_column'?",
    ),
    (
        "delta write takes none",
        _node("""\
        - name: n
          read: {connection: local, format: delta, path: t}
          write:
            connection: local
            format: delta
            path: out
            options: {mergeSchema: true}
        """),
        10, "unknown key 'mergeSchema'", "takes no keys",
    ),
    (
        "kafka trigger",
        """\
        pipeline: a
        trigger:
          kafka: {poll_secnds: 1}
        nodes:
          - name: n
            read: {connection: bus, format: kafka, topic: t}
        """,
        3, "unknown key 'poll_secnds' in trigger.kafka", "did you mean 'poll_seconds'?",
    ),
    (
        "continuous trigger",
        """\
        pipeline: a
        trigger: {continuous: {pol_seconds: 1}}
        nodes:
          - name: n
            read: {connection: local, format: delta, path: t}
        """,
        2, "unknown key 'pol_seconds' in trigger.continuous", "did you mean 'poll_seconds'?",
    ),
    (
        "manual trigger takes none",
        """\
        pipeline: a
        trigger:
          manual:
            every: 5s
        nodes:
          - name: n
            read: {connection: local, format: delta, path: t}
        """,
        4, "unknown key 'every' in trigger.manual", "trigger.manual takes no keys",
    ),
]


@pytest.mark.parametrize(
    ("text", "line", "message", "hint"),
    [case[1:] for case in PIPELINE_TYPOS],
    ids=[case[0] for case in PIPELINE_TYPOS],
)
def test_a_typo_in_options_is_an_error_at_its_line_with_a_hint(
    tmp_path: Path, text: str, line: int, message: str, hint: str
) -> None:
    errors = _errors(tmp_path, text)
    assert len(errors) == 1, [str(e) for e in errors]
    error = errors[0]
    assert error.file is not None and error.file.endswith("a.yaml")
    assert error.line == line, str(error)
    assert message in error.message
    assert error.hint is not None and hint in error.hint


def test_a_bad_option_value_is_an_error_at_its_line(tmp_path: Path) -> None:
    errors = _errors(
        tmp_path,
        _node("""\
        - name: n
          read:
            connection: bus
            format: kafka
            topic: t
            options:
              on_data_loss: ignore
              schema: {id: integr}
        """),
    )
    found = {e.line: e for e in errors}
    assert set(found) == {10, 11}, [str(e) for e in errors]
    assert "on_data_loss: Input should be 'fail' or 'skip_with_report'" in found[10].message
    assert "unknown type 'integr'" in found[11].message
    assert found[11].hint is not None and "integer" in found[11].hint


def test_project_file_option_typos_are_errors_at_their_line(tmp_path: Path) -> None:
    odibi = """\
    project: p
    connections:
      bus:
        type: kafka
        options:
          bootstrap.servers: x:1
          sasl.pasword: ${env:HOME}
    spark:
      mastr: local[2]
    """
    pipeline = _node("""\
    - name: n
      read: {connection: bus, format: kafka, topic: t}
    """)
    errors = {e.line: e for e in _errors(tmp_path, pipeline, odibi)}
    assert set(errors) == {7, 9}, [str(e) for e in errors.values()]
    assert "unknown key 'sasl.pasword' in connections.bus.options" in errors[7].message
    assert errors[7].hint == "did you mean 'sasl.password'?"
    assert "unknown key 'mastr' in spark" in errors[9].message
    assert errors[9].hint == "did you mean 'master'?"


def test_a_kafka_connection_needs_bootstrap_servers_at_load(tmp_path: Path) -> None:
    odibi = """\
    project: p
    connections:
      bus:
        type: kafka
        options: {client.id: me}
    """
    pipeline = _node("""\
    - name: n
      read: {connection: bus, format: kafka, topic: t}
    """)
    [error] = _errors(tmp_path, pipeline, odibi)
    assert error.line == 5
    assert "missing required key 'bootstrap.servers'" in error.message
    assert error.hint is not None and "broker" in error.hint


def test_options_are_the_format_models_with_their_defaults() -> None:
    read = ReadConfig(connection="c", format="csv", path="x")
    assert read.options == CsvReadOptions()
    assert isinstance(read.options, CsvReadOptions)
    assert read.options.header is True and read.options.null_values == [""]
    kafka = ReadConfig(connection="c", format="kafka", topic="t", options={"starting": {"0": 5}})
    assert isinstance(kafka.options, KafkaReadOptions) and kafka.options.starting == {"0": 5}
    with pytest.raises(ValidationError):
        ReadConfig(connection="c", format="csv", path="x", options={"delimiter": ";;"})
    assert WriteConfig(connection="c", format="parquet", path="o").options.compression == "snappy"  # type: ignore[union-attr]


def test_kafka_connection_options_keep_secrets_out_of_reprs_and_dumps() -> None:
    opts = KafkaConnectionOptions.model_validate(
        {
            "bootstrap.servers": "b:9093",
            "security.protocol": "SASL_SSL",
            "sasl.password": "pw-value-123",
            "client": {"socket.keepalive.enable": True, "sasl.oauthbearer.config": "tok-456"},
        }
    )
    assert isinstance(opts.sasl_password, SecretStr)
    for text in (repr(opts), str(opts.model_dump(mode="json"))):
        assert "pw-value-123" not in text and "tok-456" not in text
    assert opts.client_config() == {
        "bootstrap.servers": "b:9093",
        "security.protocol": "SASL_SSL",
        "sasl.password": "pw-value-123",
        "socket.keepalive.enable": True,
        "sasl.oauthbearer.config": "tok-456",
    }
    with pytest.raises(ValidationError, match=r"set bootstrap\.servers directly"):
        KafkaConnectionOptions.model_validate(
            {"bootstrap.servers": "b:1", "client": {"bootstrap.servers": "c:1"}}
        )


def test_poll_trigger_takes_either_name_once() -> None:
    assert TriggerConfig.model_validate({"kafka": {"interval_seconds": 2}}).kafka.interval == 2  # type: ignore[union-attr]
    assert TriggerConfig.model_validate({"eventhub": {"poll_seconds": 3}}).eventhub.interval == 3  # type: ignore[union-attr]
    assert TriggerConfig.model_validate({"kafka": {}}).kafka.interval is None  # type: ignore[union-attr]
    with pytest.raises(ValidationError, match="not both"):
        TriggerConfig.model_validate({"kafka": {"poll_seconds": 1, "interval_seconds": 2}})


def test_options_from_code_are_validated_with_a_hint() -> None:
    with pytest.raises(OptionsError) as info:
        coerce_options(CsvReadOptions, {"delimter": ";"}, "csv read options")
    assert info.value.path == ("delimter",)
    assert info.value.hint == "did you mean 'delimiter'?"
    assert coerce_options(CsvReadOptions, None, "x") == CsvReadOptions()


def test_ignoring_undeclared_json_fields_needs_a_schema() -> None:
    with pytest.raises(ValidationError, match="undeclared_fields: ignore needs a schema"):
        JsonReadOptions.model_validate({"undeclared_fields": "ignore"})
    assert JsonReadOptions.model_validate({"schema": {"id": "int"}, "undeclared_fields": "ignore"}).undeclared_fields == "ignore"
