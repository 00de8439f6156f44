"""delta-rs (object_store) reaches Azurite with the options the translation produces."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pyarrow as pa
import pytest
from azure.storage.blob import ContainerSasPermissions, generate_container_sas
from deltalake import DeltaTable, write_deltalake

from odibi_stream.clients.azure_files import BlobFileSystem
from odibi_stream.clients.azure_options import object_store_options
from odibi_stream.config.azure_auth import AzureAuth
from tests.azurite_fixtures import AzuriteAccount


def _auth(mode: str, account: AzuriteAccount, container: str) -> AzureAuth:
    if mode == "account_key":
        return AzureAuth(account_key=account.account_key)
    if mode == "connection_string":
        return AzureAuth(connection_string=account.connection_string)
    sas = generate_container_sas(
        account.account_name,
        container,
        account_key=account.account_key,
        permission=ContainerSasPermissions(
            read=True, write=True, create=True, delete=True, list=True, add=True
        ),
        expiry=datetime.now(timezone.utc) + timedelta(hours=1),
    )
    return AzureAuth(sas_token=sas)


@pytest.mark.parametrize("mode", ["account_key", "sas_token", "connection_string"])
def test_delta_round_trip_on_azurite(
    azurite: AzuriteAccount, azure_container: str, mode: str
) -> None:
    target = azurite.target(azure_container, _auth(mode, azurite, azure_container))
    opts = dict(object_store_options(target))
    uri = f"az://{azure_container}/lake/orders"
    write_deltalake(uri, pa.table({"id": [1, 2, 3]}), storage_options=opts, mode="append")
    write_deltalake(uri, pa.table({"id": [4]}), storage_options=opts, mode="append")
    table = DeltaTable(uri, storage_options=opts)
    assert table.version() == 1
    assert sorted(table.to_pyarrow_table().column("id").to_pylist()) == [1, 2, 3, 4]
    with BlobFileSystem.open(target) as files:  # the same account and container, via the Blob SDK
        logs = [f.name for f in files.list("lake/orders/_delta_log")]
    assert logs == [
        "lake/orders/_delta_log/00000000000000000000.json",
        "lake/orders/_delta_log/00000000000000000001.json",
    ]
