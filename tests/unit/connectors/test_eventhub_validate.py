"""``validate`` catches every Event Hubs misconfiguration, with the file:line it came from.

No namespace is contacted: specs are built exactly as ``validate``/``run``/``serve`` build them
(``service.project.validate``), and each mistake must surface as a ConfigError pointing at the
pipeline file and the line of the offending node setting.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from odibi_stream.connectors.eventhub import EventHubSinkSpec, EventHubSourceSpec
from odibi_stream.core.wake import PollWatch
from odibi_stream.exceptions import ConfigError
from odibi_stream.service.project import load, validate
from tests.conftest import CLI, cli_env, write_project

CONN = "Endpoint=sb://myns.servicebus.windows.net/;SharedAccessKeyName=p;SharedAccessKey=k{}"
ODIBI = """\
    project: eh
    connections:
      hub: {{type: eventhub, {conn}}}
      lake: {{type: local, base_path: ./data}}
    """


def project(
    tmp_path: Path, read: str, *, conn: str | None = None, trigger: str = "{eventhub: {}}"
) -> Path:
    conn = conn or 'namespace: myns, auth: {shared_access_key: {name: p, key: "${secret:EH_KEY}"}}'
    pipeline = f"""\
        pipeline: events
        trigger: {trigger}
        nodes:
          - name: raw
            read: {read}
          - name: out
            depends_on: [raw]
            write: {{connection: lake, format: delta, path: out}}
        """
    return write_project(tmp_path / "p", {"events": pipeline}, odibi_yaml=ODIBI.format(conn=conn))


def error_of(root: Path, monkeypatch: pytest.MonkeyPatch) -> ConfigError:
    monkeypatch.setenv("EH_KEY", "a-secret-key-value")
    with pytest.raises(ConfigError) as info:
        validate(load(root))
    return info.value


def line_of(root: Path, text: str) -> int:
    lines = (root / "pipelines" / "events.yaml").read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if text in line)


def test_a_good_project_validates_into_specs_and_a_poll_watch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = project(
        tmp_path,
        "{connection: hub, format: eventhub, topic: telemetry,\n"
        "                   options: {value_format: json, starting: '2024-05-01T00:00:00Z', consumer_group: cg},\n"
        "                   incremental: {mode: offsets, max_records_per_batch: 500}}",
    )
    monkeypatch.setenv("EH_KEY", "a-secret-key-value")
    compiled = validate(load(root))["events"]
    spec = compiled.sources["raw"]
    assert isinstance(spec, EventHubSourceSpec)
    assert spec.target.describe() == "sb://myns.servicebus.windows.net/telemetry"
    assert spec.max_records == 500 and spec.options.consumer_group == "cg"
    assert "a-secret-key-value" not in repr(spec) and "a-secret-key-value" not in repr(spec.target)
    watch = spec.watch()
    assert isinstance(watch, PollWatch) and watch.name == "eventhub:telemetry"


@pytest.mark.parametrize(
    ("read", "message", "marker"),
    [
        ("{connection: hub, format: eventhub}", "no event hub name", "read:"),
        (
            "{connection: hub, format: eventhub, topic: t,\n                   options: {starting: yesterday}}",
            "starting: use earliest, latest",
            "starting",
        ),
        (
            "{connection: hub, format: eventhub, topic: t,\n                   options: {starting: {x: 1}}}",
            "sequence number >= 0",
            "starting",
        ),
        (
            "{connection: hub, format: eventhub, topic: t,\n                   options: {starting: '2024-05-01T00:00:00'}}",
            "ISO-8601 time with offset",
            "starting",
        ),
        (
            "{connection: hub, format: eventhub, topic: t,\n                   options: {on_data_loss: ignore}}",
            "on_data_loss: Input should be 'fail'",
            "on_data_loss",
        ),
        (
            "{connection: hub, format: eventhub, topic: t,\n                   options: {value_fromat: json}}",
            "unknown key 'value_fromat'",
            "value_fromat",
        ),
        (
            "{connection: hub, format: eventhub, topic: t,\n                   options: {owner_level: -1}}",
            "owner_level: use auto",
            "owner_level",
        ),
        (
            "{connection: hub, format: eventhub, topic: t,\n                   incremental: {mode: files}}",
            "incremental by sequence numbers",
            "read:",
        ),
        (
            "{connection: lake, format: eventhub, topic: t}",
            "needs a connection of type eventhub",
            "read:",
        ),
        ("{connection: hub, format: csv, path: in/*.csv}", "has no storage location", None),
    ],
)
def test_read_mistakes_point_at_their_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, read: str, message: str, marker: str | None
) -> None:
    root = project(tmp_path, read)
    err = error_of(root, monkeypatch)
    assert message in err.message
    if marker is None:  # a connection-level mistake: reported against odibi.yaml
        assert err.file is not None and err.file.endswith("odibi.yaml")
        return
    assert err.file == str(root / "pipelines" / "events.yaml")
    assert err.line == line_of(root, marker), str(err)


@pytest.mark.parametrize(
    ("conn", "topic", "message"),
    [
        (
            f'auth: {{connection_string: "{CONN.format(";EntityPath=other")}"}}',
            "telemetry",
            "disagrees with the connection string's EntityPath",
        ),
        (
            f'namespace: elsewhere, auth: {{connection_string: "{CONN.format("")}"}}',
            "telemetry",
            "disagrees with the connection string's Endpoint",
        ),
        ("namespace: myns", "telemetry", "has no 'auth'"),
        ('namespace: myns, auth: {account_key: "abcd"}', "telemetry", "storage account key"),
        ("auth: {sas_token: 'sv=1&sig=abc'}", "telemetry", "has no 'namespace'"),
        (
            'namespace: myns, auth: default, options: {bootstrap.servers: "x"}',
            "telemetry",
            "unknown eventhub connection option",
        ),
        (
            "namespace: myns, auth: default, options: {use_tls: maybe}",
            "telemetry",
            "must be true or false",
        ),
    ],
)
def test_connection_mistakes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, conn: str, topic: str, message: str
) -> None:
    root = project(tmp_path, f"{{connection: hub, format: eventhub, topic: {topic}}}", conn=conn)
    err = error_of(root, monkeypatch)
    assert message in err.message, err.message
    assert err.file == str(root / "pipelines" / "events.yaml") and err.line == line_of(
        root, "read:"
    )
    assert "SharedAccessKey=k" not in str(err)


def test_entity_path_names_the_hub_when_topic_is_omitted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = f'auth: {{connection_string: "{CONN.format(";EntityPath=telemetry;UseDevelopmentEmulator=true")}"}}'
    root = project(tmp_path, "{connection: hub, format: eventhub}", conn=conn)
    monkeypatch.setenv("EH_KEY", "unused-key-value-7Qz")
    spec = validate(load(root))["events"].sources["raw"]
    assert isinstance(spec, EventHubSourceSpec)
    assert spec.target.hub == "telemetry" and spec.target.emulator
    assert spec.target.namespace == "myns.servicebus.windows.net"


def test_eventhub_trigger_without_an_eventhub_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = project(
        tmp_path, "{connection: lake, format: csv, path: in/*.csv, incremental: {mode: files}}"
    )
    err = error_of(root, monkeypatch)
    assert "trigger eventhub needs a eventhub read node" in err.message
    assert err.file == str(root / "pipelines" / "events.yaml") and err.line == line_of(
        root, "trigger:"
    )


def test_write_mistakes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pipeline = """\
        pipeline: events
        trigger: {interval: {every: 1m}}
        nodes:
          - name: src
            read: {connection: lake, format: jsonl, path: in}
            write: {connection: hub, format: eventhub, topic: out,
                    options: {key_colum: id}}
        """
    conn = 'namespace: myns, auth: {shared_access_key: {name: p, key: "${secret:EH_KEY}"}}'
    root = write_project(tmp_path / "p", {"events": pipeline}, odibi_yaml=ODIBI.format(conn=conn))
    err = error_of(root, monkeypatch)
    assert (
        "unknown key 'key_colum'" in err.message
        and err.hint
        and "key_column" in err.hint
    )
    assert err.line == line_of(root, "key_colum")
    (root / "pipelines" / "events.yaml").write_text(
        (root / "pipelines" / "events.yaml").read_text().replace("key_colum", "key_column")
    )
    monkeypatch.setenv("EH_KEY", "a-secret-key-value")
    assert isinstance(validate(load(root))["events"].sinks["src"], EventHubSinkSpec)


BLOCK_EVENTHUB = """\
import sys
class _NoEventHub:
    def find_spec(self, name, path=None, target=None):
        if name == "azure.eventhub" or name.startswith("azure.eventhub."):
            raise ModuleNotFoundError(name)
        return None
sys.meta_path.insert(0, _NoEventHub())
"""


def test_cli_validate_without_the_extra_names_it_with_file_and_line(tmp_path: Path) -> None:
    root = project(tmp_path, "{connection: hub, format: eventhub, topic: telemetry}")
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BLOCK_EVENTHUB)
    env = cli_env()
    env["PYTHONPATH"] = f"{site}:{env['PYTHONPATH']}"
    env["EH_KEY"] = "a-secret-key-value"
    done = subprocess.run(
        [*CLI, "validate", str(root)], env=env, capture_output=True, text=True, timeout=120
    )
    out = done.stdout + done.stderr
    assert done.returncode == 2, out
    assert f"{root / 'pipelines' / 'events.yaml'}:{line_of(root, 'read:')}" in out
    assert "needs the 'eventhub' extra" in out and "pip install 'odibi-stream[eventhub]'" in out
    assert "Traceback" not in out
    check = subprocess.run(
        [
            sys.executable,
            "-c",
            "import importlib.util; print(importlib.util.find_spec('azure.eventhub'))",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode != 0 or "None" in check.stdout  # the extra really is missing there


def test_cli_validate_reports_file_line_and_exit_2(tmp_path: Path) -> None:
    root = project(
        tmp_path,
        textwrap.dedent("{connection: hub, format: eventhub, topic: t, options: {starting: soon}}"),
    )
    env = cli_env()
    env["EH_KEY"] = "a-secret-key-value"
    done = subprocess.run(
        [*CLI, "validate", str(root)], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2
    assert (
        f"events.yaml:{line_of(root, 'starting')}: nodes[0].read.options.starting: use earliest"
        in done.stderr
    )


def test_fully_qualified_namespace_is_the_same_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = 'fully_qualified_namespace: sb://myns.servicebus.windows.net/, auth: {sas_token: "${secret:EH_KEY}"}'
    root = project(tmp_path, "{connection: hub, format: eventhub, topic: telemetry}", conn=conn)
    monkeypatch.setenv("EH_KEY", "sv=1&sig=abcdefgh")
    spec = validate(load(root))["events"].sources["raw"]
    assert isinstance(spec, EventHubSourceSpec)
    assert (
        spec.target.namespace == "myns.servicebus.windows.net"
        and spec.target.auth.mode == "sas_token"
    )
