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
CSV ``null_values`` maps to Spark's single ``nullValue`` (so at most one value).

Eager reads (the default) are materialised (``localCheckpoint``) so that the bad records and
counts are known before any sink writes; one job over them counts the rows and the bad ones,
which are collected only when there are any. Deferred reads (``defer`` set, asked for by the
batch executor through :data:`~odibi_stream.engines.base.DEFER_ACCOUNTING`) are not: the
files of a batch do not change while it runs, so the batch's write job parses them once and
counts the rows and bad rows on the way (:mod:`odibi_stream.engines.spark_observe`); the bad
records are collected afterwards, by a second parse, only when there are any. A deferred read
for ``on_error: fail`` reads in ``FAILFAST`` mode instead: its first bad record fails the job.
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
from odibi_stream.engines.base import Deferral, ReadResult, Reject
from odibi_stream.engines.spark_observe import Observed
from odibi_stream.engines.spark_schema import declared_covers
from odibi_stream.exceptions import ConfigError, RecordError

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession
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


def _reader(spark: SparkSession, options: FileReadOptions, *, failfast: bool = False) -> Any:
    reader = (
        spark.read.option("mode", "FAILFAST")
        if failfast
        else spark.read.option("mode", "PERMISSIVE").option("columnNameOfCorruptRecord", CORRUPT)
    )
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
    spark: SparkSession, paths: Sequence[str], options: FileReadOptions, *, failfast: bool = False
) -> DataFrame:
    """The files as a frame; with ``failfast`` a bad record fails the job that runs it (and
    there are no corrupt-record and source columns), else it lands in those columns."""
    from pyspark.sql import functions as F

    columns = _full_schema(spark, paths, options)
    extra = [] if failfast else [CORRUPT]
    reader = _reader(spark, options, failfast=failfast).schema(_ddl({**columns, **{c: "string" for c in extra}}))
    if isinstance(options, CsvReadOptions):
        df = reader.csv(list(paths))
        if not options.header and not declared_schema(options):
            df = df.toDF(*[f"f{i}" for i in range(len(columns))], *extra)
    elif all(_is_json_array(p) for p in paths):
        df = reader.option("multiLine", "true").json(list(paths))
    else:
        df = reader.json(list(paths))
    return df if failfast else df.withColumn(SOURCE, F.input_file_name())


def read_spark_files(
    spark: SparkSession, paths: Sequence[str], options: FileReadOptions, *, defer: Deferral | None = None
) -> ReadResult:
    """Read ``paths`` (all of the format ``options`` belong to) into one frame plus rejects.

    With ``defer`` the result is lazy and carries :attr:`ReadResult.pending` instead of
    rejects and a count (see the module docstring); a file that cannot be read then fails the
    job that first runs the frame, not this call, and so does a bad record under ``"fail"``.

    Raises:
        ConfigError: unknown type name, or options Spark cannot honour.
        RecordError: a file cannot be read at all (missing, not parquet).
    """
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
        if defer is not None:
            return _deferred_read(spark, paths, options, failfast=defer == "fail")
        if isinstance(options, ParquetReadOptions):
            df = spark.read.option("mergeSchema", "true").parquet(*paths)
            return ReadResult(df.localCheckpoint(eager=True))
        df = _read_text_format(spark, paths, options).localCheckpoint(eager=True)
        # One job over the materialised rows counts both; the bad ones are collected only
        # when there are any.
        total, n_bad = df.select(F.count(F.lit(1)), F.count(F.col(CORRUPT))).first() or (0, 0)
        bad = df.filter(F.col(CORRUPT).isNotNull()).select(CORRUPT, SOURCE).collect() if n_bad else []
    except Exception as exc:  # PySparkException, and py4j errors for I/O failures
        raise RecordError(f"cannot read {fmt} files ({paths[0]} ...): {spark_error_text(exc)}") from exc
    good = df.filter(F.col(CORRUPT).isNull()).drop(CORRUPT, SOURCE)
    return ReadResult(good, _rejects(bad, fmt), rows=int(total) - int(n_bad))


def _rejects(bad: Sequence[Any], fmt: str) -> list[Reject]:
    return [
        Reject(record=str(r[0]).rstrip("\r\n"), error=f"malformed {fmt} record", source=_local_name(r[1]))
        for r in bad
    ]


def _any_of(columns: Sequence[str]) -> Column:
    """An expression that references every column of a text read.

    Spark's JSON and CSV readers parse only the columns a query needs, so a type error in a
    column the query does not use would go unnoticed; referencing them all keeps every column
    parsed, and a row is bad for the same reasons as in an eager read (and on the pandas engine).
    """
    from pyspark.sql import functions as F

    return F.coalesce(*[F.col(_quote(c)).cast("string") for c in columns])


def _deferred_read(
    spark: SparkSession, paths: Sequence[str], options: FileReadOptions, *, failfast: bool
) -> ReadResult:
    from pyspark.sql import functions as F

    if isinstance(options, ParquetReadOptions):
        # Typed columns: nothing to validate, so only the columns the query needs are read.
        plain = Observed(spark.read.option("mergeSchema", "true").parquet(*paths), rows=F.count(F.lit(1)))
        return ReadResult(plain.frame, pending=lambda: (int(plain.get()["rows"]), []))
    df = _read_text_format(spark, paths, options, failfast=failfast)
    data = [c for c in df.columns if c not in (CORRUPT, SOURCE)]
    # Every declared column observed, so each is parsed: a bad value anywhere makes the row bad
    # (under FAILFAST, fails the job), as in an eager read (see _any_of).
    every = _any_of(data) if data else None
    metrics = {"rows": F.count(F.lit(1)), **({"whole_row": F.count(every)} if every is not None else {})}
    if failfast:
        strict = Observed(df, **metrics)
        return ReadResult(strict.frame, pending=lambda: (int(strict.get()["rows"]), []))
    seen = Observed(df, bad=F.count(F.col(CORRUPT)), **metrics)
    whole = [every.alias("_odibi_whole_row")] if every is not None else []
    fmt = _format_name(options)

    def settle() -> tuple[int, list[Reject]]:
        observed = seen.get()
        rows, n_bad = int(observed["rows"]), int(observed["bad"])
        if not n_bad:
            return rows, []
        # The files are unchanged since the write job parsed them: a second parse finds the same.
        bad = df.filter(F.col(CORRUPT).isNotNull()).select(CORRUPT, SOURCE, *whole).collect()
        return rows - n_bad, _rejects(bad, fmt)

    good = seen.frame.filter(F.col(CORRUPT).isNull()).drop(CORRUPT, SOURCE)
    return ReadResult(good, pending=settle)


def spark_error_text(exc: BaseException) -> str:
    """A Spark or py4j error as its message and root cause, without the JVM's stack trace."""
    lines = [line.strip() for line in str(exc).splitlines()]
    kept = [
        line.removeprefix(": ")
        for line in lines
        if line and not line.startswith(("at ", "...", "An error occurred while calling", "JVM stacktrace"))
    ]
    head = kept[0] if kept else type(exc).__name__
    causes = [line.removeprefix("Caused by: ") for line in kept if line.startswith("Caused by:")]
    return f"{head} (caused by {causes[-1]})" if causes and causes[-1] not in head else head


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
