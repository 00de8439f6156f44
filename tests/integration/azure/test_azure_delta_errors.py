"""Delta on Azure: delta-rs failures are sorted by asking the storage (Azurite), not by text.

Unreachable storage → a retryable SinkError/SourceError that names the location; a wrong key or
a missing container → terminal with the hint that fixes it; and the key never appears in any
message.
"""

from __future__ import annotations

import time
from pathlib import Path

import pyarrow as pa
import pytest

from odibi_stream.clients.azure_errors import AUTH_HINT
from odibi_stream.clients.azure_options import abfs_uri, object_store_options
from odibi_stream.clients.locations import OBJECT_STORE_RETRIES, BlobRoot, Location
from odibi_stream.config.azure_auth import AzureAuth
from odibi_stream.config.models import IncrementalConfig, ReadConfig, WriteConfig
from odibi_stream.connectors.base import BatchKey
from odibi_stream.connectors.column_source import ColumnSpec
from odibi_stream.connectors.delta import DeltaSinkSpec
from odibi_stream.core.redact import register_secret
from odibi_stream.engines.pandas import PandasEngine
from odibi_stream.exceptions import SinkError, SourceError, is_retryable
from tests.azurite_fixtures import AzuriteAccount

WRONG_KEY = "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXktd3Jvbmcta2V5LXdyb25nLWtleQ=="


def location(account: AzuriteAccount, container: str, auth: AzureAuth | None = None) -> Location:
    target = account.target(container, auth)
    options = {**OBJECT_STORE_RETRIES, **object_store_options(target)}
    return Location(abfs_uri(target, "t"), options, False, BlobRoot(target, "", "t"))


def sink(loc: Location) -> DeltaSinkSpec:
    return DeltaSinkSpec("out", loc, WriteConfig(connection="lake", format="delta", path="t"))


def write(loc: Location) -> None:
    writer = sink(loc).open()
    try:
        writer.write(PandasEngine(), pa.table({"id": [1]}), BatchKey("p", "out", 0))
    finally:
        writer.close()


def test_unreachable_storage_is_retryable_and_says_where(tmp_path: Path) -> None:
    dead = AzuriteAccount("http://127.0.0.1:9/devstoreaccount1")  # nothing listens there
    loc = location(dead, "lake")
    started = time.monotonic()
    with pytest.raises(SinkError) as info:
        write(loc)
    assert is_retryable(info.value)
    assert "az://devstoreaccount1/lake/t" in info.value.message
    assert "unreachable" in info.value.message
    assert time.monotonic() - started < 60, "a dead endpoint must fail within seconds, not minutes"
    read = ReadConfig(
        connection="lake", format="delta", path="t", incremental=IncrementalConfig(mode="column", column="id")
    )
    source = ColumnSpec("in", loc, read).open()
    with pytest.raises(SourceError) as src_info:
        source.plan(source.initial_state())
    assert is_retryable(src_info.value)


def test_wrong_key_is_terminal_with_the_auth_hint(azurite: AzuriteAccount, azure_container: str) -> None:
    register_secret(WRONG_KEY)
    loc = location(azurite, azure_container, AzureAuth(account_key=WRONG_KEY))  # type: ignore[arg-type]
    with pytest.raises(SinkError) as info:
        write(loc)
    assert not is_retryable(info.value)
    assert info.value.hint == AUTH_HINT
    assert WRONG_KEY not in str(info.value) and WRONG_KEY not in repr(info.value.__cause__)


def test_missing_container_is_terminal(azurite: AzuriteAccount) -> None:
    loc = location(azurite, "no-such-container-here")
    with pytest.raises(SinkError) as info:
        write(loc)
    assert not is_retryable(info.value)
    assert info.value.hint is not None and "create the container" in info.value.hint


def test_a_healthy_table_round_trips(azurite: AzuriteAccount, azure_container: str) -> None:
    loc = location(azurite, azure_container)
    write(loc)
    writer = sink(loc).open()
    try:
        assert writer.already_written(BatchKey("p", "out", 0))
        assert writer.write(PandasEngine(), pa.table({"id": [1]}), BatchKey("p", "out", 0)).skipped
    finally:
        writer.close()


def test_a_sas_never_reaches_the_message(tmp_path: Path) -> None:
    sas = "sv=2024-08-04&ss=b&srt=sco&sp=rwdlac&se=2099-01-01T00:00:00Z&sig=c2VjcmV0LXNpZ25hdHVyZQ%3D%3D"
    dead = AzuriteAccount("http://127.0.0.1:9/devstoreaccount1")
    loc = location(dead, "lake", AzureAuth(sas_token=sas))  # type: ignore[arg-type]
    with pytest.raises(SinkError) as info:
        write(loc)
    text = f"{info.value} {info.value.hint}"
    assert "c2VjcmV0LXNpZ25hdHVyZQ" not in text, text


def test_parquet_column_sources_on_azure_are_config_errors() -> None:
    from odibi_stream.exceptions import ConfigError

    loc = location(AzuriteAccount("http://127.0.0.1:9/devstoreaccount1"), "lake")
    read = ReadConfig(
        connection="lake", format="parquet", path="t", incremental=IncrementalConfig(mode="column", column="id")
    )
    with pytest.raises(ConfigError, match="need a local folder"):
        ColumnSpec("in", loc, read)
