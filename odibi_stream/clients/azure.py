"""Azure connections → Blob SDK clients and token credentials.

An :class:`AzureTarget` is what a connection says (account, container, optional endpoint, one
:class:`~odibi_stream.config.azure_auth.AzureAuth`). :func:`resolve` turns it into the account
name, the Blob account URL and the shared secret (key or SAS) if any; every translation
(:func:`open_container` here, object_store and Spark options in
:mod:`odibi_stream.clients.azure_options`) starts from it, so all libraries see one account.

Endpoints: ``https://<acct>.blob.core.windows.net`` by default; ``endpoint`` overrides it
(sovereign clouds ``https://<acct>.blob.core.chinacloudapi.cn``, Azure Stack, or a *path-style*
emulator URL ``http://127.0.0.1:10000/devstoreaccount1`` whose first path segment is the account).

Secrets: values are read from the auth model only here and in ``azure_options``; each one is
registered with :mod:`odibi_stream.core.redact` first, and nothing returned by this
module shows a secret in its ``repr``. azure-storage-blob and azure-identity are imported lazily
(the ``azure`` extra). Event Hubs credentials: :mod:`odibi_stream.clients.azure_eventhub`.

Lifecycle: build one :class:`ContainerHandle` per store / file system and keep it for the life
of the process (it owns a connection pool and, for Entra modes, a token cache); ``close()`` it
when done.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import ParseResult, urlparse

from odibi_stream.config.azure_auth import AzureAuth
from odibi_stream.config.project import AZURITE_ACCOUNT, AZURITE_KEY
from odibi_stream.core.redact import register_secret
from odibi_stream.exceptions import ConfigError

if TYPE_CHECKING:
    from azure.storage.blob import BlobServiceClient, ContainerClient

DEFAULT_SUFFIX = "core.windows.net"
AZURITE_DEFAULT_URL = f"http://127.0.0.1:10000/{AZURITE_ACCOUNT}"
TOKEN_MODES = ("service_principal", "managed_identity", "workload_identity", "azure_cli", "default")
_EXTRA_HINT = "install the Azure extra: pip install 'odibi-stream[azure]'"


@dataclass(frozen=True)
class AzureTarget:
    """An Azure storage location as a connection describes it.

    Attributes:
        account_name: Storage account; may be omitted when the endpoint is path-style or the
            connection string names it.
        container: Blob container / ADLS file system (None for account-level use).
        auth: How to authenticate.
        endpoint: Blob account URL override (see the module docstring).
    """

    account_name: str | None
    container: str | None
    auth: AzureAuth
    endpoint: str | None = None


@dataclass(frozen=True)
class ResolvedAccount:
    """The account a target points at, with its shared secret (never shown in ``repr``)."""

    account: str
    blob_url: str
    path_style: bool
    secure: bool
    suffix: str
    account_key: str | None = field(default=None, repr=False)
    sas_token: str | None = field(default=None, repr=False)

    @property
    def netloc(self) -> str:
        """``host:port`` of the Blob endpoint."""
        return urlparse(self.blob_url).netloc

    @property
    def dfs_host(self) -> str:
        """The ADLS (dfs) host name ABFS addresses the account by."""
        return f"{self.account}.dfs.{self.suffix}"


def parse_connection_string(text: str) -> dict[str, str]:
    """Split ``Key=Value;...`` into a dict with lower-cased keys (values may contain ``=``).

    Raises:
        ConfigError: a part has no ``=`` (the message never contains the value).
    """
    out: dict[str, str] = {}
    for part in text.strip().strip(";").split(";"):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep:
            raise ConfigError(
                "auth.connection_string is malformed (expected Key=Value;Key=Value)",
                hint="copy the connection string from the portal's 'Access keys' page",
            )
        out[key.strip().lower()] = value.strip()
    return out


def _secret(auth: AzureAuth, name: str) -> str:
    value = auth.secret(name)
    register_secret(value)
    return value


def _from_connection_string(text: str) -> tuple[str | None, str | None, str | None, str | None]:
    """(account, account URL, key, sas) named by a storage connection string."""
    parts = parse_connection_string(text)
    for secret in (parts.get("accountkey"), parts.get("sharedaccesssignature")):
        register_secret(secret)
    if "endpoint" in parts and "accountname" not in parts:
        raise ConfigError(
            "auth.connection_string looks like an Event Hubs connection string, not a storage one",
            hint="use the storage account's connection string (DefaultEndpointsProtocol=...)",
        )
    if parts.get("usedevelopmentstorage", "").lower() == "true":
        proxy = parts.get("developmentstorageproxyuri")
        dev = f"{proxy.rstrip('/')}/{AZURITE_ACCOUNT}" if proxy else AZURITE_DEFAULT_URL
        return AZURITE_ACCOUNT, dev, AZURITE_KEY, None
    account = parts.get("accountname")
    url = parts.get("blobendpoint")
    if url is None and account:
        proto = parts.get("defaultendpointsprotocol", "https")
        url = f"{proto}://{account}.blob.{parts.get('endpointsuffix', DEFAULT_SUFFIX)}"
    sas = parts.get("sharedaccesssignature")
    return account, url, parts.get("accountkey"), sas.lstrip("?") if sas else None


def _account_in_url(parsed: ParseResult | None) -> str | None:
    """The account a URL names: first path segment (path-style) or ``<acct>.blob.`` host."""
    if parsed is None:
        return None
    path = parsed.path.strip("/")
    if path:
        return path.split("/")[0]
    host = parsed.hostname or ""
    return host.split(".")[0] if ".blob." in host else None


def resolve(target: AzureTarget) -> ResolvedAccount:
    """Work out account name, account URL and shared secret of ``target``.

    Raises:
        ConfigError: no account name can be found, or the endpoint is not an http(s) URL.
    """
    auth = target.auth
    account, url, key, sas = None, None, None, None
    if auth.connection_string is not None:
        account, url, key, sas = _from_connection_string(_secret(auth, "connection_string"))
    elif auth.account_key is not None:
        key = _secret(auth, "account_key")
    elif auth.sas_token is not None:
        sas = _secret(auth, "sas_token")
    url = target.endpoint or url
    parsed = urlparse(url) if url else None
    if parsed is not None and (parsed.scheme not in ("http", "https") or not parsed.hostname):
        raise ConfigError(
            "the Azure endpoint must be an http(s) URL",
            hint="e.g. https://myacct.blob.core.windows.net or "
            "http://127.0.0.1:10000/devstoreaccount1",
        )
    account = target.account_name or account or _account_in_url(parsed)
    if not account:
        raise ConfigError(
            "the Azure connection needs 'account_name'",
            hint="set account_name (or an endpoint / connection string that names the account)",
        )
    url = (url or f"https://{account}.blob.{DEFAULT_SUFFIX}").rstrip("/")
    parsed = urlparse(url)
    host = parsed.hostname or ""
    marker = f"{account}.blob."
    suffix = host[len(marker) :] if host.startswith(marker) else DEFAULT_SUFFIX
    return ResolvedAccount(
        account=account,
        blob_url=url,
        path_style=bool(parsed.path.strip("/")),
        secure=parsed.scheme == "https",
        suffix=suffix,
        account_key=key,
        sas_token=sas,
    )


def require_sdk() -> None:
    """Raise a :class:`ConfigError` with the install hint unless azure-storage-blob (and
    azure-core) can be imported; the Blob SDK is an optional extra."""
    try:
        import azure.core
        import azure.storage.blob  # noqa: F401
    except ImportError as exc:
        raise ConfigError("Azure storage needs azure-storage-blob", hint=_EXTRA_HINT) from exc


def token_credential(auth: AzureAuth) -> Any:
    """An azure-identity ``TokenCredential`` for the Entra modes (lazy import).

    Raises:
        ConfigError: ``auth`` is not an Entra mode, or azure-identity is not installed.
    """
    try:
        import azure.identity as identity
    except ImportError as exc:
        raise ConfigError(f"auth mode {auth.mode} needs azure-identity", hint=_EXTRA_HINT) from exc
    if auth.service_principal is not None:
        sp = auth.service_principal
        secret = sp.client_secret.get_secret_value()
        register_secret(secret)
        kw = {"authority": sp.authority_host} if sp.authority_host else {}
        return identity.ClientSecretCredential(sp.tenant_id, sp.client_id, secret, **kw)
    if auth.managed_identity is not None:
        return identity.ManagedIdentityCredential(client_id=auth.managed_identity.client_id)
    if auth.workload_identity is not None:
        wi = auth.workload_identity
        kw = {"authority": wi.authority_host} if wi.authority_host else {}
        return identity.WorkloadIdentityCredential(
            tenant_id=wi.tenant_id, client_id=wi.client_id, token_file_path=wi.token_file, **kw
        )
    if auth.azure_cli is not None:
        return identity.AzureCliCredential(tenant_id=auth.azure_cli.tenant_id or "")
    if auth.default is not None:
        return identity.DefaultAzureCredential(
            managed_identity_client_id=auth.default.managed_identity_client_id
        )
    raise ConfigError(f"auth mode {auth.mode} is not a Microsoft Entra (token) mode")


def blob_credential(target: AzureTarget) -> Any:
    """The Blob SDK credential: named key, SAS credential or a TokenCredential.

    Raises:
        ConfigError: the mode cannot authenticate to storage (``shared_access_key``), or the
            connection string carries neither a key nor a SAS.
    """
    res = resolve(target)
    require_sdk()
    from azure.core.credentials import AzureNamedKeyCredential, AzureSasCredential

    if res.account_key is not None:
        return AzureNamedKeyCredential(res.account, res.account_key)
    if res.sas_token is not None:
        return AzureSasCredential(res.sas_token)
    if target.auth.mode in TOKEN_MODES:
        return token_credential(target.auth)
    if target.auth.mode == "connection_string":
        raise ConfigError(
            "auth.connection_string has neither AccountKey nor SharedAccessSignature",
            hint="use a connection string with a key or SAS, or another auth mode",
        )
    raise ConfigError(
        f"auth mode {target.auth.mode} is for Event Hubs, not storage",
        hint="use account_key, sas_token, connection_string or an Entra mode",
    )


def _quiet_sdk_logging() -> None:
    # azure-core logs every request and response header set at INFO: far too chatty for a
    # daemon that checkpoints every batch. Respect a level someone configured explicitly.
    http_log = logging.getLogger("azure.core.pipeline.policies.http_logging_policy")
    if http_log.level == logging.NOTSET:
        http_log.setLevel(logging.WARNING)


def client_options(*, ca_file: str | None = None, **overrides: Any) -> dict[str, Any]:
    """Blob SDK client keyword arguments: short timeouts and fast retries, for a daemon.

    The SDK's default retry waits 15 s+ between attempts; the runtime has its own backoff and
    health reporting, so storage calls fail fast. ``ca_file`` trusts a private CA (an HTTPS
    emulator or a TLS-intercepting proxy).
    """
    require_sdk()
    from azure.storage.blob import ExponentialRetry

    # The SDK annotates the backoffs as int; fractions of a second work and are what we want.
    retry: dict[str, Any] = {"initial_backoff": 0.5, "random_jitter_range": 0.25}
    opts: dict[str, Any] = {
        "connection_timeout": 10,
        "read_timeout": 60,
        "retry_policy": ExponentialRetry(increment_base=2, retry_total=3, **retry),
        "user_agent": "odibi-stream",
    }
    if ca_file:
        opts["connection_verify"] = ca_file
    opts.update(overrides)
    return opts


def blob_service_client(
    target: AzureTarget, *, credential: Any = None, ca_file: str | None = None, **kwargs: Any
) -> BlobServiceClient:
    """A ``BlobServiceClient`` for the target's account (``credential`` defaults to
    :func:`blob_credential`); ``kwargs`` override :func:`client_options`."""
    require_sdk()
    from azure.storage.blob import BlobServiceClient

    _quiet_sdk_logging()
    res = resolve(target)
    if target.auth.mode in TOKEN_MODES and not res.secure:
        # The SDK refuses to send a bearer token over plain HTTP; say so before any request.
        raise ConfigError(
            f"auth mode {target.auth.mode} needs an https endpoint (got {res.blob_url})",
            hint="Entra tokens are only sent over TLS; use https, or a key/SAS for a "
            "local emulator",
        )
    cred = credential if credential is not None else blob_credential(target)
    return BlobServiceClient(
        res.blob_url, credential=cred, **client_options(ca_file=ca_file, **kwargs)
    )


@dataclass
class ContainerHandle:
    """A ``ContainerClient`` plus the credential it owns; ``close()`` releases both."""

    client: ContainerClient
    credential: Any = field(default=None, repr=False)
    target: AzureTarget | None = field(default=None, repr=False)

    def describe(self, path: str = "") -> str:
        """Printable, secret-free location of ``path`` in this container."""
        if self.target is None:
            where = f"az://{self.client.account_name}/{self.client.container_name}"
            return f"{where}/{path.strip('/')}".rstrip("/")
        return container_uri(self.target, path)

    def close(self) -> None:
        """Close the HTTP pool and the credential's token cache/session."""
        self.client.close()
        closer = getattr(self.credential, "close", None)
        if callable(closer):
            closer()


def container_uri(target: AzureTarget, path: str = "") -> str:
    """A printable, secret-free location: ``az://<acct>/<container>/<path>``, plus the
    endpoint when it is not the public cloud's default."""
    res = resolve(target)
    where = f"az://{res.account}/{target.container or ''}/{path.strip('/')}".rstrip("/")
    if res.path_style or res.suffix != DEFAULT_SUFFIX:
        where += f" (endpoint {res.blob_url.split('?')[0]})"
    return where


def open_container(
    target: AzureTarget, *, ca_file: str | None = None, retry: bool = True, **kwargs: Any
) -> ContainerHandle:
    """Build the container client of ``target`` (no network I/O happens here).

    Args:
        target: The connection.
        ca_file: Extra CA bundle to trust (see :func:`client_options`).
        retry: False for a pipeline that never retries (callers that retry themselves and must
            know whether an attempt may have been applied).
        kwargs: Overrides of :func:`client_options`.

    Raises:
        ConfigError: the target names no container, its auth cannot reach storage, or the
            Blob SDK is not installed.
    """
    if not target.container:
        raise ConfigError("the Azure connection needs 'container'")
    if not retry:
        require_sdk()
        from azure.storage.blob import ExponentialRetry

        kwargs.setdefault("retry_policy", ExponentialRetry(retry_total=0))
    cred = blob_credential(target)
    service = blob_service_client(target, credential=cred, ca_file=ca_file, **kwargs)
    return ContainerHandle(service.get_container_client(target.container), cred, target)
