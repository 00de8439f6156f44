"""``checkpoint:`` resolves to one typed target; roots it cannot serve fail at load time."""

from __future__ import annotations

from pathlib import Path

import pytest

from odibi_stream.checkpoints.factory import open_store
from odibi_stream.checkpoints.local import LocalCheckpointStore
from odibi_stream.checkpoints.memory import MemoryCheckpointStore
from odibi_stream.config.checkpoint_target import CheckpointTarget, resolve_checkpoint
from odibi_stream.config.loader import load_project
from odibi_stream.config.project_models import CheckpointConfig, ConnectionConfig
from odibi_stream.exceptions import ConfigError
from tests.conftest import write_project

PIPE = {"p": "pipeline: p\nnodes:\n  - {name: a, read: {connection: local, format: csv, path: in/*.csv}}\n"}


def _project(tmp_path: Path, checkpoint: str) -> Path:
    return write_project(
        tmp_path / "proj",
        PIPE,
        odibi_yaml=f"project: t\ncheckpoint: {checkpoint}\nconnections:\n"
        "  local: {type: local, base_path: ./data}\n"
        "  lake: {type: azure_blob, account_name: acct, container: ckpts}\n"
        "  bus: {type: kafka, options: {bootstrap.servers: 'x:1'}}\n",
    )


@pytest.mark.parametrize(
    ("root", "scheme", "location"),
    [
        ("{root: ./ck}", "file", "ck"),
        ("{root: 'file://ABS/ck2'}", "file", "ck2"),
        ("{root: 'memory://unit'}", "memory", "unit"),
        ("{root: 'abfss://c1@acct.dfs.core.windows.net/a/b'}", "azure", "a/b"),
        ("{root: 'az://c2/x'}", "azure", "x"),
        ("{connection: lake, path: _ck}", "azure", "_ck"),
        ("{connection: local, path: ck3}", "file", "ck3"),
    ],
)
def test_every_supported_root_resolves(tmp_path: Path, root: str, scheme: str, location: str) -> None:
    project = load_project(_project(tmp_path, root.replace("ABS", str(tmp_path))))
    target = project.checkpoint
    assert target.scheme == scheme
    assert target.location.endswith(location)
    if scheme == "file":
        assert Path(target.location).is_absolute()


def test_default_root_is_checkpoints_under_the_project(tmp_path: Path) -> None:
    root = write_project(tmp_path / "proj", PIPE)
    target = load_project(root).checkpoint
    assert target == CheckpointTarget("file", str((root / "checkpoints").resolve()))


@pytest.mark.parametrize(
    ("root", "message"),
    [
        ("{root: 's3://bucket/x'}", "unsupported checkpoint root scheme 's3://'"),
        ("{root: 'abfss://no-account/x'}", "malformed abfss://"),
        ("{connection: bus}", "of type kafka, which cannot hold checkpoints"),
        ("{connection: laek}", "checkpoint connection 'laek' is not defined"),
    ],
)
def test_unusable_roots_are_config_errors_with_a_line(tmp_path: Path, root: str, message: str) -> None:
    folder = _project(tmp_path, root)
    with pytest.raises(ConfigError) as info:
        load_project(folder)
    assert message in str(info.value)
    assert info.value.file is not None and info.value.file.endswith("odibi.yaml")
    assert info.value.line == 2
    assert not list(folder.glob("*:*")), "nothing may be created under a URL-named folder"


def test_root_and_connection_are_exclusive() -> None:
    with pytest.raises(ValueError, match="either 'root' or 'connection'"):
        CheckpointConfig(root="x", connection="lake")


def test_factory_serves_file_and_memory_targets(tmp_path: Path) -> None:
    assert isinstance(open_store(CheckpointTarget("file", str(tmp_path))), LocalCheckpointStore)
    a = open_store(CheckpointTarget("memory", "shared-name"))
    b = open_store(CheckpointTarget("memory", "shared-name"))
    assert isinstance(a, MemoryCheckpointStore)
    a.create("p/x.json", b"1")
    assert b.read("p/x.json") == b"1", "memory stores of one name share their data"


def test_connection_base_path_prefixes_the_checkpoint_path(tmp_path: Path) -> None:
    conn = ConnectionConfig(type="azure_blob", account_name="a", container="c", base_path="base")
    target = resolve_checkpoint(CheckpointConfig(connection="lake", path="ck"), {"lake": conn}, tmp_path)
    assert (target.container, target.location, target.describe()) == ("c", "base/ck", "az://c/base/ck")
