"""Pieces every option model shares: the base class, column schemas, decode and loss policies.

Option models are ordinary config models (frozen, unknown keys rejected, a description on every
field). Each option's default is defined once, on its field; readers of options use the
validated model and never a default of their own.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)
from pydantic_core import PydanticCustomError

from odibi_stream.config.base import Model
from odibi_stream.exceptions import ConfigError


class Options(Model):
    """Base of every option model (``read.options``, ``write.options``, triggers, clients)."""


def one_error(message: str) -> WrapValidator:
    """A validator reporting a union-typed option's failure as one ``message``.

    pydantic reports a value that fits no member of a union once per member; for an option
    with alternatives (``starting: earliest | latest | {partition: offset}``) one sentence
    naming them all is clearer.
    """

    def validate(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        try:
            return handler(value)
        except ValidationError:
            raise PydanticCustomError("invalid_option", message) from None

    return WrapValidator(validate)


ValueFormat = Literal["json", "string", "bytes"]
"""How a message body is decoded: JSON object → columns, UTF-8 text, or raw bytes."""

DataLossPolicy = Literal["fail", "skip_with_report"]
"""What a source does when data it still had to read was deleted (retention, recreated topic)."""

DATA_LOSS_DESCRIPTION = (
    "What to do when data not yet read is gone (retention, a recreated topic): fail stops "
    "the pipeline with a terminal error naming partition and positions; skip_with_report "
    "continues from the earliest available position and records the gap in the batch range."
)
VALUE_FORMAT_DESCRIPTION = (
    "Message body decoding: json (an object per message, its keys become columns), string "
    "(UTF-8 text in column 'value') or bytes (raw, column 'value')."
)


def _check_types(schema: dict[str, str]) -> dict[str, str]:
    # The type table lives with the Arrow helpers (pandas/pyarrow): imported only when a schema
    # is declared, so loading a config without one stays light.
    from odibi_stream.core.arrow_types import parse_type

    for column, type_name in schema.items():
        try:
            parse_type(type_name)
        except ConfigError as exc:
            raise PydanticCustomError(
                "unknown_choice",
                "column '{column}': unknown type '{type}'",
                {"column": column, "type": type_name, "hint": exc.hint},
            ) from None
    return schema


ColumnSchema = Annotated[dict[str, str], AfterValidator(_check_types)]
"""Column name → type name (``int``, ``double``, ``string``, ``timestamp``, ``decimal(10,2)``...)."""

SCHEMA_DESCRIPTION = (
    "Declared column types, column → type name (string, int, int32, smallint, double, float32, "
    "bool, date, timestamp (UTC), timestamp_ntz, decimal(p,s)). Declared columns keep these "
    "types; a value that does not convert is a bad record (on_error decides), never NULL. "
    "Other columns are inferred."
)

