"""Azure connections → azure-eventhub credentials (for the Event Hubs source, later).

The same ``auth:`` block as storage connections; see :func:`eventhub_auth` for the mapping.
Nothing here shows a secret in its ``repr``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from odibi_stream.clients.azure import TOKEN_MODES, token_credential
from odibi_stream.config.azure_auth import AzureAuth
from odibi_stream.core.redact import register_secret
from odibi_stream.exceptions import ConfigError


@dataclass(frozen=True)
class EventHubAuth:
    """How to build an Event Hubs client: ``from_connection_string(connection_string)`` or
    ``EventHub*Client(fully_qualified_namespace, eventhub_name, credential)``."""

    mode: str
    connection_string: str | None = field(default=None, repr=False)
    credential: Any = field(default=None, repr=False)


def eventhub_auth(auth: AzureAuth) -> EventHubAuth:
    """Translate ``auth`` for azure-eventhub.

    connection_string → itself; sas_token → ``AzureSasCredential``; shared_access_key →
    ``AzureNamedKeyCredential(name, key)``; Entra modes → a ``TokenCredential``.

    Raises:
        ConfigError: ``account_key`` (a storage key cannot sign Event Hubs requests).
    """
    try:
        from azure.core.credentials import AzureNamedKeyCredential, AzureSasCredential
    except ImportError as exc:
        raise ConfigError(
            "Event Hubs needs azure-eventhub", hint="pip install 'odibi-stream[eventhub]'"
        ) from exc

    if auth.connection_string is not None:
        text = auth.secret("connection_string")
        register_secret(text)
        return EventHubAuth(auth.mode, connection_string=text)
    if auth.sas_token is not None:
        sas = auth.secret("sas_token")
        register_secret(sas)
        return EventHubAuth(auth.mode, credential=AzureSasCredential(sas))
    if auth.shared_access_key is not None:
        key = auth.shared_access_key.key.get_secret_value()
        register_secret(key)
        cred = AzureNamedKeyCredential(auth.shared_access_key.name, key)
        return EventHubAuth(auth.mode, credential=cred)
    if auth.mode in TOKEN_MODES:
        return EventHubAuth(auth.mode, credential=token_credential(auth))
    raise ConfigError(
        "auth.account_key is a storage account key; Event Hubs needs a shared access policy",
        hint="use shared_access_key: {name, key}, connection_string, sas_token or an Entra mode",
    )
