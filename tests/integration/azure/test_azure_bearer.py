"""The Microsoft Entra (bearer token) path, end to end, against HTTPS Azurite (``--oauth basic``).

Entra itself cannot be reached here. What runs for real: our translation builds azure-identity's
``ManagedIdentityCredential`` / ``DefaultAzureCredential``, which fetch a token from a local
managed-identity endpoint (the App Service protocol: ``IDENTITY_ENDPOINT`` +
``IDENTITY_HEADER``), and the Blob SDK sends it as ``Authorization: Bearer`` over TLS (a
self-signed certificate made by ``scripts/azurite-local.sh``) to Azurite, which checks the
token's issuer, audience and lifetime (not its signature).
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from odibi_stream.checkpoints.azure_blob import AzureBlobCheckpointStore
from odibi_stream.checkpoints.lease import Lease
from odibi_stream.clients.azure import AzureTarget, blob_service_client
from odibi_stream.clients.azure_errors import AzureStorageError
from odibi_stream.clients.azure_files import BlobFileSystem
from odibi_stream.config.azure_auth import AzureAuth
from odibi_stream.exceptions import (
    CheckpointAccessDenied,
    CheckpointError,
    ConfigError,
    is_retryable,
)
from tests.azurite_fixtures import AzuriteAccount, LocalAzurite

IDENTITY_HEADER = "local-identity-header-value"
MI_ENV = (
    "MSI_ENDPOINT",
    "MSI_SECRET",
    "IMDS_ENDPOINT",
    "IDENTITY_SERVER_THUMBPRINT",
    "AZURE_CLIENT_ID",
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_FEDERATED_TOKEN_FILE",
    "AZURE_USERNAME",
    "AZURE_CLIENT_CERTIFICATE_PATH",
    "AZURE_TOKEN_CREDENTIALS",
)


def _b64(doc: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).rstrip(b"=").decode()


def make_jwt(audience: str = "https://storage.azure.com", lifetime: int = 3600) -> str:
    now = int(time.time())
    claims = {
        "aud": audience,
        "iss": "https://sts.windows.net/00000000-0000-0000-0000-000000000001/",
        "iat": now - 60,
        "nbf": now - 60,
        "exp": now + lifetime,
        "oid": "00000000-0000-0000-0000-0000000000aa",
        "tid": "00000000-0000-0000-0000-000000000001",
    }
    return f"{_b64({'alg': 'RS256', 'typ': 'JWT'})}.{_b64(claims)}.c2lnbmF0dXJl"


class IdentityEndpoint:
    """A managed-identity token endpoint (App Service protocol) handing out test tokens."""

    def __init__(self) -> None:
        self.audience = "https://storage.azure.com"
        self.calls: list[dict[str, list[str]]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.headers.get("X-IDENTITY-HEADER") != IDENTITY_HEADER:
                    self.send_error(401)
                    return
                query = parse_qs(urlparse(self.path).query)
                outer.calls.append(query)
                body = json.dumps(
                    {
                        "access_token": make_jwt(outer.audience),
                        "expires_on": str(int(time.time()) + 3600),
                        "resource": query.get("resource", [""])[0],
                        "token_type": "Bearer",
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/msi/token"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def identity(monkeypatch: pytest.MonkeyPatch) -> Iterator[IdentityEndpoint]:
    endpoint = IdentityEndpoint()
    for var in MI_ENV:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("IDENTITY_ENDPOINT", endpoint.url)
    monkeypatch.setenv("IDENTITY_HEADER", IDENTITY_HEADER)
    yield endpoint
    endpoint.close()


@pytest.fixture
def tls(azurite_tls: tuple[AzuriteAccount, LocalAzurite]) -> tuple[AzuriteAccount, str, str]:
    """(account, container, CA file) on the HTTPS emulator; the container made with the key."""
    account, instance = azurite_tls
    ca = str(instance.cert_file)
    name = f"bearer-{time.time_ns()}"
    with blob_service_client(account.target(None), ca_file=ca) as svc:
        svc.create_container(name)
    return account, name, ca


@pytest.mark.parametrize("mode", ["managed_identity", "default"])
def test_checkpoint_store_and_files_with_a_bearer_token(
    identity: IdentityEndpoint, tls: tuple[AzuriteAccount, str, str], mode: str
) -> None:
    account, container, ca = tls
    target = AzureTarget(None, container, AzureAuth.model_validate(mode), account.endpoint)
    with AzureBlobCheckpointStore.open(target, "ckpt", ca_file=ca) as store:
        store.create("p/offsets/0.json", b"plan")
        assert store.read("p/offsets/0.json") == b"plan"
        lease = Lease(store, "p", "A", ttl_seconds=30)
        assert lease.try_acquire()
        lease.renew()
        lease.check()
        assert store.list("p/offsets") == ["p/offsets/0.json"]
    with BlobFileSystem.open(target, "zone", ca_file=ca) as files:
        files.upload("landing/a.csv", b"id\n1\n")
        files.copy("landing/a.csv", "archive/a.csv")
        assert [f.name for f in files.glob("*/*.csv")] == ["archive/a.csv", "landing/a.csv"]
    assert identity.calls, "the token came from the managed-identity endpoint"
    assert identity.calls[0]["resource"] == ["https://storage.azure.com"]


def test_a_token_for_the_wrong_audience_is_access_denied(
    identity: IdentityEndpoint, tls: tuple[AzuriteAccount, str, str]
) -> None:
    account, container, ca = tls
    identity.audience = "https://vault.azure.net"
    target = AzureTarget(
        None, container, AzureAuth.model_validate("managed_identity"), account.endpoint
    )
    with (
        AzureBlobCheckpointStore.open(target, "ckpt", ca_file=ca) as store,
        pytest.raises(CheckpointAccessDenied) as err,
    ):
        store.read("p/offsets/0.json")
    assert not is_retryable(err.value)


def test_untrusted_certificate_is_not_silently_accepted(
    identity: IdentityEndpoint, tls: tuple[AzuriteAccount, str, str]
) -> None:
    account, container, _ = tls
    with (
        AzureBlobCheckpointStore.open(account.target(container), "ckpt") as store,
        pytest.raises(CheckpointError, match=r"(?i)certificate") as err,
    ):
        store.read("p/x")
    assert not is_retryable(err.value) and err.value.hint and "CA" in err.value.hint
    with (
        BlobFileSystem.open(account.target(container)) as files,
        pytest.raises(AzureStorageError) as ferr,
    ):
        files.list("")
    assert not is_retryable(ferr.value)


def test_tokens_over_plain_http_are_a_config_error(azurite: AzuriteAccount) -> None:
    target = AzureTarget(None, "c", AzureAuth.model_validate("managed_identity"), azurite.endpoint)
    with pytest.raises(ConfigError, match="https"):
        AzureBlobCheckpointStore.open(target, "ckpt")
