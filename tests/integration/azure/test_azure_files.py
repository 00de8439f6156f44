"""BlobFileSystem on a real emulator: listing, globbing, download, exclusive upload, copy+delete."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from azure.storage.blob import ContainerSasPermissions, generate_container_sas

from odibi_stream.clients.azure_errors import (
    AzureStorageError,
    BlobAlreadyExists,
    BlobChanged,
    BlobNotFound,
)
from odibi_stream.clients.azure_files import BlobFileSystem
from odibi_stream.config.azure_auth import AzureAuth
from odibi_stream.exceptions import is_retryable
from tests.azurite_fixtures import AzuriteAccount, LocalAzurite, new_container
from tests.integration.azure.proxy import FaultProxy
from tests.unit.clients.test_globbing import FILES, PATTERNS


@pytest.fixture
def fs(azurite: AzuriteAccount, azure_container: str) -> Iterator[BlobFileSystem]:
    with BlobFileSystem.open(azurite.target(azure_container), "zone") as files:
        yield files


def test_listing_returns_identities_of_direct_or_all_files(fs: BlobFileSystem) -> None:
    before = datetime.now(timezone.utc).replace(microsecond=0)
    fs.upload("in/a.csv", b"id\n1\n")
    fs.upload("in/sub/b.csv", b"id\n2\n3\n")
    fs.upload("out/c.csv", b"x")
    direct = fs.list("in")
    assert [f.name for f in direct] == ["in/a.csv"]
    a = direct[0]
    assert a.size == 5 and a.etag.startswith('"')
    assert a.last_modified.tzinfo is not None and a.last_modified.utcoffset() == timedelta(0)
    assert (
        before - timedelta(seconds=2)
        <= a.last_modified
        <= datetime.now(timezone.utc) + timedelta(seconds=2)
    )
    assert [f.name for f in fs.list("in", recursive=True)] == ["in/a.csv", "in/sub/b.csv"]
    assert [f.name for f in fs.list("", recursive=True)] == [
        "in/a.csv",
        "in/sub/b.csv",
        "out/c.csv",
    ]
    assert fs.list("nothing") == []
    assert fs.stat("in/a.csv") == a
    assert fs.stat("in/missing.csv") is None


def test_adls_folder_placeholders_are_not_files(
    azurite: AzuriteAccount, azure_container: str, fs: BlobFileSystem
) -> None:
    fs.upload("in/a.csv", b"1")
    with azurite.service() as svc:  # what an HNS account lists for a directory
        svc.get_container_client(azure_container).upload_blob(
            "zone/in/dir", b"", metadata={"hdi_isfolder": "true"}
        )
    assert [f.name for f in fs.list("in")] == ["in/a.csv"]


@pytest.mark.parametrize("pattern", PATTERNS)
def test_glob_finds_what_pathlib_finds(fs: BlobFileSystem, tmp_path: Path, pattern: str) -> None:
    for rel in FILES:
        fs.upload(rel, b"x")
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    expected = sorted(
        p.relative_to(tmp_path).as_posix() for p in tmp_path.glob(pattern) if p.is_file()
    )
    assert [f.name for f in fs.glob(pattern)] == expected


def test_download_variants(fs: BlobFileSystem, tmp_path: Path) -> None:
    data = bytes(range(256)) * 4096  # 1 MiB
    up = fs.upload("in/big.bin", data)
    assert fs.read_bytes("in/big.bin") == data
    assert fs.read_bytes("in/big.bin", etag=up.etag) == data
    assert fs.download("in/big.bin", tmp_path / "copy.bin").read_bytes() == data
    with fs.temp_download("in/big.bin", folder=str(tmp_path)) as tmp:
        assert tmp.suffix == ".bin" and tmp.read_bytes() == data
    assert not tmp.exists()
    fs.upload("in/big.bin", b"rewritten", overwrite=True)
    with pytest.raises(BlobChanged):
        fs.read_bytes("in/big.bin", etag=up.etag)
    with pytest.raises(BlobNotFound) as err:
        fs.read_bytes("in/none.bin")
    assert not is_retryable(err.value)


def test_upload_is_create_exclusive(fs: BlobFileSystem, tmp_path: Path) -> None:
    first = fs.upload("sink/part-0.parquet", b"first")
    with pytest.raises(BlobAlreadyExists) as err:
        fs.upload("sink/part-0.parquet", b"second")
    assert not is_retryable(err.value)
    assert fs.read_bytes("sink/part-0.parquet") == b"first"
    local = tmp_path / "f.csv"
    local.write_bytes(b"a,b\n1,2\n")
    second = fs.upload("sink/f.csv", local)
    assert second.size == 8 and fs.read_bytes("sink/f.csv") == b"a,b\n1,2\n"
    again = fs.upload("sink/part-0.parquet", b"replaced", overwrite=True)
    assert again.etag != first.etag and fs.read_bytes("sink/part-0.parquet") == b"replaced"


def test_lost_upload_response_counts_as_ours(
    azurite: AzuriteAccount, azure_container: str, tmp_path: Path
) -> None:
    proxy = FaultProxy(azurite.endpoint)
    try:
        with BlobFileSystem.open(AzuriteAccount(proxy.endpoint).target(azure_container)) as files:
            proxy.drop_next_response("PUT")
            files.upload("dl/batch-7.jsonl", b'{"a": 1}\n')
            assert proxy.requests["PUT"] == 2
            assert files.read_bytes("dl/batch-7.jsonl") == b'{"a": 1}\n'
            with pytest.raises(BlobAlreadyExists):
                files.upload("dl/batch-7.jsonl", b'{"a": 2}\n')  # different content: a real clash
    finally:
        proxy.close()


def test_archive_by_copy_then_delete(fs: BlobFileSystem) -> None:
    f = fs.upload("landing/a.csv", b"id\n1\n")
    fs.copy("landing/a.csv", "archive/landing/a.csv", etag=f.etag)
    assert fs.delete("landing/a.csv", etag=f.etag)
    assert fs.read_bytes("archive/landing/a.csv") == b"id\n1\n"
    assert not fs.exists("landing/a.csv")
    assert not fs.delete("landing/a.csv")  # a replay after a crash: already gone
    with pytest.raises(BlobNotFound):
        fs.copy("landing/a.csv", "archive/landing/a.csv")


def test_conditional_copy_and_delete_refuse_a_rewritten_file(fs: BlobFileSystem) -> None:
    old = fs.upload("landing/b.csv", b"v1")
    fs.upload("landing/b.csv", b"v2-rewritten", overwrite=True)
    with pytest.raises(BlobChanged):
        fs.copy("landing/b.csv", "archive/b.csv", etag=old.etag)
    with pytest.raises(BlobChanged):
        fs.delete("landing/b.csv", etag=old.etag)
    assert fs.read_bytes("landing/b.csv") == b"v2-rewritten"
    assert not fs.exists("archive/b.csv")


def test_sas_client_can_copy(azurite: AzuriteAccount, azure_container: str) -> None:
    sas = generate_container_sas(
        azurite.account_name,
        azure_container,
        account_key=azurite.account_key,
        permission=ContainerSasPermissions(
            read=True, write=True, create=True, delete=True, list=True, add=True
        ),
        expiry=datetime.now(timezone.utc) + timedelta(hours=1),
    )
    with BlobFileSystem.open(azurite.target(azure_container, AzureAuth(sas_token=sas))) as files:
        files.upload("landing/c.csv", b"c")
        files.copy("landing/c.csv", "archive/c.csv")
        assert files.read_bytes("archive/c.csv") == b"c"
        assert [f.name for f in files.glob("archive/*.csv")] == ["archive/c.csv"]


def test_wrong_key_is_terminal_and_secret_free(
    azurite: AzuriteAccount, azure_container: str
) -> None:
    wrong = "QUJD" + azurite.account_key[4:]
    target = azurite.target(azure_container, AzureAuth(account_key=wrong))
    with BlobFileSystem.open(target) as files, pytest.raises(AzureStorageError) as err:
        files.list("")
    assert not is_retryable(err.value) and err.value.hint and "auth" in err.value.hint
    assert wrong[:12] not in str(err.value)


def test_outage_is_retryable_then_recovers(
    isolated_azurite: tuple[AzuriteAccount, LocalAzurite],
) -> None:
    account, instance = isolated_azurite
    container = new_container(account)
    with BlobFileSystem.open(account.target(container)) as files:
        files.upload("landing/a.csv", b"1")
        instance.stop()
        for call in (
            lambda: files.list("landing"),
            lambda: files.read_bytes("landing/a.csv"),
            lambda: files.upload("landing/b.csv", b"2"),
        ):
            began = time.monotonic()
            with pytest.raises(AzureStorageError) as err:
                call()
            assert is_retryable(err.value) and time.monotonic() - began < 8
        instance.start()
        files.upload("landing/b.csv", b"2")
        assert [f.name for f in files.glob("landing/*.csv")] == ["landing/a.csv", "landing/b.csv"]
