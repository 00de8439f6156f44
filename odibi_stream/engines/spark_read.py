"""Readers of the Spark engine: Spark's native csv / json / parquet readers with rejects.

csv and json are read in ``PERMISSIVE`` mode with a corrupt-record column: a row whose text
does not parse, has the wrong number of fields or holds a value that does not convert to its
column's type keeps its raw text there and becomes a :class:`Reject` (record text, reason,
source file via ``input_file_name()``); the good rows form the frame.

Types follow the pandas engine: ``options.schema`` (column → type name, the same names) fixes
the named columns; the others are inferred over the whole input (a pass of its own; skipped
for a CSV whose header names only declared columns: :mod:`odibi_stream.engines.spark_schema`).
Read results are materialised
(``localCheckpoint``) so that every later action in the batch sees the same rows even if the
files are archived or deleted after commit.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from odibi_stream.core.arrow_types import parse_type
from odibi_stream.engines.base import ReadResult, Reject
from odibi_stream.engines.spark_schema import declared_covers
from odibi_stream.exceptions import ConfigError, RecordError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

CORRUPT = "_odibi_corrupt_record"
SOURCE = "_odibi_source_file"
FORMATS = ("csv", "json", "jsonl", "parquet")
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


def declared_schema(options: Mapping[str, Any]) -> dict[str, str]:
    """``options.schema`` as column → Spark DDL type (empty when absent)."""
    spec = options.get("schema")
    if spec is None:
        return {}
    if not isinstance(spec, dict):
        raise ConfigError("option 'schema' must be a mapping of column name to type name")
    return {str(c): spark_type(str(t)) for c, t in spec.items()}


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _ddl(columns: Mapping[str, str]) -> str:
    return ", ".join(f"{_quote(c)} {t}" for c, t in columns.items())


def empty_frame(spark: SparkSession, options: Mapping[str, Any]) -> DataFrame:
    """A frame with no rows and the declared columns (no columns when none are declared)."""
    from pyspark.sql.types import StructType

    columns = declared_schema(options)
    schema: StructType | str = _ddl(columns) if columns else StructType([])
    return spark.createDataFrame([], schema)


def _reader(spark: SparkSession, fmt: str, options: Mapping[str, Any]) -> Any:
    reader = spark.read.option("mode", "PERMISSIVE").option("columnNameOfCorruptRecord", CORRUPT)
    if fmt == "csv":
        reader = reader.option("header", str(bool(options.get("header", True))).lower())
        reader = reader.option("sep", str(options.get("delimiter", ",")))
    return reader


def _inferred(
    spark: SparkSession, paths: Sequence[str], fmt: str, options: Mapping[str, Any]
) -> StructType:
    reader = _reader(spark, fmt, options)
    if fmt == "csv":
        return reader.option("inferSchema", "true").csv(list(paths)).schema  # type: ignore[no-any-return]
    return reader.json(list(paths)).schema  # type: ignore[no-any-return]


def _full_schema(
    spark: SparkSession, paths: Sequence[str], fmt: str, options: Mapping[str, Any]
) -> dict[str, str]:
    declared = declared_schema(options)
    if fmt == "csv" and not options.get("header", True) and declared:
        return declared  # no header: the declared columns are the columns, in order
    covered = declared_covers(paths, fmt, options, declared) if declared else None
    if covered is not None:
        return covered  # the declared columns are every column: no inference pass
    columns: dict[str, str] = {}
    for f in _inferred(spark, paths, fmt, options).fields:
        if f.name == CORRUPT:
            continue
        # A column all of whose values are null is inferred as "void"; text keeps it storable.
        inferred = "string" if f.dataType.simpleString() == "void" else f.dataType.simpleString()
        columns[f.name] = declared.get(f.name, inferred)
    for name, t in declared.items():
        columns.setdefault(name, t)
    if fmt == "csv":
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
    spark: SparkSession, paths: Sequence[str], fmt: str, options: Mapping[str, Any]
) -> DataFrame:
    from pyspark.sql import functions as F

    columns = _full_schema(spark, paths, fmt, options)
    ddl = _ddl({**columns, CORRUPT: "string"})
    reader = _reader(spark, fmt, options).schema(ddl)
    if fmt == "csv":
        df = reader.csv(list(paths))
        if not options.get("header", True) and not declared_schema(options):
            df = df.toDF(*[f"f{i}" for i in range(len(columns))], CORRUPT)
    elif fmt == "json" and all(_is_json_array(p) for p in paths):
        df = reader.option("multiLine", "true").json(list(paths))
    else:
        df = reader.json(list(paths))
    return df.withColumn(SOURCE, F.input_file_name())


def read_spark_files(
    spark: SparkSession, paths: Sequence[str], fmt: str, options: Mapping[str, Any]
) -> ReadResult:
    """Read ``paths`` (all of format ``fmt``) into one materialised frame plus rejects.

    Raises:
        ConfigError: unknown format or type name.
        RecordError: a file cannot be read at all (missing, not parquet).
    """
    from pyspark.errors import PySparkException
    from pyspark.sql import functions as F

    if fmt not in FORMATS:
        raise ConfigError(
            f"cannot read files of format {fmt!r}", hint="use csv, json, jsonl or parquet"
        )
    if not paths:
        return ReadResult(empty_frame(spark, options))
    try:
        if fmt == "parquet":
            df = spark.read.option("mergeSchema", "true").parquet(*paths)
            return ReadResult(df.localCheckpoint(eager=True))
        df = _read_text_format(spark, paths, fmt, options).localCheckpoint(eager=True)
        bad = df.filter(F.col(CORRUPT).isNotNull()).select(CORRUPT, SOURCE).collect()
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
    return ReadResult(good, rejects)


def _local_name(uri: str | None) -> str:
    if not uri:
        return "?"
    return uri.removeprefix("file://") if uri.startswith("file:///") else uri


def read_spark_table(spark: SparkSession, uri: str, fmt: str) -> DataFrame:
    """Read a whole parquet / csv / json folder or file (static reads; no bad rows allowed).

    Raises:
        ConfigError: unknown format.
        RecordError: a record failed to parse.
    """
    if fmt == "parquet":
        return spark.read.parquet(uri)
    if fmt not in FORMATS:
        raise ConfigError(
            f"cannot read tables of format {fmt!r}", hint="use delta, parquet, csv or json"
        )
    result = read_spark_files(spark, [uri], fmt, {})
    if result.rejects:
        first = result.rejects[0]
        raise RecordError(
            f"{len(result.rejects)} bad record(s) in {uri}; first at {first.source}: {first.error}"
        )
    return result.frame  # type: ignore[no-any-return]
