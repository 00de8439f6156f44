"""Options of Kafka: the connection's client settings, ``read.options`` and ``write.options``.

Client settings are librdkafka's (``bootstrap.servers``, ``security.protocol``, ``sasl.*``,
``ssl.*``): the common ones are typed here, any other goes under ``client`` and passes through
unchanged (to librdkafka, and to Spark's JVM client where it applies). Passwords are
:class:`~pydantic.SecretStr` (masked in reprs, errors and dumps) and the ``client`` mapping is
kept out of reprs; only :meth:`KafkaConnectionOptions.client_config` reveals them, for the
client library.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    NonNegativeInt,
    SecretStr,
    field_serializer,
    field_validator,
    model_validator,
)

from odibi_stream.config.options.common import (
    DATA_LOSS_DESCRIPTION,
    SCHEMA_DESCRIPTION,
    VALUE_FORMAT_DESCRIPTION,
    ColumnSchema,
    DataLossPolicy,
    Options,
    ValueFormat,
    one_error,
)
from odibi_stream.core.redact import redact_mapping

ClientSettings = dict[str, str | int | float | bool]
"""librdkafka settings passed through unchanged (``{socket.timeout.ms: 30000}``)."""

CLIENT_DESCRIPTION = (
    "Further librdkafka settings for this node's client, passed through unchanged "
    "(e.g. {fetch.max.bytes: 1048576}); they win over the connection's."
)


class KafkaConnectionOptions(Options):
    """``options`` of a ``type: kafka`` connection: the client settings every node shares."""

    bootstrap_servers: str = Field(
        alias="bootstrap.servers", description="Comma list of broker host:port to bootstrap from."
    )
    client_id: str | None = Field(default=None, alias="client.id", description="Client id the brokers log.")
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] | None = Field(
        default=None, alias="security.protocol", description="Transport security (librdkafka default PLAINTEXT)."
    )
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER", "GSSAPI"] | None = (
        Field(default=None, alias="sasl.mechanism", description="SASL mechanism (Event Hubs: PLAIN).")
    )
    sasl_username: str | None = Field(
        default=None, alias="sasl.username", description="SASL user (Event Hubs: $ConnectionString)."
    )
    sasl_password: SecretStr | None = Field(
        default=None, alias="sasl.password", description="SASL password; use ${secret:NAME}."
    )
    ssl_ca_location: str | None = Field(
        default=None, alias="ssl.ca.location", description="CA certificate file to verify the brokers with."
    )
    ssl_certificate_location: str | None = Field(
        default=None, alias="ssl.certificate.location", description="Client certificate file (mutual TLS)."
    )
    ssl_key_location: str | None = Field(
        default=None, alias="ssl.key.location", description="Client private key file (mutual TLS)."
    )
    ssl_key_password: SecretStr | None = Field(
        default=None, alias="ssl.key.password", description="Password of the client key; use ${secret:NAME}."
    )
    client: ClientSettings = Field(
        default_factory=dict,
        repr=False,
        description="Any other librdkafka setting, passed through unchanged (e.g. "
        "{socket.keepalive.enable: true}). Values may use ${secret:NAME}.",
    )

    @field_serializer("client")
    def _masked(self, client: ClientSettings) -> dict[str, Any]:
        # Dumps are for display (SecretStr fields print masked too); client_config() is for use.
        return redact_mapping(client)

    @model_validator(mode="after")
    def _no_shadowing(self) -> KafkaConnectionOptions:
        typed = {f.alias for f in type(self).model_fields.values() if f.alias}
        clash = sorted(typed & set(self.client))
        if clash:
            raise ValueError(f"set {', '.join(clash)} directly in options, not under 'client'")
        return self

    def client_config(self) -> dict[str, Any]:
        """The librdkafka configuration: typed settings by their librdkafka names, then ``client``."""
        conf: dict[str, Any] = {}
        for name, field in type(self).model_fields.items():
            value = getattr(self, name)
            if name == "client" or value is None:
                continue
            conf[field.alias or name] = (
                value.get_secret_value() if isinstance(value, SecretStr) else value
            )
        conf.update(self.client)
        return conf


StartingOffsets = Annotated[
    Literal["earliest", "latest"] | dict[str, NonNegativeInt],
    one_error("use earliest, latest, or a mapping of 'topic:partition' (or partition) to offset >= 0"),
]


class KafkaReadOptions(Options):
    """``read.options`` of ``format: kafka``."""

    pattern: str | None = Field(
        default=None,
        description="Regex over topic names, instead of the node's 'topic' (which may be a comma list).",
    )
    starting: StartingOffsets = Field(
        default="earliest",
        description="Where a partition known when the pipeline first starts begins: earliest, "
        "latest, or {'topic:partition' or 'partition': offset}. Partitions found later always "
        "start at their earliest offset. latest is pinned by the first committed batch.",
    )
    on_data_loss: DataLossPolicy = Field(default="fail", description=DATA_LOSS_DESCRIPTION)
    value_format: ValueFormat = Field(default="json", description=VALUE_FORMAT_DESCRIPTION)
    schema_: ColumnSchema | None = Field(default=None, alias="schema", description=SCHEMA_DESCRIPTION)
    key_column: str = Field(default="key", description="Column holding the message key (text).")
    group_id: str | None = Field(
        default=None,
        description="Consumer group that positions are acknowledged to, for lag tooling "
        "(default odibi-<pipeline>-<node>); the checkpoint, not the group, is the truth.",
    )
    client: ClientSettings = Field(default_factory=dict, repr=False, description=CLIENT_DESCRIPTION)
    read_timeout_seconds: float = Field(
        default=60.0,
        gt=0,
        description="How long a read may make no progress before it fails as a (retryable) outage.",
    )

    @field_validator("pattern")
    @classmethod
    def _pattern(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"pattern is not a valid regex: {exc}") from None
        return value


class KafkaWriteOptions(Options):
    """``write.options`` of ``format: kafka`` (a transactional producer per pipeline node)."""

    key_column: str | None = Field(
        default=None, description="Column whose value is the message key (none: no key, round-robin)."
    )
    value_columns: list[str] | None = Field(
        default=None,
        description="Columns serialised as the JSON value (default: every column but key_column).",
    )
    transactional_id: str | None = Field(
        default=None,
        description="Producer transactional.id (default odibi-<pipeline>-<node>); a restarted "
        "writer with the same id fences the old one.",
    )
    linger_ms: NonNegativeInt = Field(default=5, description="librdkafka linger.ms: batching delay.")
    transaction_timeout_ms: int = Field(
        default=60_000,
        ge=1000,
        description="librdkafka transaction.timeout.ms: the broker aborts a transaction open longer.",
    )
    client: ClientSettings = Field(default_factory=dict, repr=False, description=CLIENT_DESCRIPTION)
