"""Readers of the Spark engine: Spark's native csv / json / parquet readers with rejects.

csv and json are read in ``PERMISSIVE`` mode with a corrupt-record column: a row whose text
does not parse, has the wrong number of fields or holds a value that does not convert to its
column's type keeps its raw text there and becomes a :class:`Reject` (record text, reason,
source file via ``input_file_name()``); the good rows form the frame.

Options are the same models as on the pandas engine
(:class:`~odibi_stream.config.options.CsvReadOptions`, ``JsonReadOptions``): ``schema``
(column → type name, the same names) fixes the named columns, the others are inferred over the
whole input (a pass of its own; skipped for a CSV whose headers name only declared columns:
:mod:`odibi_stream.engines.spark_schema`, and for JSON with ``undeclared_fields: ignore``);
CSV ``null_values`` maps to Spark's single ``nullValue`` (so at most one value). Read results
are materialised (``localCheckpoint``) so that every later action in the batch sees the same
rows even if the files are archived or deleted after commit; one job over them counts the
rows and the bad ones, which are collected only when there are any.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from odibi_stream.config.options import (
    CsvReadOptions,
    FileReadOptions,
    JsonReadOptions,
    ParquetReadOptions,
)
from odibi_stream.core.arrow_types import parse_type
from odibi_stream.engines.base import ReadResult, Reject
from odibi_stream.engines.spark_schema import declared_covers
from odibi_stream.exceptions import ConfigError, RecordError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

CORRUPT = "_odibi_corrupt_record"
SOURCE = "_odibi_source_file"
_DECIMAL = re.compile(r"^decimal\(\s*(\d+)\s*,\s*(\d+)\s*\)$")
_SPARK_TYPES = {
    "string": "string", "str": "string", "varchar": "string",
    "int": "bigint", "integer": "bigint", "bigint": "bigint", "long": "bigint", "int64": "bigint",
    "int32": "int", "smallint": "smallint",
    "float": "double", "double": "double", "float64": "double", "float32": "float",
    "bool": "boolean", "boolean": "boolean",
    "date": "date", "timestamp": "timestamp", "timestamp_ntz": "timestamp_ntz",
}  # fmt: skip


def spark_type(name: str) -> str:
    """Spark DDL type for a user-facing type name (the names the pandas engine accepts).

    Raises:
        ConfigError: unknown type name.
    """
    parse_type(name)  # one source of truth for which names exist, and the same error
    key = name.strip().lower()
    m = _DECIMAL.match(key)
    return f"decimal({m.group(1)},{m.group(2)})" if m else _SPARK_TYPES[key]


def declared_schema(options: FileReadOptions) -> dict[str, str]:
    """``options.schema`` as column → Spark DDL type (empty when absent)."""
    spec = None if isinstance(options, ParquetReadOptions) else options.schema_
    return {c: spark_type(t) for c, t in (spec or {}).items()}


def _headerless(options: FileReadOptions) -> bool:
    return isinstance(options, CsvReadOptions) and not options.header


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _ddl(columns: Mapping[str, str]) -> str:
    return ", ".join(f"{_quote(c)} {t}" for c, t in columns.items())


def empty_frame(spark: SparkSession, options: FileReadOptions) -> DataFrame:
    """A frame with no rows and the declared columns (no columns when none are declared)."""
    from pyspark.sql.types import StructType

    columns = declared_schema(options)
    schema: StructType | str = _ddl(columns) if columns else StructType([])
    return spark.createDataFrame([], schema)


def _reader(spark: SparkSession, options: FileReadOptions) -> Any:
    reader = spark.read.option("mode", "PERMISSIVE").option("columnNameOfCorruptRecord", CORRUPT)
    if isinstance(options, CsvReadOptions):
        reader = reader.option("header", str(options.header).lower())
        reader = reader.option("sep", options.delimiter).option("quote", options.quote)
        reader = reader.option("nullValue", options.null_values[0])
    return reader


def _inferred(spark: SparkSession, paths: Sequence[str], options: FileReadOptions) -> StructType:
    reader = _reader(spark, options)
    if isinstance(options, CsvReadOptions):
        return reader.option("inferSchema", "true").csv(list(paths)).schema  # type: ignore[no-any-return]
    return reader.json(list(paths)).schema  # type: ignore[no-any-return]


def _full_schema(
    spark: SparkSession, paths: Sequence[str], options: FileReadOptions
) -> dict[str, str]:
    declared = declared_schema(options)
    if _headerless(options) and declared:
        return declared  # no header: the declared columns are the columns, in order
    if isinstance(options, JsonReadOptions) and options.undeclared_fields == "ignore":
        return declared  # the schema is the whole row: no inference pass
    covered = declared_covers(paths, options, declared) if declared else None
    if covered is not None:
        return covered  # the declared columns are every column: no inference pass
    columns: dict[str, str] = {}
    for f in _inferred(spark, paths, options).fields:
        if f.name == CORRUPT:
            continue
        # A column all of whose values are null is inferred as "void"; text keeps it storable.
        inferred = "string" if f.dataType.simpleString() == "void" else f.dataType.simpleString()
        columns[f.name] = declared.get(f.name, inferred)
    for name, t in declared.items():
        columns.setdefault(name, t)
    if isinstance(options, CsvReadOptions):
        return columns  # the header's order, as on the pandas engine
    # Spark sorts inferred JSON fields by name; the pandas engine puts declared columns first,
    # then the others in the order they appear in the data. Match it.
    order = list(declared) + [k for k in _first_keys(paths) if k not in declared]
    ranked = {name: i for i, name in enumerate(order)}
    return dict(sorted(columns.items(), key=lambda kv: ranked.get(kv[0], len(ranked))))


def _first_keys(paths: Sequence[str]) -> list[str]:
    """Keys of the first JSON object in the first readable file (its column order)."""
    import orjson

    for path in paths:
        try:
            with open(path.removeprefix("file://"), "rb") as fh:
                for line in fh:
                    if line.strip():
                        value = orjson.loads(line)
                        return list(value) if isinstance(value, dict) else []
        except (OSError, orjson.JSONDecodeError):
            continue
    return []


def _is_json_array(path: str) -> bool:
    try:
        with open(path.removeprefix("file://"), "rb") as fh:
            return fh.read(4096).lstrip()[:1] == b"["
    except OSError:
        return False


def _read_text_format(
    spark: SparkSession, paths: Sequence[str], options: FileReadOptions
) -> DataFrame:
    from pyspark.sql import functions as F

    columns = _full_schema(spark, paths, options)
    ddl = _ddl({**columns, CORRUPT: "string"})
    reader = _reader(spark, options).schema(ddl)
    if isinstance(options, CsvReadOptions):
        df = reader.csv(list(paths))
        if not options.header and not declared_schema(options):
            df = df.toDF(*[f"f{i}" for i in range(len(columns))], CORRUPT)
    elif all(_is_json_array(p) for p in paths):
        df = reader.option("multiLine", "true").json(list(paths))
    else:
        df = reader.json(list(paths))
    return df.withColumn(SOURCE, F.input_file_name())


def read_spark_files(
    spark: SparkSession, paths: Sequence[str], options: FileReadOptions
) -> ReadResult:
    """Read ``paths`` (all of the format ``options`` belong to) into one frame plus rejects.

    Raises:
        ConfigError: unknown type name, or options Spark cannot honour.
        RecordError: a file cannot be read at all (missing, not parquet).
    """
    from pyspark.errors import PySparkException
    from pyspark.sql import functions as F

    if isinstance(options, CsvReadOptions) and len(options.null_values) != 1:
        raise ConfigError(
            "the spark engine reads exactly one CSV null value (Spark's nullValue)",
            hint="set null_values to one text (e.g. [''] or ['NULL']), or use the pandas engine",
        )
    if not paths:
        return ReadResult(empty_frame(spark, options))
    fmt = _format_name(options)
    try:
        if isinstance(options, ParquetReadOptions):
            df = spark.read.option("mergeSchema", "true").parquet(*paths)
            return ReadResult(df.localCheckpoint(eager=True))
        df = _read_text_format(spark, paths, options).localCheckpoint(eager=True)
        # One job over the materialised rows counts both; the bad ones are collected only
        # when there are any.
        total, n_bad = df.select(F.count(F.lit(1)), F.count(F.col(CORRUPT))).first() or (0, 0)
        bad = df.filter(F.col(CORRUPT).isNotNull()).select(CORRUPT, SOURCE).collect() if n_bad else []
    except PySparkException as exc:
        raise RecordError(f"cannot read {fmt} files ({paths[0]} ...): {exc}") from exc
    except Exception as exc:  # py4j errors for I/O failures are not PySparkException
        raise RecordError(f"cannot read {fmt} files ({paths[0]} ...): {exc}") from exc
    rejects = [
        Reject(
            record=str(r[0]).rstrip("\r\n"),
            error=f"malformed {fmt} record",
            source=_local_name(r[1]),
        )
        for r in bad
    ]
    good = df.filter(F.col(CORRUPT).isNull()).drop(CORRUPT, SOURCE)
    return ReadResult(good, rejects, rows=int(total) - int(n_bad))


def _format_name(options: FileReadOptions) -> str:
    if isinstance(options, CsvReadOptions):
        return "csv"
    return "json" if isinstance(options, JsonReadOptions) else "parquet"


def _local_name(uri: str | None) -> str:
    if not uri:
        return "?"
    return uri.removeprefix("file://") if uri.startswith("file:///") else uri


def read_spark_table(spark: SparkSession, uri: str, options: FileReadOptions) -> DataFrame:
    """Read a whole parquet / csv / json folder or file (static reads; no bad rows allowed).

    Raises:
        RecordError: a record failed to parse.
    """
    if isinstance(options, ParquetReadOptions):
        return spark.read.parquet(uri)
    result = read_spark_files(spark, [uri], options)
    if result.rejects:
        first = result.rejects[0]
        raise RecordError(
            f"{len(result.rejects)} bad record(s) in {uri}; first at {first.source}: {first.error}"
        )
    return result.frame  # type: ignore[no-any-return]
