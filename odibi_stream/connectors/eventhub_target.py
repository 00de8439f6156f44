"""Where an Event Hubs node reads or writes: namespace, hub and credentials, checked up front.

An ``eventhub`` connection names the namespace (``namespace: myns`` or its full host name) and
how to authenticate (the shared Azure ``auth:`` block); a node names the hub with ``topic``.
A connection string may carry both: its ``Endpoint`` names the namespace and its
``EntityPath`` the hub — when the connection or the node names them too, they must agree.
``UseDevelopmentEmulator=true`` in a connection string (or ``options: {use_tls: "false"}`` with
a credential) talks plain AMQP to a local endpoint such as the test server in ``tests/``.

Nothing here imports the SDK or builds a credential: :func:`resolve_target` runs when a
pipeline is compiled (``validate``), so every mistake is a :class:`ConfigError` before any
connection is opened. Secrets stay out of ``repr`` and of :meth:`EventHubTarget.describe`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from odibi_stream.clients.locations import Location
from odibi_stream.config.azure_auth import AzureAuth
from odibi_stream.exceptions import ConfigError

PUBLIC_SUFFIX = ".servicebus.windows.net"
CLIENT_OPTIONS = ("use_tls", "transport_type", "custom_endpoint_address", "user_agent")
"""Connection ``options`` passed to the SDK clients (all strings in YAML)."""
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


@dataclass(frozen=True)
class EventHubTarget:
    """A resolved hub: where it is and how to authenticate (no client, no credential object).

    Attributes:
        namespace: Host (and port, for a local endpoint) of the namespace.
        hub: The event hub's name.
        auth: The connection's ``auth`` block (translated by ``clients.azure_eventhub``).
        emulator: True when the connection string says ``UseDevelopmentEmulator=true``.
        client_options: Extra SDK client keywords from the connection's ``options``.
    """

    namespace: str
    hub: str
    auth: AzureAuth = field(repr=False)
    emulator: bool = False
    client_options: Mapping[str, Any] = field(default_factory=dict, repr=False)

    def describe(self) -> str:
        """``sb://<namespace>/<hub>`` for logs and errors (no secrets)."""
        return f"sb://{self.namespace}/{self.hub}"

    @property
    def is_event_hubs_host(self) -> bool:
        """True for a namespace of the public Azure cloud."""
        return self.namespace.lower().endswith(PUBLIC_SUFFIX)


def connection_string_fields(text: str) -> dict[str, str]:
    """The ``Key=Value`` fields of a connection string, keys lower-cased (values untouched)."""
    fields: dict[str, str] = {}
    for part in text.split(";"):
        key, sep, value = part.partition("=")
        if sep and key.strip():
            fields[key.strip().lower()] = value.strip()
    return fields


def normalize_namespace(value: str) -> str:
    """``myns`` → ``myns.servicebus.windows.net``; scheme and trailing slash dropped."""
    text = value.strip()
    for scheme in ("sb://", "amqps://", "amqp://", "https://"):
        if text.lower().startswith(scheme):
            text = text[len(scheme) :]
    text = text.strip("/")
    if text and "." not in text and ":" not in text:
        text += PUBLIC_SUFFIX
    return text


def resolve_target(node: str, location: Location, topic: str | None) -> EventHubTarget:
    """Resolve and cross-check the connection and the node's ``topic`` (see the module doc).

    Raises:
        ConfigError: not an eventhub connection, no ``auth``, no hub name, no namespace, a
            connection string that disagrees with the connection or the node, a storage
            account key, or unknown connection options.
    """
    conn = location.connection
    if conn is None or conn.type != "eventhub":
        raise ConfigError(
            f"node {node}: format eventhub needs a connection of type eventhub",
            hint="connections: {hub: {type: eventhub, namespace: myns, auth: {...}}}",
        )
    if conn.auth is None:
        raise ConfigError(
            f"node {node}: the eventhub connection has no 'auth'",
            hint='auth: {connection_string: "${secret:EH_CONNECTION}"} (or shared_access_key, '
            "sas_token, or an Entra mode with 'namespace')",
        )
    if conn.auth.mode == "account_key":
        raise ConfigError(
            f"node {node}: auth.account_key is a storage account key; Event Hubs needs a shared access policy",
            hint="use shared_access_key: {name, key}, connection_string, sas_token or an Entra mode",
        )
    namespace = normalize_namespace(conn.namespace) if conn.namespace else ""
    hub = (topic or "").strip()
    emulator = False
    if conn.auth.connection_string is not None:
        fields = connection_string_fields(conn.auth.secret("connection_string"))
        emulator = fields.get("usedevelopmentemulator", "").lower() == "true"
        namespace = _agree_namespace(node, namespace, fields.get("endpoint", ""))
        hub = _agree_hub(node, hub, fields.get("entitypath", ""))
    if not hub:
        raise ConfigError(
            f"node {node}: no event hub name",
            hint="set 'topic: <event hub name>' on the node (or EntityPath in the connection string)",
        )
    if not namespace:
        raise ConfigError(
            f"node {node}: the eventhub connection has no 'namespace'",
            hint="namespace: myns.servicebus.windows.net (needed unless a connection string names it)",
        )
    return EventHubTarget(namespace, hub, conn.auth, emulator, _client_options(node, conn.pass_through_options()))


def _agree_namespace(node: str, namespace: str, endpoint: str) -> str:
    from_string = normalize_namespace(endpoint) if endpoint else ""
    if not from_string:
        raise ConfigError(
            f"node {node}: the connection string has no Endpoint",
            hint="Endpoint=sb://<namespace>.servicebus.windows.net/;SharedAccessKeyName=...;SharedAccessKey=...",
        )
    if namespace and namespace.lower() != from_string.lower():
        raise ConfigError(
            f"node {node}: namespace {namespace!r} disagrees with the connection string's Endpoint ({from_string!r})",
            hint="drop 'namespace' or make both name the same namespace",
        )
    return from_string


def _agree_hub(node: str, hub: str, entity_path: str) -> str:
    if hub and entity_path and hub.lower() != entity_path.lower():
        raise ConfigError(
            f"node {node}: topic {hub!r} disagrees with the connection string's EntityPath ({entity_path!r})",
            hint="a connection string with EntityPath only grants access to that hub; use the same name",
        )
    return hub or entity_path


def _client_options(node: str, options: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in options.items():
        if key not in CLIENT_OPTIONS:
            raise ConfigError(
                f"node {node}: unknown eventhub connection option {key!r}",
                hint=f"known options: {', '.join(CLIENT_OPTIONS)}",
            )
        if key == "use_tls":
            out[key] = _flag(node, key, value)
        else:
            out[key] = value
    return out


def _flag(node: str, key: str, value: str) -> bool:
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigError(f"node {node}: connection option {key} must be true or false, not {value!r}")
