"""AzureBlobCheckpointStore on a real emulator: what the shared contract suite cannot show.

Round trips per call, lost responses, stale etags, hidden blobs, auth and container errors,
and an outage (the emulator stopped and restarted under a live store).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
from azure.storage.blob import ContainerSasPermissions, generate_container_sas

from odibi_stream.checkpoints.azure_blob import AzureBlobCheckpointStore
from odibi_stream.checkpoints.lease import Lease
from odibi_stream.config.azure_auth import AzureAuth
from odibi_stream.exceptions import (
    CheckpointAccessDenied,
    CheckpointConflict,
    CheckpointError,
    CheckpointUnavailable,
    is_retryable,
)
from tests.azurite_fixtures import AzuriteAccount, LocalAzurite, drop_container, new_container
from tests.integration.azure.proxy import FaultProxy


@pytest.fixture
def proxy(azurite: AzuriteAccount) -> Iterator[FaultProxy]:
    p = FaultProxy(azurite.endpoint)
    yield p
    p.close()


def _store(
    account: AzuriteAccount, container: str, prefix: str = "ckpt", **kw: object
) -> AzureBlobCheckpointStore:
    return AzureBlobCheckpointStore.open(account.target(container, **kw), prefix)  # type: ignore[arg-type]


def test_each_call_is_one_round_trip(
    azurite: AzuriteAccount, azure_container: str, proxy: FaultProxy
) -> None:
    via = AzuriteAccount(proxy.endpoint)
    with _store(via, azure_container) as store:
        store.create("p/offsets/0.json", b"plan")
        assert proxy.requests == {"PUT": 1}
        proxy.reset_counts()
        assert store.read("p/offsets/0.json") == b"plan"
        assert proxy.requests == {"GET": 1}
        lease = Lease(store, "p", "A", ttl_seconds=30)
        assert lease.try_acquire()  # read (absent) + create-if-absent
        proxy.reset_counts()
        lease.renew()  # CAS against our cached etag: no read first
        assert proxy.requests == {"PUT": 1}
        proxy.reset_counts()
        lease.check()
        assert proxy.requests == {"GET": 1}


def test_lost_create_response_is_not_a_conflict(azure_container: str, proxy: FaultProxy) -> None:
    with _store(AzuriteAccount(proxy.endpoint), azure_container) as store:
        proxy.drop_next_response("PUT")
        store.create("p/commits/0.json", b"mine")  # applied, answer lost, retry sees 409
        assert proxy.requests["PUT"] == 2
        assert store.read("p/commits/0.json") == b"mine"
        with pytest.raises(CheckpointConflict):
            store.create("p/commits/0.json", b"other")


def test_lost_cas_response_still_reports_success(azure_container: str, proxy: FaultProxy) -> None:
    with _store(AzuriteAccount(proxy.endpoint), azure_container) as store:
        assert store.compare_and_swap("p/lease.json", b"v1", None)
        proxy.drop_next_response("PUT")
        assert store.compare_and_swap("p/lease.json", b"v2", b"v1")
        assert store.read("p/lease.json") == b"v2"
        proxy.drop_next_response("PUT")
        assert store.compare_and_swap("p/new.json", b"n1", None)


def test_cas_compares_values_even_with_a_stale_etag(
    azurite: AzuriteAccount, azure_container: str
) -> None:
    with _store(azurite, azure_container) as a, _store(azurite, azure_container) as b:
        assert a.compare_and_swap("p/lease.json", b"same", None)
        b.replace("p/lease.json", b"same")  # same bytes, new etag: a's cached etag is stale
        assert a.compare_and_swap("p/lease.json", b"next", b"same")
        b.replace("p/lease.json", b"theirs")
        assert not a.compare_and_swap("p/lease.json", b"mine", b"next")
        assert a.read("p/lease.json") == b"theirs"
        b.delete("p/lease.json")
        assert not a.compare_and_swap("p/lease.json", b"mine", b"theirs")
        assert a.compare_and_swap("p/lease.json", b"mine", None)


def test_hidden_blobs_and_folders_are_never_listed(
    azurite: AzuriteAccount, azure_container: str
) -> None:
    with _store(azurite, azure_container) as store:
        store.create("p/offsets/0.json", b"x")
        with azurite.service() as svc:
            cc = svc.get_container_client(azure_container)
            cc.upload_blob("ckpt/p/offsets/.0.json.tmp", b"t")
            cc.upload_blob("ckpt/p/.locks/a", b"l")
            cc.upload_blob("ckpt/.meta", b"m")
            cc.upload_blob("elsewhere/p/offsets/9.json", b"not in this store")
        assert store.list("p/offsets") == ["p/offsets/0.json"]
        assert store.folders("p") == ["offsets"]
        assert store.folders("") == ["p"]
        assert store.list("") == []


def test_describe_names_the_location_without_secrets(
    azurite: AzuriteAccount, azure_container: str
) -> None:
    with _store(azurite, azure_container, prefix="team/ckpt") as store:
        where = store.describe()
    assert where.startswith(f"az://devstoreaccount1/{azure_container}/team/ckpt")
    assert azurite.account_key not in where and "AccountKey" not in where


def test_wrong_key_is_terminal_access_denied_without_the_key(
    azurite: AzuriteAccount, azure_container: str
) -> None:
    wrong = "QUJD" + azurite.account_key[4:]
    with _store(azurite, azure_container, auth=AzureAuth(account_key=wrong)) as store:
        for call in (
            lambda: store.read("p/x"),
            lambda: store.create("p/x", b"1"),
            lambda: store.list("p"),
        ):
            with pytest.raises(CheckpointAccessDenied) as err:
                call()
            assert not is_retryable(err.value)
            assert err.value.hint and "auth" in err.value.hint
            assert wrong not in str(err.value) and wrong[:12] not in str(err.value)


def test_read_only_sas_can_read_but_not_write(
    azurite: AzuriteAccount, azure_container: str
) -> None:
    with _store(azurite, azure_container) as writer:
        writer.create("p/offsets/0.json", b"plan")
    sas = generate_container_sas(
        azurite.account_name,
        azure_container,
        account_key=azurite.account_key,
        permission=ContainerSasPermissions(read=True, list=True),
        expiry=datetime.now(timezone.utc) + timedelta(hours=1),
    )
    with _store(azurite, azure_container, auth=AzureAuth(sas_token=sas)) as reader:
        assert reader.read("p/offsets/0.json") == b"plan"
        assert reader.list("p/offsets") == ["p/offsets/0.json"]
        with pytest.raises(CheckpointAccessDenied) as err:
            reader.create("p/offsets/1.json", b"x")
        assert "sig=" not in str(err.value) or "sig=***" in str(err.value)


def test_missing_container_is_a_terminal_error(azurite: AzuriteAccount) -> None:
    with _store(azurite, "no-such-container-x1") as store:
        with pytest.raises(CheckpointError, match="container does not exist") as err:
            store.read("p/metadata.json")  # never "absent": that would restart from scratch
        assert not is_retryable(err.value)
        with pytest.raises(CheckpointError, match="container does not exist"):
            store.create("p/metadata.json", b"{}")


def test_ensure_container_creates_it_once(azurite: AzuriteAccount) -> None:
    name = f"ensure-{time.time_ns()}"
    with _store(azurite, name) as store:
        store.ensure_container()
        store.ensure_container()
        store.create("p/a", b"1")
        store.probe()
    drop_container(azurite, name)


def test_outage_is_retryable_and_the_same_store_resumes(
    isolated_azurite: tuple[AzuriteAccount, LocalAzurite],
) -> None:
    account, instance = isolated_azurite
    container = new_container(account)
    with _store(account, container) as store:
        store.create("p/offsets/0.json", b"plan-0")
        instance.stop()
        for call in (
            lambda: store.read("p/offsets/0.json"),
            lambda: store.create("p/offsets/1.json", b"plan-1"),
            lambda: store.compare_and_swap("p/lease.json", b"l", None),
            lambda: store.list("p/offsets"),
        ):
            began = time.monotonic()
            with pytest.raises(CheckpointUnavailable) as err:
                call()
            assert is_retryable(err.value)
            assert time.monotonic() - began < 5, "an outage must be reported quickly"
            assert account.account_key not in str(err.value)
        assert instance.start() == account.endpoint  # same port after a restart
        assert store.read("p/offsets/0.json") == b"plan-0"
        store.create("p/offsets/1.json", b"plan-1")
        assert store.list("p/offsets") == ["p/offsets/0.json", "p/offsets/1.json"]
