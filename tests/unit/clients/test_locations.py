"""resolve_location: every connection type → URI + the options each library needs."""

from __future__ import annotations

from pathlib import Path

import pytest

from odibi_stream.clients.locations import Location, resolve_location
from odibi_stream.config.loader import load_project
from odibi_stream.config.project import AZURITE_ACCOUNT, AZURITE_KEY, Project
from odibi_stream.exceptions import ConfigError
from tests.conftest import write_project

PIPELINE = """\
pipeline: p
nodes:
  - name: a
    read: {connection: local, format: csv, path: in/*.csv, incremental: {mode: files}}
  - {name: b, depends_on: [a], write: {connection: local, format: delta, path: out}}
"""

ODIBI = """\
project: demo
connections:
  local: {type: local, base_path: ./data}
  abs: {type: local, base_path: /mnt/x}
  blob: {type: azure_blob, container: c1, base_path: /bronze/, account_name: acc, options: {account_key: k}}
  lake: {type: adls, container: fs, account_name: acc2, auth: {sas_token: "sv=1&sig=s"}}
  emu: {type: azure_blob, container: c2, options: {use_emulator: "true"}}
  dev:
    type: azure_blob
    container: c3
    endpoint: "http://127.0.0.1:10555/devstoreaccount1"
    auth: {account_key: devkey}
  nocontainer: {type: azure_blob, account_name: acc}
  bus: {type: kafka, options: {bootstrap.servers: "localhost:9092"}}
  hub: {type: eventhub, options: {namespace: x}}
"""


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return load_project(write_project(tmp_path / "p", {"p": PIPELINE}, odibi_yaml=ODIBI))


def test_local_paths(project: Project) -> None:
    root = project.root
    assert resolve_location(project, "local", "t/a") == Location(str(root / "data" / "t" / "a"), {}, True)
    assert resolve_location(project, "local", None).uri == str(root / "data")
    assert resolve_location(project, "abs", "t").uri == "/mnt/x/t"


def test_blob_connection_gets_one_abfs_uri_and_translated_options(project: Project) -> None:
    blob = resolve_location(project, "blob", "tables/x")
    assert blob.uri == "abfss://c1@acc.dfs.core.windows.net/bronze/tables/x"
    assert not blob.is_local
    opts = blob.storage_options
    # the legacy key-in-options became the auth, translated for object_store; options still win
    assert opts["azure_storage_account_name"] == "acc"
    assert opts["azure_storage_account_key"] == "k" and opts["account_key"] == "k"
    assert opts["max_retries"] == "3"  # fail a call within seconds: the runtime retries batches
    assert "'k'" not in repr(blob) and "'k'" not in repr(opts)
    assert blob.blob is not None and (blob.blob.base, blob.blob.path) == ("bronze", "tables/x")
    assert blob.blob.full == "bronze/tables/x"
    assert blob.describe() == "az://acc/c1/bronze/tables/x"
    assert not any(k.startswith("fs.") for k in opts), "pandas pipelines get no Hadoop keys"


def test_adls_and_sas(project: Project) -> None:
    lake = resolve_location(project, "lake", "t")
    assert lake.uri == "abfss://fs@acc2.dfs.core.windows.net/t"
    assert lake.storage_options["azure_storage_sas_key"] == "sv=1&sig=s"


def test_emulator_endpoint_and_legacy_use_emulator(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AZURITE_BLOB_STORAGE_URL", raising=False)
    dev = resolve_location(project, "dev", "t")
    assert dev.uri == "abfs://c3@devstoreaccount1.dfs.core.windows.net/t"  # plain http: abfs
    assert dev.storage_options["azure_storage_endpoint"] == "http://127.0.0.1:10555/devstoreaccount1"
    assert dev.storage_options["allow_http"] == "true"
    emu = resolve_location(project, "emu", "t")
    assert emu.storage_options["azure_storage_endpoint"] == f"http://127.0.0.1:10000/{AZURITE_ACCOUNT}"
    assert emu.storage_options["azure_storage_account_key"] == AZURITE_KEY
    assert "use_emulator" not in emu.storage_options


def test_legacy_use_emulator_honours_azurite_blob_storage_url(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What delta-rs' own use_emulator reads: compose points it at the azurite service.
    monkeypatch.setenv("AZURITE_BLOB_STORAGE_URL", "http://azurite:10000/")
    emu = resolve_location(project, "emu", "t")
    assert emu.storage_options["azure_storage_endpoint"] == f"http://azurite:10000/{AZURITE_ACCOUNT}"
    assert emu.blob is not None and "azurite:10000" in emu.describe()


def test_spark_pipelines_also_get_the_hadoop_conf(project: Project) -> None:
    dev = resolve_location(project, "dev", "t", engine="spark")
    host = "devstoreaccount1.dfs.core.windows.net"
    assert dev.storage_options[f"fs.azure.account.key.{host}"] == "devkey"
    assert dev.storage_options["fs.azure.abfs.endpoint"] == "127.0.0.1:10555"
    assert dev.storage_options["fs.azure.account.hns.enabled"] == "false"
    assert dev.storage_options["azure_storage_account_key"] == "devkey"  # delta-rs keys stay


def test_errors_name_the_connection_and_file(project: Project) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_location(project, "blb", "x")
    assert info.value.hint == "did you mean 'blob'?"
    with pytest.raises(ConfigError) as info:
        resolve_location(project, "nocontainer", "x")
    assert "connection 'nocontainer'" in info.value.message and "container" in info.value.message
    assert str(info.value).startswith(str(project.root / "odibi.yaml"))
    with pytest.raises(ConfigError) as info:
        resolve_location(project, "hub", "x")
    assert "no storage location" in info.value.message


def test_spark_rejects_auth_abfs_cannot_use(tmp_path: Path) -> None:
    odibi = ODIBI.replace("auth: {account_key: devkey}", "auth: azure_cli")
    project = load_project(write_project(tmp_path / "q", {"p": PIPELINE}, odibi_yaml=odibi))
    assert resolve_location(project, "dev", "t").storage_options["azure_use_azure_cli"] == "true"
    with pytest.raises(ConfigError) as info:
        resolve_location(project, "dev", "t", engine="spark")
    assert "not supported by Spark" in info.value.message


def test_kafka_client_options(project: Project) -> None:
    bus = resolve_location(project, "bus", None)
    assert bus.uri == "kafka://localhost:9092" and not bus.is_local
    assert bus.storage_options == {"bootstrap.servers": "localhost:9092"}
