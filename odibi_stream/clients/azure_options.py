"""Azure connections → delta-rs/object_store ``storage_options`` and Spark/Hadoop ABFS conf.

Both translations start from :func:`odibi_stream.clients.azure.resolve`, so delta-rs, Spark and
the Blob SDK address the same account with the same secret. The results are
:class:`SecretOptions`: plain ``dict[str, str]`` whose ``repr`` masks credential values.

object_store picks its credential from the options in this order: bearer token, account key,
workload identity (client id + tenant + token file), client secret, SAS, Azure CLI, else the
instance metadata service (managed identity). The ``default`` mode therefore maps to: a service
principal or workload identity from the standard ``AZURE_*`` environment variables if set, else
managed identity; object_store cannot fall back to the Azure CLI (use ``azure_cli`` for that).

ABFS (``hadoop-azure``) has no Azure CLI or credential-chain provider: ``azure_cli`` and
``default`` are rejected for Spark with a hint. Path-style endpoints (Azurite) use ABFS over the
Blob endpoint (``fs.azure.abfs.endpoint``, no hierarchical namespace) with plain HTTP through the
JDK client, the combination measured to work against Azurite with Hadoop 3.5.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from odibi_stream.clients.azure import AzureTarget, ResolvedAccount, resolve
from odibi_stream.config.azure_auth import AzureAuth
from odibi_stream.core.redact import redact_mapping, register_secret
from odibi_stream.exceptions import ConfigError

PUBLIC_AUTHORITY = "https://login.microsoftonline.com"
ABFS_PROVIDERS = "org.apache.hadoop.fs.azurebfs.oauth2."


class SecretOptions(dict[str, str]):
    """A ``dict`` of library options that never prints the credentials it carries."""

    def __repr__(self) -> str:
        return f"SecretOptions({redact_mapping(self)!r})"

    __str__ = __repr__


# --------------------------------------------------------------------------- object_store


def object_store_options(target: AzureTarget) -> SecretOptions:
    """``storage_options`` for deltalake (delta-rs) and other object_store users.

    Raises:
        ConfigError: the auth mode cannot be expressed for object_store (``shared_access_key``).
    """
    res = resolve(target)
    opts = SecretOptions(azure_storage_account_name=res.account)
    if target.endpoint or res.path_style or res.suffix != "core.windows.net":
        opts["azure_storage_endpoint"] = res.blob_url
    if not res.secure:
        opts["allow_http"] = "true"
    opts.update(_object_store_auth(target.auth, res))
    return opts


def _object_store_auth(auth: AzureAuth, res: ResolvedAccount) -> dict[str, str]:
    if res.account_key is not None:
        return {"azure_storage_account_key": res.account_key}
    if res.sas_token is not None:
        return {"azure_storage_sas_key": res.sas_token}
    if auth.service_principal is not None:
        sp = auth.service_principal
        out = {
            "azure_tenant_id": sp.tenant_id,
            "azure_client_id": sp.client_id,
            "azure_client_secret": _plain(sp.client_secret.get_secret_value()),
        }
        return _with_authority(out, sp.authority_host)
    if auth.managed_identity is not None:
        cid = auth.managed_identity.client_id
        return {"azure_client_id": cid} if cid else {}
    if auth.workload_identity is not None:
        tenant, client, token_file, authority = _workload(auth)
        out = {
            "azure_tenant_id": tenant,
            "azure_client_id": client,
            "azure_federated_token_file": token_file,
        }
        return _with_authority(out, authority)
    if auth.azure_cli is not None:
        return {"azure_use_azure_cli": "true"}
    if auth.default is not None:
        return _default_chain(auth, os.environ)
    raise ConfigError(
        f"auth mode {auth.mode} cannot authenticate to storage",
        hint="use account_key, sas_token, connection_string or an Entra mode",
    )


def _plain(secret: str) -> str:
    register_secret(secret)
    return secret


def _with_authority(out: dict[str, str], authority: str | None) -> dict[str, str]:
    if authority:
        out["azure_storage_authority_host"] = authority
    return out


def _workload(auth: AzureAuth) -> tuple[str, str, str, str | None]:
    """Tenant, client id, token file, authority of workload identity (config, else env)."""
    wi = auth.workload_identity
    assert wi is not None
    env = os.environ
    tenant = wi.tenant_id or env.get("AZURE_TENANT_ID")
    client = wi.client_id or env.get("AZURE_CLIENT_ID")
    token_file = wi.token_file or env.get("AZURE_FEDERATED_TOKEN_FILE")
    if not (tenant and client and token_file):
        raise ConfigError(
            "auth.workload_identity needs tenant_id, client_id and token_file",
            hint="set them, or run in an AKS pod with the workload identity webhook "
            "(AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_FEDERATED_TOKEN_FILE)",
        )
    return tenant, client, token_file, wi.authority_host or env.get("AZURE_AUTHORITY_HOST")


def _default_chain(auth: AzureAuth, env: Mapping[str, str]) -> dict[str, str]:
    """DefaultAzureCredential's environment part, else managed identity (see module doc)."""
    tenant, client = env.get("AZURE_TENANT_ID"), env.get("AZURE_CLIENT_ID")
    authority = env.get("AZURE_AUTHORITY_HOST")
    if tenant and client and env.get("AZURE_CLIENT_SECRET"):
        out = {
            "azure_tenant_id": tenant,
            "azure_client_id": client,
            "azure_client_secret": _plain(env["AZURE_CLIENT_SECRET"]),
        }
        return _with_authority(out, authority)
    if tenant and client and env.get("AZURE_FEDERATED_TOKEN_FILE"):
        out = {
            "azure_tenant_id": tenant,
            "azure_client_id": client,
            "azure_federated_token_file": env["AZURE_FEDERATED_TOKEN_FILE"],
        }
        return _with_authority(out, authority)
    assert auth.default is not None
    cid = auth.default.managed_identity_client_id or client
    return {"azure_client_id": cid} if cid else {}


# --------------------------------------------------------------------------- Spark / ABFS


def abfs_uri(target: AzureTarget, path: str = "") -> str:
    """The ABFS URI of ``path`` in the target's container: ``abfss://c@acct.dfs.<suffix>/p``
    (``abfs://`` for a plain-HTTP endpoint, which ABFS requires when HTTPS is off)."""
    if not target.container:
        raise ConfigError("the Azure connection needs 'container'")
    res = resolve(target)
    scheme = "abfss" if res.secure else "abfs"
    inner = path.strip("/")
    return f"{scheme}://{target.container}@{res.dfs_host}/{inner}".rstrip("/")


def hadoop_conf(target: AzureTarget, *, hierarchical: bool | None = None) -> SecretOptions:
    """Hadoop configuration keys (``fs.azure.*``) for ABFS access to the target's account.

    Args:
        target: The connection.
        hierarchical: True for an ADLS Gen2 (HNS) account, False for a flat Blob account (ABFS
            then talks to the Blob endpoint), None to let ABFS probe. Path-style endpoints
            (emulators) are always flat.

    Raises:
        ConfigError: the auth mode has no ABFS equivalent (``azure_cli``, ``default``,
            ``shared_access_key``), or workload identity settings are missing.
    """
    res = resolve(target)
    host = res.dfs_host
    conf = SecretOptions()
    if res.path_style:
        conf["fs.azure.abfs.endpoint"] = res.netloc
        hierarchical = False
    if not res.secure:
        conf["fs.azure.always.use.https"] = "false"
        # The default (Apache HttpClient) path insists on TLS; the JDK client does plain HTTP.
        conf["fs.azure.networking.library"] = "JDK_HTTP_URL_CONNECTION"
    if hierarchical is not None:
        conf["fs.azure.account.hns.enabled"] = "true" if hierarchical else "false"
    if hierarchical is False:
        conf["fs.azure.fns.account.service.type"] = "BLOB"
        conf["fs.azure.ingress.service.type"] = "BLOB"
    for key, value in _abfs_auth(target.auth, res).items():
        conf[f"{key}.{host}"] = value
    return conf


def spark_conf(target: AzureTarget, *, hierarchical: bool | None = None) -> SecretOptions:
    """:func:`hadoop_conf` as Spark session settings (``spark.hadoop.`` prefixed)."""
    conf = hadoop_conf(target, hierarchical=hierarchical)
    return SecretOptions({f"spark.hadoop.{k}": v for k, v in conf.items()})


def _abfs_auth(auth: AzureAuth, res: ResolvedAccount) -> dict[str, str]:
    if res.account_key is not None:
        return {
            "fs.azure.account.auth.type": "SharedKey",
            "fs.azure.account.key": res.account_key,
        }
    if res.sas_token is not None:
        # No provider class: with a fixed token set, ABFS builds its FixedSASTokenProvider
        # itself (that class has no no-argument constructor, so naming it fails).
        return {"fs.azure.account.auth.type": "SAS", "fs.azure.sas.fixed.token": res.sas_token}
    if auth.service_principal is not None:
        sp = auth.service_principal
        authority = (sp.authority_host or PUBLIC_AUTHORITY).rstrip("/")
        return {
            "fs.azure.account.auth.type": "OAuth",
            "fs.azure.account.oauth.provider.type": ABFS_PROVIDERS + "ClientCredsTokenProvider",
            "fs.azure.account.oauth2.client.id": sp.client_id,
            "fs.azure.account.oauth2.client.secret": _plain(sp.client_secret.get_secret_value()),
            "fs.azure.account.oauth2.client.endpoint": f"{authority}/{sp.tenant_id}/oauth2/token",
        }
    if auth.managed_identity is not None:
        out: dict[str, str] = {
            "fs.azure.account.auth.type": "OAuth",
            "fs.azure.account.oauth.provider.type": ABFS_PROVIDERS + "MsiTokenProvider",
        }
        if auth.managed_identity.client_id:
            out["fs.azure.account.oauth2.client.id"] = auth.managed_identity.client_id
        return out
    if auth.workload_identity is not None:
        tenant, client, token_file, wi_authority = _workload(auth)
        wi_conf = {
            "fs.azure.account.auth.type": "OAuth",
            "fs.azure.account.oauth.provider.type": ABFS_PROVIDERS
            + "WorkloadIdentityTokenProvider",
            "fs.azure.account.oauth2.msi.tenant": tenant,
            "fs.azure.account.oauth2.client.id": client,
            "fs.azure.account.oauth2.token.file": token_file,
        }
        if wi_authority:
            wi_conf["fs.azure.account.oauth2.msi.authority"] = wi_authority
        return wi_conf
    raise ConfigError(
        f"auth mode {auth.mode} is not supported by Spark's ABFS driver",
        hint="for the Spark engine use account_key, sas_token, connection_string, "
        "service_principal, managed_identity or workload_identity",
    )
