"""Which options model validates ``options`` of each format, and validating against it.

Lifecycle: the config models call :func:`validate_options` from their ``options`` field
validators, once per load, keyed on the node's ``format`` (a discriminated union whose tag is
a sibling key), so a typo'd option is a validation error positioned at its own key. Engines and
connectors call :func:`coerce_options` when they are handed options from code (a mapping, or
nothing) rather than from a loaded config; both paths use the same models, so every default is
defined once, on the model field.

Formats served by a plugin have no model here (config validation imports no plugin code): their
options stay a mapping until the plugin's connector validates them (``Connector.read_options``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticCustomError

from odibi_stream.config.diagnostics import keys_of
from odibi_stream.config.options.common import Options
from odibi_stream.config.options.delta import DeltaReadOptions, DeltaWriteOptions
from odibi_stream.config.options.eventhub import EventHubReadOptions, EventHubWriteOptions
from odibi_stream.config.options.files import (
    CsvReadOptions,
    CsvWriteOptions,
    FileReadOptions,
    FileWriteOptions,
    JsonlWriteOptions,
    JsonReadOptions,
    ParquetReadOptions,
    ParquetWriteOptions,
)
from odibi_stream.config.options.kafka import KafkaReadOptions, KafkaWriteOptions
from odibi_stream.core.hints import did_you_mean
from odibi_stream.exceptions import ConfigError

Direction = Literal["read", "write"]
M = TypeVar("M", bound=BaseModel)

READ_OPTIONS: dict[str, type[Options]] = {
    "csv": CsvReadOptions,
    "json": JsonReadOptions,
    "jsonl": JsonReadOptions,
    "parquet": ParquetReadOptions,
    "delta": DeltaReadOptions,
    "kafka": KafkaReadOptions,
    "eventhub": EventHubReadOptions,
}
WRITE_OPTIONS: dict[str, type[Options]] = {
    "csv": CsvWriteOptions,
    "parquet": ParquetWriteOptions,
    "jsonl": JsonlWriteOptions,
    "delta": DeltaWriteOptions,
    "kafka": KafkaWriteOptions,
    "eventhub": EventHubWriteOptions,
}

_FILE_READ: dict[str, type[FileReadOptions]] = {
    "csv": CsvReadOptions,
    "json": JsonReadOptions,
    "jsonl": JsonReadOptions,
    "parquet": ParquetReadOptions,
}
_FILE_WRITE: dict[str, type[FileWriteOptions]] = {
    "csv": CsvWriteOptions,
    "parquet": ParquetWriteOptions,
    "jsonl": JsonlWriteOptions,
    "json": JsonlWriteOptions,
}

# The annotations of ``read.options`` / ``write.options``: every model (for the JSON Schema),
# or a plain mapping for a plugin's format. Validation picks the member by format.
ReadOptions = (
    CsvReadOptions
    | JsonReadOptions
    | ParquetReadOptions
    | DeltaReadOptions
    | KafkaReadOptions
    | EventHubReadOptions
    | dict[str, Any]
)
WriteOptions = (
    CsvWriteOptions
    | ParquetWriteOptions
    | JsonlWriteOptions
    | DeltaWriteOptions
    | KafkaWriteOptions
    | EventHubWriteOptions
    | dict[str, Any]
)


def options_model(direction: Direction, fmt: str | None) -> type[Options] | None:
    """The model of ``options`` for ``fmt`` (None: a plugin's format, or no format)."""
    table = READ_OPTIONS if direction == "read" else WRITE_OPTIONS
    return table.get(fmt) if fmt is not None else None


def validate_options(model: type[BaseModel] | None, value: Any) -> BaseModel | dict[str, Any]:
    """Validate an ``options`` value against ``model`` (a mapping is kept when there is none).

    Raises:
        ValidationError: from ``model``, with locations relative to ``options`` (pydantic
            nests them under the field being validated).
        PydanticCustomError: no model and not a mapping.
    """
    if value is None:
        value = {}
    if model is not None:
        return model.model_validate(value)
    if isinstance(value, BaseModel):
        return value  # already typed by a plugin's connector
    if not isinstance(value, Mapping):
        raise PydanticCustomError("dict_type", "options must be a mapping")
    return dict(value)


def coerce_options(model: type[M], value: BaseModel | Mapping[str, Any] | None, what: str) -> M:
    """``value`` as ``model``: validated when a mapping, defaults when None.

    Args:
        model: The options model.
        value: An instance of ``model``, a mapping of options, or None.
        what: What the options belong to, for messages (``"csv read options"``).

    Raises:
        ConfigError: the mapping does not validate, or ``value`` is another model.
    """
    if isinstance(value, model):
        return value
    if isinstance(value, BaseModel):
        raise ConfigError(f"{what}: expected {model.__name__}, got {type(value).__name__}")
    try:
        return model.model_validate(dict(value or {}))
    except ValidationError as exc:
        raise options_error(exc, model, what) from None


def file_read_options(fmt: str, value: BaseModel | Mapping[str, Any] | None) -> FileReadOptions:
    """The read options of a file format (what engines' ``read_files`` work with).

    Raises:
        ConfigError: not a file format, or options that do not validate.
    """
    model = _FILE_READ.get(fmt)
    if model is None:
        raise ConfigError(f"cannot read files of format {fmt!r}", hint="use csv, json, jsonl or parquet")
    found: FileReadOptions = coerce_options(model, value, f"{fmt} read options")
    return found


def file_write_options(fmt: str, value: BaseModel | Mapping[str, Any] | None) -> FileWriteOptions:
    """The write options of a file format (what engines' ``write_file`` works with).

    Raises:
        ConfigError: not a file format, or options that do not validate.
    """
    model = _FILE_WRITE.get(fmt)
    if model is None:
        raise ConfigError(f"cannot write files of format {fmt!r}", hint="use parquet, csv or jsonl")
    found: FileWriteOptions = coerce_options(model, value, f"{fmt} write options")
    return found


class OptionsError(ConfigError):
    """Options given as a mapping (not from a loaded file) that do not validate.

    Attributes:
        path: Where below ``options`` the problem is (``("delimter",)``).
    """

    def __init__(self, message: str, *, path: tuple[str | int, ...] = (), hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.path = path

    @property
    def keys(self) -> tuple[str | int, ...]:
        """The setting's path inside its node section (``("options", "delimter")``): what
        :func:`odibi_stream.runtime.where.located` uses to point at the key's line."""
        return ("options", *self.path)


def options_error(exc: ValidationError, model: type[BaseModel], what: str) -> OptionsError:
    """One error for a failed options validation (the first problem; did-you-mean hint)."""
    first = exc.errors(include_url=False)[0]
    path = tuple(first["loc"])
    where = ".".join(str(p) for p in path)
    hint: str | None
    if first["type"] == "extra_forbidden":
        keys = keys_of(model)
        hint = did_you_mean(where, keys) or f"known options: {', '.join(keys) or '(none)'}"
        return OptionsError(f"{what}: unknown option '{where}'", path=path, hint=hint)
    hint = (first.get("ctx") or {}).get("hint")
    message = str(first["msg"]).removeprefix("Value error, ")
    return OptionsError(f"{what}: {where + ': ' if where else ''}{message}", path=path, hint=hint)
