"""The options of ``format: eventhub`` reads and writes, parsed in one place.

:func:`read_options` and :func:`write_options` are the only readers of ``read.options`` /
``write.options`` for Event Hubs (typed option models can replace their bodies without
touching the connector). Every mistake is a :class:`ConfigError` naming the option.

Read options:
    * ``value_format``: ``json`` (default) | ``string`` | ``bytes``; ``schema``: optional
      column → type mapping for JSON bodies.
    * ``starting``: ``earliest`` (default) | ``latest`` | ``{partition: sequence_number}``
      (the first event to read; unlisted partitions start at their earliest) | an ISO-8601
      time with a zone (the first event enqueued at or after it).
    * ``consumer_group``: default ``$Default``.
    * ``owner_level``: the receivers' owner level (epoch): ``auto`` (default: the source's
      open time in milliseconds, so a newer reader pre-empts an older one), an integer, or
      ``none`` for non-exclusive receivers.
    * ``on_data_loss``: ``fail`` (default) | ``skip_and_report`` (``skip_with_report`` is
      accepted too, the Kafka spelling).
    * ``read_timeout_seconds`` (default 60): how long a read may make no progress before it
      fails as a retryable outage; ``prefetch`` (default 2000): link credit per partition.

Write options:
    * ``key_column``: the partition key (events with one key land in one partition, by the
      service's hash); without it rows are spread round robin.
    * ``value_columns``: columns of the JSON body (default: all but the key column).
    * ``message_id_prefix``: prepended to the writer identity ``<pipeline>/<node>`` in message
      ids and the ``odibi-writer`` property (two projects with equal pipeline and node names
      writing one hub must set different prefixes).
    * ``consumer_group`` (default ``$Default``): the group the sink reads its output's tail with
      after a restart (non-exclusive receivers; pick another group when an exclusive reader
      holds this one); ``read_timeout_seconds`` (default 60) bounds that read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from typing import Any

import pyarrow as pa

from odibi_stream.connectors.kafka_decode import check_value_format
from odibi_stream.core.arrow_types import parse_schema
from odibi_stream.exceptions import ConfigError

DEFAULT_CONSUMER_GROUP = "$Default"
DATA_LOSS_POLICIES = ("fail", "skip_and_report")
READ_OPTIONS = (
    "value_format",
    "schema",
    "starting",
    "consumer_group",
    "owner_level",
    "on_data_loss",
    "read_timeout_seconds",
    "prefetch",
)
WRITE_OPTIONS = (
    "key_column",
    "value_columns",
    "message_id_prefix",
    "consumer_group",
    "read_timeout_seconds",
)

Starting = str | dict[str, int] | datetime
"""``"earliest"``, ``"latest"``, partition → first sequence number, or an aware datetime."""


class OptionError(ConfigError):
    """A bad option; ``keys`` is its path under the node's read/write section (for file:line)."""

    def __init__(self, message: str, *, option: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.keys = ("options", option)


@dataclass(frozen=True)
class ReadOptions:
    """Validated read options (see the module docstring)."""

    value_format: str = "json"
    schema: Mapping[str, pa.DataType] | None = None
    starting: Starting = "earliest"
    consumer_group: str = DEFAULT_CONSUMER_GROUP
    owner_level: int | str | None = "auto"
    on_data_loss: str = "fail"
    read_timeout: float = 60.0
    prefetch: int = 2000


@dataclass(frozen=True)
class WriteOptions:
    """Validated write options (see the module docstring)."""

    key_column: str | None = None
    value_columns: tuple[str, ...] | None = None
    message_id_prefix: str = ""
    consumer_group: str = DEFAULT_CONSUMER_GROUP
    read_timeout: float = 60.0


def _known(node: str, options: Mapping[str, Any], known: tuple[str, ...], what: str) -> None:
    from odibi_stream.core.hints import unknown_name_hint

    for key in options:
        if key not in known:
            raise OptionError(
                f"node {node}: unknown eventhub {what} option {key!r}",
                option=str(key),
                hint=unknown_name_hint(str(key), known, f"{what} options"),
            )


def read_options(node: str, options: Mapping[str, Any]) -> ReadOptions:
    """Parse ``read.options`` of an eventhub node.

    Raises:
        ConfigError: an unknown option or an invalid value.
    """
    _known(node, options, READ_OPTIONS, "read")
    try:
        value_format = check_value_format(str(options.get("value_format", "json")))
    except ConfigError as exc:
        raise OptionError(
            f"node {node}: {exc.message}", option="value_format", hint=exc.hint
        ) from None
    try:
        schema = parse_schema(options.get("schema"))
    except ConfigError as exc:
        raise OptionError(f"node {node}: {exc.message}", option="schema", hint=exc.hint) from None
    policy = str(options.get("on_data_loss", "fail"))
    policy = "skip_and_report" if policy == "skip_with_report" else policy
    if policy not in DATA_LOSS_POLICIES:
        raise OptionError(
            f"node {node}: unknown on_data_loss {policy!r}",
            option="on_data_loss",
            hint="use fail or skip_and_report",
        )
    group = str(options.get("consumer_group", DEFAULT_CONSUMER_GROUP)).strip()
    if not group:
        raise OptionError(
            f"node {node}: consumer_group is empty",
            option="consumer_group",
            hint="omit it for $Default",
        )
    return ReadOptions(
        value_format=value_format,
        schema=schema or None,
        starting=parse_starting(node, options.get("starting", "earliest")),
        consumer_group=group,
        owner_level=_owner_level(node, options.get("owner_level", "auto")),
        on_data_loss=policy,
        read_timeout=_positive(
            node, "read_timeout_seconds", options.get("read_timeout_seconds", 60.0)
        ),
        prefetch=int(_positive(node, "prefetch", options.get("prefetch", 2000))),
    )


def write_options(node: str, options: Mapping[str, Any]) -> WriteOptions:
    """Parse ``write.options`` of an eventhub node.

    Raises:
        ConfigError: an unknown option or an invalid value.
    """
    _known(node, options, WRITE_OPTIONS, "write")
    columns = options.get("value_columns")
    if columns is not None and not (
        isinstance(columns, list) and all(isinstance(c, str) for c in columns)
    ):
        raise OptionError(
            f"node {node}: options.value_columns must be a list of column names",
            option="value_columns",
        )
    key = options.get("key_column")
    if key is not None and not isinstance(key, str):
        raise OptionError(
            f"node {node}: options.key_column must be a column name", option="key_column"
        )
    prefix = options.get("message_id_prefix", "")
    if not isinstance(prefix, str):
        raise OptionError(
            f"node {node}: options.message_id_prefix must be text", option="message_id_prefix"
        )
    group = (
        str(options.get("consumer_group", DEFAULT_CONSUMER_GROUP)).strip() or DEFAULT_CONSUMER_GROUP
    )
    timeout = _positive(node, "read_timeout_seconds", options.get("read_timeout_seconds", 60.0))
    return WriteOptions(
        key, tuple(columns) if columns is not None else None, prefix, group, timeout
    )


def parse_starting(node: str, value: Any) -> Starting:
    """``starting`` as ``earliest`` | ``latest`` | partition → sequence number | aware datetime.

    Raises:
        ConfigError: anything else (with the accepted forms in the hint).
    """
    hint = "use earliest, latest, {partition: sequence_number} or an ISO time like 2024-05-01T00:00:00Z"
    if isinstance(value, datetime):
        return _aware(node, value, hint)
    if isinstance(value, date):
        return datetime.combine(value, time(), tzinfo=timezone.utc)
    if isinstance(value, dict):
        return _positions(node, value, hint)
    if isinstance(value, str):
        text = value.strip()
        if text in ("earliest", "latest"):
            return text
        try:
            parsed = datetime.fromisoformat(
                text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
            )
        except ValueError:
            raise OptionError(
                f"node {node}: bad starting position {value!r}", option="starting", hint=hint
            ) from None
        return _aware(node, parsed, hint)
    raise OptionError(f"node {node}: bad starting position {value!r}", option="starting", hint=hint)


def _aware(node: str, moment: datetime, hint: str) -> datetime:
    if moment.tzinfo is None:
        raise OptionError(
            f"node {node}: starting time {moment.isoformat()} has no time zone",
            option="starting",
            hint=hint,
        )
    return moment.astimezone(timezone.utc)


def _positions(node: str, value: dict[Any, Any], hint: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for key, seq in value.items():
        part = str(key).strip()
        if not part.isdigit() or isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
            raise OptionError(
                f"node {node}: bad starting position {key!r}: {seq!r} (partition ids are numbers, "
                "sequence numbers non-negative integers)",
                option="starting",
                hint=hint,
            )
        out[part] = seq
    return out


def _owner_level(node: str, value: Any) -> int | str | None:
    if value is None or (
        isinstance(value, str) and value.strip().lower() in ("none", "null", "off")
    ):
        return None
    if isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise OptionError(
        f"node {node}: bad owner_level {value!r}",
        option="owner_level",
        hint="use auto (default), a non-negative integer, or none",
    )


def _positive(node: str, name: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0
    if number <= 0 or isinstance(value, bool):
        raise OptionError(
            f"node {node}: {name} must be a positive number, not {value!r}", option=name
        )
    return number
