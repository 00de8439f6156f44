"""Options of the file formats: ``csv``, ``json``/``jsonl``, ``parquet`` (read and write).

Both engines read these models: the pandas engine (pyarrow) and the Spark engine map each
option to their reader's setting, so a file means the same rows on either.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from odibi_stream.config.options.common import SCHEMA_DESCRIPTION, ColumnSchema, Options


def _one_char(value: str, what: str) -> str:
    if len(value) != 1:
        raise ValueError(f"{what} must be exactly one character")
    return value


class CsvDialect(Options):
    """What a CSV reader and writer agree on: the header line and the field separator."""

    header: bool = Field(
        default=True,
        description="The first line holds the column names. When false (reading), the names "
        "are the schema's columns in order, else f0, f1, ...; no line is a header.",
    )
    delimiter: str = Field(default=",", description="Field separator (one character).")

    @field_validator("delimiter")
    @classmethod
    def _delimiter(cls, value: str) -> str:
        return _one_char(value, "delimiter")


class CsvReadOptions(CsvDialect):
    """``read.options`` of ``format: csv``."""

    quote: str = Field(default='"', description="Quote character around fields (one character).")
    null_values: list[str] = Field(
        default_factory=lambda: [""],
        description="Field texts read as NULL, in any column. Default: only the empty field. "
        "Anything else (n/a, NULL, NaN ...) stays text, or is a bad record in a typed column, "
        "unless listed here. The Spark engine takes exactly one value (its nullValue).",
    )
    schema_: ColumnSchema | None = Field(default=None, alias="schema", description=SCHEMA_DESCRIPTION)

    @field_validator("quote")
    @classmethod
    def _quote(cls, value: str) -> str:
        return _one_char(value, "quote")


class JsonReadOptions(Options):
    """``read.options`` of ``format: json`` and ``format: jsonl`` (JSON Lines or one array)."""

    schema_: ColumnSchema | None = Field(default=None, alias="schema", description=SCHEMA_DESCRIPTION)
    undeclared_fields: Literal["infer", "ignore"] = Field(
        default="infer",
        description="Fields the schema does not name. infer: read them too, typed by "
        "inference (on the Spark engine a pass over the batch of its own). ignore: the schema "
        "is the whole row, other fields are dropped and missing ones are NULL, as with Spark "
        "Structured Streaming's file source or Auto Loader's schemaEvolutionMode none; the "
        "Spark engine then reads in one pass. ignore needs a schema.",
    )

    @model_validator(mode="after")
    def _ignore_needs_schema(self) -> JsonReadOptions:
        if self.undeclared_fields == "ignore" and not self.schema_:
            raise ValueError("undeclared_fields: ignore needs a schema (it names the only columns read)")
        return self


class ParquetReadOptions(Options):
    """``read.options`` of ``format: parquet`` (none yet: Parquet files carry their schema)."""


class CsvWriteOptions(CsvDialect):
    """``write.options`` of ``format: csv``."""


Compression = Literal["snappy", "gzip", "zstd", "lz4", "brotli", "none"]


class ParquetWriteOptions(Options):
    """``write.options`` of ``format: parquet``."""

    compression: Compression = Field(default="snappy", description="Parquet compression codec.")


class JsonlWriteOptions(Options):
    """``write.options`` of ``format: jsonl`` (none yet: one JSON object per line, UTF-8)."""


FileReadOptions = CsvReadOptions | JsonReadOptions | ParquetReadOptions
"""Options of a file read (what ``Engine.read_files`` takes)."""

FileWriteOptions = CsvWriteOptions | ParquetWriteOptions | JsonlWriteOptions
"""Options of a file write (what ``Engine.write_file`` takes)."""
