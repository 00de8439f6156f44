"""Translating an Azure connection's auth into each library's settings (no network).

Modes that need Microsoft Entra are checked here only; the bearer-token path runs for real
against HTTPS Azurite in tests/integration/azure/test_azure_bearer.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from azure.core.credentials import AzureNamedKeyCredential, AzureSasCredential
from azure.identity import (
    AzureCliCredential,
    ClientSecretCredential,
    DefaultAzureCredential,
    ManagedIdentityCredential,
    WorkloadIdentityCredential,
)

from odibi_stream.clients.azure import (
    AzureTarget,
    blob_credential,
    container_uri,
    open_container,
    parse_connection_string,
    resolve,
)
from odibi_stream.clients.azure_eventhub import eventhub_auth
from odibi_stream.clients.azure_options import (
    abfs_uri,
    hadoop_conf,
    object_store_options,
    spark_conf,
)
from odibi_stream.config.azure_auth import AzureAuth
from odibi_stream.config.project import AZURITE_KEY
from odibi_stream.core.redact import redact
from odibi_stream.exceptions import ConfigError

KEY = "a2V5LWZvci11bml0LXRlc3RzLW9ubHktMDEyMzQ1Njc4OQ=="
CLIENT_SECRET = "sp-secret-value-987654321"
SAS = "sv=2024-08-04&ss=b&srt=co&sp=rwdlac&se=2030-01-01T00:00:00Z&sig=c2lnbmF0dXJl"
HOST = "acct.dfs.core.windows.net"
SP = {"tenant_id": "tid", "client_id": "cid", "client_secret": CLIENT_SECRET}


def target(auth: object, endpoint: str | None = None, account: str | None = "acct") -> AzureTarget:
    return AzureTarget(account, "landing", AzureAuth.model_validate(auth), endpoint)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for var in (
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_ID",
        "AZURE_CLIENT_SECRET",
        "AZURE_FEDERATED_TOKEN_FILE",
        "AZURE_AUTHORITY_HOST",
    ):
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


# --------------------------------------------------------------------------- resolve


def test_resolve_public_cloud_default() -> None:
    res = resolve(target({"account_key": KEY}))
    assert res.blob_url == "https://acct.blob.core.windows.net"
    assert (res.account, res.secure, res.path_style, res.suffix) == (
        "acct",
        True,
        False,
        "core.windows.net",
    )
    assert res.account_key == KEY and KEY not in repr(res)


def test_resolve_sovereign_cloud_and_path_style_emulator() -> None:
    china = resolve(target("default", endpoint="https://acct.blob.core.chinacloudapi.cn/"))
    assert (
        china.suffix == "core.chinacloudapi.cn"
        and china.dfs_host == "acct.dfs.core.chinacloudapi.cn"
    )
    emu = resolve(
        target(
            {"account_key": KEY}, endpoint="http://127.0.0.1:10000/devstoreaccount1", account=None
        )
    )
    assert emu.account == "devstoreaccount1" and emu.path_style and not emu.secure
    assert emu.netloc == "127.0.0.1:10000"


def test_resolve_connection_strings() -> None:
    cs = f"DefaultEndpointsProtocol=https;AccountName=other;AccountKey={KEY};EndpointSuffix=core.usgovcloudapi.net"
    res = resolve(target({"connection_string": cs}, account=None))
    assert res.account == "other" and res.account_key == KEY
    assert res.blob_url == "https://other.blob.core.usgovcloudapi.net"
    dev = resolve(target({"connection_string": "UseDevelopmentStorage=true"}, account=None))
    assert (dev.account, dev.account_key) == ("devstoreaccount1", AZURITE_KEY)
    assert dev.blob_url == "http://127.0.0.1:10000/devstoreaccount1"
    sas_cs = f"BlobEndpoint=https://x.blob.core.windows.net/;SharedAccessSignature=?{SAS}"
    sas = resolve(target({"connection_string": sas_cs}, account=None))
    assert sas.account == "x" and sas.blob_url == "https://x.blob.core.windows.net"
    named = resolve(target({"connection_string": sas_cs}))  # an explicit account_name wins
    assert named.account == "acct"
    assert sas.sas_token == SAS and sas.account_key is None


def test_parse_connection_string_keeps_equals_in_values() -> None:
    parts = parse_connection_string(f"AccountName=a;AccountKey={KEY};")
    assert parts == {"accountname": "a", "accountkey": KEY}
    with pytest.raises(ConfigError) as err:
        parse_connection_string(f"AccountName=a;{KEY[:-2]}")
    assert KEY[:10] not in str(err.value)


def test_resolve_errors_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="account_name"):
        resolve(target("default", account=None))
    with pytest.raises(ConfigError, match="http"):
        resolve(target("default", endpoint="ftp://x"))
    eh = "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=R;SharedAccessKey=abcd"
    with pytest.raises(ConfigError, match="Event Hubs"):
        resolve(target({"connection_string": eh}))


# --------------------------------------------------------------------------- Blob SDK


@pytest.mark.parametrize(
    ("auth", "kind"),
    [
        ({"account_key": KEY}, AzureNamedKeyCredential),
        ({"sas_token": SAS}, AzureSasCredential),
        ({"connection_string": f"AccountName=acct;AccountKey={KEY}"}, AzureNamedKeyCredential),
        ({"service_principal": SP}, ClientSecretCredential),
        ({"managed_identity": {"client_id": "uami"}}, ManagedIdentityCredential),
        (
            {"workload_identity": {"tenant_id": "t", "client_id": "c", "token_file": "/t"}},
            WorkloadIdentityCredential,
        ),
        ("azure_cli", AzureCliCredential),
        ("default", DefaultAzureCredential),
    ],
)
def test_blob_credential_per_mode(auth: object, kind: type, clean_env: pytest.MonkeyPatch) -> None:
    cred = blob_credential(target(auth))
    try:
        assert isinstance(cred, kind)
    finally:
        close = getattr(cred, "close", None)
        if callable(close):
            close()


def test_named_key_credential_carries_account_and_key() -> None:
    cred = blob_credential(target({"account_key": KEY}))
    assert cred.named_key == ("acct", KEY)
    assert blob_credential(target({"sas_token": "?" + SAS})).signature == SAS


def test_storage_rejects_event_hubs_only_modes() -> None:
    with pytest.raises(ConfigError, match="Event Hubs"):
        blob_credential(target({"shared_access_key": {"name": "n", "key": KEY}}))
    with pytest.raises(ConfigError, match="neither AccountKey"):
        blob_credential(target({"connection_string": "AccountName=acct;BlobEndpoint=https://x"}))


def test_open_container_builds_client_without_io() -> None:
    handle = open_container(
        target({"account_key": KEY}, endpoint="http://127.0.0.1:1/devstoreaccount1")
    )
    try:
        assert handle.client.container_name == "landing"
        assert handle.client.url == "http://127.0.0.1:1/devstoreaccount1/landing"
        assert KEY not in repr(handle) and KEY not in handle.describe("p")
        assert (
            handle.describe("p/q")
            == "az://acct/landing/p/q (endpoint http://127.0.0.1:1/devstoreaccount1)"
        )
    finally:
        handle.close()
    with pytest.raises(ConfigError, match="container"):
        open_container(AzureTarget("acct", None, AzureAuth.model_validate("default")))


def test_container_uri_has_no_secrets() -> None:
    assert container_uri(target({"account_key": KEY})) == "az://acct/landing"
    emu = container_uri(target({"sas_token": SAS}, endpoint="http://127.0.0.1:9/devstoreaccount1"))
    assert "127.0.0.1:9" in emu and "sig" not in emu


# --------------------------------------------------------------------------- object_store


def test_object_store_shared_secrets() -> None:
    assert object_store_options(target({"account_key": KEY})) == {
        "azure_storage_account_name": "acct",
        "azure_storage_account_key": KEY,
    }
    assert object_store_options(target({"sas_token": SAS}))["azure_storage_sas_key"] == SAS
    emu = object_store_options(
        target(
            {"account_key": AZURITE_KEY},
            endpoint="http://127.0.0.1:5/devstoreaccount1",
            account=None,
        )
    )
    assert emu == {
        "azure_storage_account_name": "devstoreaccount1",
        "azure_storage_endpoint": "http://127.0.0.1:5/devstoreaccount1",
        "allow_http": "true",
        "azure_storage_account_key": AZURITE_KEY,
    }


def test_object_store_entra_modes(clean_env: pytest.MonkeyPatch) -> None:
    sp = object_store_options(
        target({"service_principal": {**SP, "authority_host": "https://login.chinacloudapi.cn"}})
    )
    assert sp["azure_tenant_id"] == "tid" and sp["azure_client_id"] == "cid"
    assert sp["azure_client_secret"] == CLIENT_SECRET
    assert sp["azure_storage_authority_host"] == "https://login.chinacloudapi.cn"
    mi = object_store_options(target({"managed_identity": {"client_id": "uami"}}))
    assert mi == {"azure_storage_account_name": "acct", "azure_client_id": "uami"}
    assert object_store_options(target("managed_identity")) == {
        "azure_storage_account_name": "acct"
    }
    wi = object_store_options(
        target({"workload_identity": {"tenant_id": "t", "client_id": "c", "token_file": "/tok"}})
    )
    assert (wi["azure_tenant_id"], wi["azure_client_id"], wi["azure_federated_token_file"]) == (
        "t",
        "c",
        "/tok",
    )
    assert object_store_options(target("azure_cli"))["azure_use_azure_cli"] == "true"


def test_object_store_workload_identity_from_aks_env(clean_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="workload_identity needs"):
        object_store_options(target("workload_identity"))
    clean_env.setenv("AZURE_TENANT_ID", "env-t")
    clean_env.setenv("AZURE_CLIENT_ID", "env-c")
    clean_env.setenv(
        "AZURE_FEDERATED_TOKEN_FILE", "/var/run/secrets/azure/tokens/azure-identity-token"
    )
    wi = object_store_options(target("workload_identity"))
    assert wi["azure_tenant_id"] == "env-t" and wi["azure_federated_token_file"].endswith(
        "azure-identity-token"
    )


def test_object_store_default_chain(clean_env: pytest.MonkeyPatch) -> None:
    assert object_store_options(target("default")) == {"azure_storage_account_name": "acct"}
    clean_env.setenv("AZURE_TENANT_ID", "t")
    clean_env.setenv("AZURE_CLIENT_ID", "c")
    clean_env.setenv("AZURE_FEDERATED_TOKEN_FILE", "/tok")
    assert object_store_options(target("default"))["azure_federated_token_file"] == "/tok"
    clean_env.setenv("AZURE_CLIENT_SECRET", CLIENT_SECRET)
    opts = object_store_options(target("default"))
    assert opts["azure_client_secret"] == CLIENT_SECRET and "azure_federated_token_file" not in opts
    assert CLIENT_SECRET not in repr(opts)


def test_options_repr_and_logs_hide_secrets(clean_env: pytest.MonkeyPatch) -> None:
    for opts in (
        object_store_options(target({"account_key": KEY})),
        object_store_options(target({"sas_token": SAS})),
        object_store_options(target({"service_principal": SP})),
        spark_conf(target({"account_key": KEY})),
        spark_conf(target({"sas_token": SAS})),
        spark_conf(target({"service_principal": SP})),
    ):
        text = repr(opts) + str(opts) + f"{opts}"
        for secret in (KEY, SAS, CLIENT_SECRET, "c2lnbmF0dXJl"):
            assert secret not in text
    # translation registered the secrets: a log line quoting one is masked
    assert KEY not in redact(f"oops {KEY}") and CLIENT_SECRET not in redact(CLIENT_SECRET)


def test_object_store_rejects_event_hubs_policy() -> None:
    with pytest.raises(ConfigError):
        object_store_options(target({"shared_access_key": {"name": "n", "key": KEY}}))


# --------------------------------------------------------------------------- Spark / ABFS


def test_hadoop_conf_shared_key_and_sas() -> None:
    assert hadoop_conf(target({"account_key": KEY})) == {
        f"fs.azure.account.auth.type.{HOST}": "SharedKey",
        f"fs.azure.account.key.{HOST}": KEY,
    }
    assert hadoop_conf(target({"sas_token": SAS})) == {
        f"fs.azure.account.auth.type.{HOST}": "SAS",
        f"fs.azure.sas.fixed.token.{HOST}": SAS,
    }


def test_hadoop_conf_entra_modes(clean_env: pytest.MonkeyPatch) -> None:
    sp = hadoop_conf(target({"service_principal": SP}))
    assert sp[f"fs.azure.account.oauth.provider.type.{HOST}"].endswith(".ClientCredsTokenProvider")
    assert (
        sp[f"fs.azure.account.oauth2.client.endpoint.{HOST}"]
        == "https://login.microsoftonline.com/tid/oauth2/token"
    )
    assert sp[f"fs.azure.account.oauth2.client.secret.{HOST}"] == CLIENT_SECRET
    mi = hadoop_conf(target({"managed_identity": {"client_id": "uami"}}))
    assert mi[f"fs.azure.account.oauth.provider.type.{HOST}"].endswith(".MsiTokenProvider")
    assert mi[f"fs.azure.account.oauth2.client.id.{HOST}"] == "uami"
    wi = hadoop_conf(
        target(
            {
                "workload_identity": {
                    "tenant_id": "t",
                    "client_id": "c",
                    "token_file": "/tok",
                    "authority_host": "https://login.microsoftonline.us",
                }
            }
        )
    )
    assert wi[f"fs.azure.account.oauth.provider.type.{HOST}"].endswith(
        ".WorkloadIdentityTokenProvider"
    )
    assert wi[f"fs.azure.account.oauth2.token.file.{HOST}"] == "/tok"
    assert wi[f"fs.azure.account.oauth2.msi.tenant.{HOST}"] == "t"
    assert wi[f"fs.azure.account.oauth2.msi.authority.{HOST}"] == "https://login.microsoftonline.us"


@pytest.mark.parametrize(
    "auth", ["azure_cli", "default", {"shared_access_key": {"name": "n", "key": KEY}}]
)
def test_hadoop_conf_rejects_modes_abfs_lacks(auth: object) -> None:
    with pytest.raises(ConfigError) as err:
        hadoop_conf(target(auth))
    assert err.value.hint and "service_principal" in err.value.hint


def test_hadoop_conf_for_azurite_matches_the_measured_recipe() -> None:
    emu = target(
        {"account_key": AZURITE_KEY},
        endpoint="http://127.0.0.1:10000/devstoreaccount1",
        account=None,
    )
    conf = hadoop_conf(emu)
    host = "devstoreaccount1.dfs.core.windows.net"
    assert conf == {
        "fs.azure.abfs.endpoint": "127.0.0.1:10000",
        "fs.azure.always.use.https": "false",
        "fs.azure.networking.library": "JDK_HTTP_URL_CONNECTION",
        "fs.azure.account.hns.enabled": "false",
        "fs.azure.fns.account.service.type": "BLOB",
        "fs.azure.ingress.service.type": "BLOB",
        f"fs.azure.account.auth.type.{host}": "SharedKey",
        f"fs.azure.account.key.{host}": AZURITE_KEY,
    }
    assert all(k.startswith("spark.hadoop.fs.azure.") for k in spark_conf(emu))
    assert abfs_uri(emu, "/lake/orders/") == f"abfs://landing@{host}/lake/orders"
    assert abfs_uri(target({"account_key": KEY}), "x") == f"abfss://landing@{HOST}/x"
    assert (
        hadoop_conf(target({"account_key": KEY}), hierarchical=True)["fs.azure.account.hns.enabled"]
        == "true"
    )


# --------------------------------------------------------------------------- Event Hubs


def test_eventhub_auth_modes(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cs = "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=R;SharedAccessKey=abcdefgh"
    conn = eventhub_auth(AzureAuth.model_validate({"connection_string": cs}))
    assert conn.connection_string == cs and "abcdefgh" not in repr(conn)
    sas = eventhub_auth(AzureAuth.model_validate({"sas_token": SAS}))
    assert isinstance(sas.credential, AzureSasCredential)
    named = eventhub_auth(
        AzureAuth.model_validate({"shared_access_key": {"name": "R", "key": KEY}})
    )
    assert isinstance(named.credential, AzureNamedKeyCredential) and named.credential.named_key == (
        "R",
        KEY,
    )
    assert KEY not in repr(named)
    token = eventhub_auth(AzureAuth.model_validate({"service_principal": SP}))
    assert isinstance(token.credential, ClientSecretCredential)
    token.credential.close()
    with pytest.raises(ConfigError, match="shared access policy"):
        eventhub_auth(AzureAuth.model_validate({"account_key": KEY}))


NO_SDK = """
import sys
sys.modules["azure"] = None  # as if the azure extra were not installed
from odibi_stream.checkpoints.azure_blob import AzureBlobCheckpointStore
from odibi_stream.clients.azure import AzureTarget
from odibi_stream.clients.azure_files import BlobFileSystem
from odibi_stream.clients.azure_options import object_store_options
from odibi_stream.config.azure_auth import AzureAuth
from odibi_stream.exceptions import ConfigError
t = AzureTarget("a", "c", AzureAuth(account_key="k" * 8))
print(sorted(object_store_options(t)))  # delta-rs options need no Azure SDK
for build in (AzureBlobCheckpointStore.open, BlobFileSystem.open):
    try:
        build(t)
    except ConfigError as exc:
        print("ConfigError", exc.hint)
"""


def test_without_the_azure_extra_a_clear_config_error() -> None:
    import subprocess
    import sys

    from tests.conftest import cli_env

    done = subprocess.run(
        [sys.executable, "-c", NO_SDK], env=cli_env(), capture_output=True, text=True, timeout=60
    )
    lines = done.stdout.splitlines()
    assert done.returncode == 0, done.stderr
    assert lines[0] == "['azure_storage_account_key', 'azure_storage_account_name']"
    assert (
        lines[1:] == ["ConfigError install the Azure extra: pip install 'odibi-stream[azure]'"] * 2
    )


def test_outage_errors_name_no_sas_signature() -> None:
    from odibi_stream.checkpoints.azure_blob import AzureBlobCheckpointStore
    from odibi_stream.clients.azure_files import BlobFileSystem
    from odibi_stream.exceptions import CheckpointUnavailable, OdibiError

    dead = "http://127.0.0.1:1/devstoreaccount1"  # nothing listens on port 1
    unreachable = target({"sas_token": SAS}, endpoint=dead, account=None)
    with (
        AzureBlobCheckpointStore.open(unreachable, "ckpt", backoff=0.0) as store,
        pytest.raises(CheckpointUnavailable) as err,
    ):
        store.create("p/offsets/0.json", b"x")
    with BlobFileSystem.open(unreachable, backoff=0.0) as files, pytest.raises(OdibiError) as ferr:
        files.list("landing")
    for exc in (err.value, ferr.value):
        text = f"{exc} {exc.hint}"
        assert "c2lnbmF0dXJl" not in text and "sig=c2" not in text
