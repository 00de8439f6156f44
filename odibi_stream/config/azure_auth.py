"""The ``auth:`` block of an Azure connection: exactly one way to authenticate.

One block per connection, translated by :mod:`odibi_stream.clients.azure` into what each library
wants (Blob SDK credential objects, delta-rs/object_store options, Spark ABFS keys, Event Hubs
credentials)::

    auth: {account_key: "${secret:LAKE_KEY}"}
    auth: {connection_string: "${secret:LAKE_CONN}"}
    auth: {sas_token: "${secret:LAKE_SAS}"}
    auth: {service_principal: {tenant_id: ..., client_id: ..., client_secret: "${secret:SP}"}}
    auth: {managed_identity: {client_id: ...}}     # or managed_identity: {} (system-assigned)
    auth: {workload_identity: {}}                  # AKS: tenant/client/token file from the env
    auth: azure_cli                                # shorthand for {azure_cli: {}}
    auth: default                                  # DefaultAzureCredential

Secret values are :class:`pydantic.SecretStr`: they print as ``**********`` in reprs, errors and
``model_dump(mode="json")``; only the translation layer calls ``get_secret_value()``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field, SecretStr, field_validator, model_validator

from odibi_stream.config.base import Model

AuthMode = Literal[
    "connection_string",
    "account_key",
    "sas_token",
    "shared_access_key",
    "service_principal",
    "managed_identity",
    "workload_identity",
    "azure_cli",
    "default",
]
AUTH_MODES: tuple[str, ...] = AuthMode.__args__  # type: ignore[attr-defined]

# Modes whose whole configuration may be empty: ``auth: azure_cli`` or ``{azure_cli: null}``.
_EMPTY_OK = ("managed_identity", "workload_identity", "azure_cli", "default")


class _SecretModel(Model):
    """Base of models holding secrets: validation errors never quote the input."""

    model_config = ConfigDict(hide_input_in_errors=True)


class ServicePrincipalAuth(_SecretModel):
    """A Microsoft Entra application with a client secret."""

    tenant_id: str = Field(description="Directory (tenant) id of the application.")
    client_id: str = Field(description="Application (client) id.")
    client_secret: SecretStr = Field(description="Client secret; use ${secret:NAME}.")
    authority_host: str | None = Field(
        default=None,
        description="Entra authority for sovereign clouds, e.g. https://login.chinacloudapi.cn "
        "(default: the public cloud).",
    )


class ManagedIdentityAuth(Model):
    """The managed identity of the VM / App Service / container the process runs on."""

    client_id: str | None = Field(
        default=None,
        description="Client id of a user-assigned identity; omit for the system-assigned one.",
    )


class WorkloadIdentityAuth(Model):
    """Federated workload identity (AKS): a projected service-account token file."""

    tenant_id: str | None = Field(
        default=None, description="Tenant id (default: $AZURE_TENANT_ID, set by the AKS webhook)."
    )
    client_id: str | None = Field(
        default=None, description="Client id (default: $AZURE_CLIENT_ID, set by the AKS webhook)."
    )
    token_file: str | None = Field(
        default=None,
        description="Federated token file (default: $AZURE_FEDERATED_TOKEN_FILE).",
    )
    authority_host: str | None = Field(
        default=None,
        description="Entra authority (default: $AZURE_AUTHORITY_HOST, else the public cloud).",
    )


class AzureCliAuth(Model):
    """The identity the Azure CLI (``az login``) is logged in with; for development."""

    tenant_id: str | None = Field(default=None, description="Tenant to request tokens from.")


class DefaultAuth(Model):
    """azure-identity's DefaultAzureCredential chain (environment, workload identity, managed
    identity, Azure CLI, ...)."""

    managed_identity_client_id: str | None = Field(
        default=None, description="Client id of a user-assigned managed identity to try."
    )


class SharedAccessKeyAuth(_SecretModel):
    """An Event Hubs / Service Bus shared access policy (name + key); not for storage."""

    name: str = Field(description="Policy name, e.g. RootManageSharedAccessKey.")
    key: SecretStr = Field(description="Policy key; use ${secret:NAME}.")


class AzureAuth(_SecretModel):
    """How an Azure connection authenticates: set exactly one of the fields."""

    connection_string: SecretStr | None = Field(
        default=None,
        description="Storage (or Event Hubs) connection string; use ${secret:NAME}.",
    )
    account_key: SecretStr | None = Field(
        default=None, description="Storage account key (Shared Key); use ${secret:NAME}."
    )
    sas_token: SecretStr | None = Field(
        default=None,
        description="Shared access signature (query string, leading '?' optional); "
        "use ${secret:NAME}.",
    )
    shared_access_key: SharedAccessKeyAuth | None = Field(
        default=None, description="Event Hubs shared access policy (name and key)."
    )
    service_principal: ServicePrincipalAuth | None = Field(
        default=None, description="Entra application with a client secret."
    )
    managed_identity: ManagedIdentityAuth | None = Field(
        default=None, description="Managed identity of the host ({} = system-assigned)."
    )
    workload_identity: WorkloadIdentityAuth | None = Field(
        default=None, description="AKS workload identity (federated token file)."
    )
    azure_cli: AzureCliAuth | None = Field(
        default=None, description="Azure CLI login (development)."
    )
    default: DefaultAuth | None = Field(
        default=None, description="DefaultAzureCredential (tries several sources in order)."
    )

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        # `auth: default` and `auth: {azure_cli: }` (YAML null) both mean "this mode, no settings".
        if isinstance(data, str) and data in _EMPTY_OK:
            return {data: {}}
        if isinstance(data, dict):
            return {k: ({} if v is None and k in _EMPTY_OK else v) for k, v in data.items()}
        return data

    @field_validator("sas_token")
    @classmethod
    def _strip_sas(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        token = value.get_secret_value().strip().lstrip("?")
        if not token:
            raise ValueError("sas_token is empty")
        return SecretStr(token)

    @field_validator("account_key", "connection_string")
    @classmethod
    def _not_blank(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().strip():
            raise ValueError("the value is empty")
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> AzureAuth:
        chosen = [name for name in AUTH_MODES if getattr(self, name) is not None]
        if len(chosen) != 1:
            what = "none" if not chosen else ", ".join(chosen)
            raise ValueError(
                f"set exactly one authentication mode (got {what}); one of: "
                + ", ".join(AUTH_MODES)
            )
        return self

    @property
    def mode(self) -> str:
        """The name of the chosen mode (e.g. ``"account_key"``)."""
        return next(name for name in AUTH_MODES if getattr(self, name) is not None)

    def secret(self, name: str) -> str:
        """The plain value of a secret field (``account_key``, ``sas_token``, ...).

        For the translation layer only; never log the result.
        """
        value = getattr(self, name)
        if not isinstance(value, SecretStr):
            raise KeyError(name)
        return value.get_secret_value()
