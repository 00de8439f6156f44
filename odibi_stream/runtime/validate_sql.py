"""Binding SQL without data: run a transform or a check on empty frames and explain its errors.

:func:`bind_sql` runs a node's SQL through the pipeline's own engine (DuckDB for pandas, the
Spark analyzer for Spark) over *empty* frames of the upstream schemas, so binding, name
resolution and type checks happen exactly as in a batch while no data is read; the result is
the (empty) output frame, whose columns feed the next node. :func:`bind_expr` does the same for
a check expression.

Engines word their errors differently; :func:`explain` turns both into one
:class:`SqlProblem` — ``unknown column 'devise'`` / ``unknown table 'x'`` / ``unknown function
'f'`` / ``syntax error at or near 'SELEC'`` — with a did-you-mean computed from the names the
query could see (the same on both engines) and the line of the offending name inside the SQL.
Engine exceptions are recognised by their module and error class, never imported here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from odibi_stream.core.hints import did_you_mean
from odibi_stream.engines.base import Engine, Frame
from odibi_stream.exceptions import OdibiError

_DUCK_COLUMN = re.compile(r'Referenced column "?([^"!\s]+)"? not found', re.I)
_DUCK_TABLE = re.compile(r"Table with name \"?([^\"!\s]+)\"? does not exist", re.I)
_DUCK_FUNCTION = re.compile(r"Function with name \"?([^\"!\s]+)\"? does not exist", re.I)
_DUCK_SYNTAX = re.compile(r'syntax error at or near "([^"]*)"', re.I)
_DUCK_SYNTAX_END = re.compile(r"syntax error at end of input", re.I)
_LINE = re.compile(r"LINE (\d+):")
_SPARK_LINE = re.compile(r"\(line (\d+), pos \d+\)")


@dataclass(frozen=True)
class SqlProblem:
    """A binding error, engine-independent.

    Attributes:
        kind: ``unknown_column`` | ``unknown_table`` | ``unknown_function`` | ``syntax`` | ``other``.
        name: The offending identifier or token (None for ``other``).
        message: One line for the user.
        hint: Did-you-mean, or the names that exist.
        line: 0-based line inside the SQL text where the problem is, when known.
    """

    kind: str
    name: str | None
    message: str
    hint: str | None
    line: int | None


class SqlBindError(Exception):
    """Raised by :func:`bind_sql` / :func:`bind_expr`, carrying the explained problem."""

    def __init__(self, problem: SqlProblem) -> None:
        super().__init__(problem.message)
        self.problem = problem


def bind_sql(engine: Engine, sql: str, tables: Mapping[str, Frame]) -> Frame:
    """Run ``sql`` over the (empty) ``tables``; the output frame, or :class:`SqlBindError`."""
    try:
        return engine.sql(sql, tables)
    except OdibiError as exc:
        columns = [c for frame in tables.values() for c in engine.columns(frame)]
        raise SqlBindError(explain(exc, sql, columns, list(tables))) from exc


def bind_expr(engine: Engine, frame: Frame, expr: str) -> None:
    """Evaluate the boolean ``expr`` over the (empty) ``frame``, or :class:`SqlBindError`."""
    try:
        engine.split(frame, expr)
    except OdibiError as exc:
        raise SqlBindError(explain(exc, expr, engine.columns(frame), [])) from exc


def explain(exc: BaseException, sql: str, columns: Iterable[str], tables: Iterable[str]) -> SqlProblem:
    """Turn an engine's SQL error into a :class:`SqlProblem` (see the module)."""
    engine_exc = _engine_cause(exc)
    kind, name, line = _spark_kind(engine_exc) if _is_spark(engine_exc) else _duck_kind(engine_exc)
    known_columns = sorted(set(columns))
    known_tables = sorted(set(tables))
    if name is not None and kind != "syntax":
        line = _line_of(sql, name) if line is None else line
    if kind == "unknown_column" and name is not None:
        hint = did_you_mean(name, known_columns) or _listing("columns", known_columns)
        return SqlProblem(kind, name, f"unknown column '{name}'", hint, line)
    if kind == "unknown_table" and name is not None:
        hint = did_you_mean(name, known_tables) or _listing(
            "tables (this node's upstream nodes)", known_tables)
        return SqlProblem(kind, name, f"unknown table '{name}'", hint, line)
    if kind == "unknown_function" and name is not None:
        return SqlProblem(kind, name, f"unknown function '{name}'", None, line)
    if kind == "syntax":
        if line is None and name:
            line = _line_of(sql, name)
        where = f"at or near '{name}'" if name else "at the end of the statement"
        return SqlProblem(kind, name, f"syntax error {where}", None, line)
    first = str(engine_exc).strip().splitlines()[0] if str(engine_exc).strip() else repr(engine_exc)
    return SqlProblem("other", None, first, None, line)


def _listing(what: str, names: list[str]) -> str | None:
    return f"{what}: {', '.join(names)}" if names else None


def _engine_cause(exc: BaseException) -> BaseException:
    """The innermost exception raised by DuckDB or PySpark (else ``exc``)."""
    seen = exc
    current: BaseException | None = exc
    while current is not None:
        module = type(current).__module__
        if module.startswith(("duckdb", "_duckdb", "pyspark")):
            return current
        seen = current
        current = current.__cause__
    return seen


def _is_spark(exc: BaseException) -> bool:
    return type(exc).__module__.startswith("pyspark")


def _duck_kind(exc: BaseException) -> tuple[str, str | None, int | None]:
    text = str(exc)
    m = _LINE.search(text)
    line = int(m.group(1)) - 1 if m else None
    for kind, pattern in (("unknown_column", _DUCK_COLUMN), ("unknown_table", _DUCK_TABLE),
                          ("unknown_function", _DUCK_FUNCTION), ("syntax", _DUCK_SYNTAX)):
        found = pattern.search(text)
        if found:
            return kind, found.group(1), line
    if _DUCK_SYNTAX_END.search(text):
        return "syntax", None, line
    return "other", None, line


_SPARK_KINDS = {
    "UNRESOLVED_COLUMN": ("unknown_column", "objectName"),
    "UNRESOLVED_FIELD": ("unknown_column", "fieldName"),
    "TABLE_OR_VIEW_NOT_FOUND": ("unknown_table", "relationName"),
    "UNRESOLVED_ROUTINE": ("unknown_function", "routineName"),
    "PARSE_SYNTAX_ERROR": ("syntax", "error"),
}


def _spark_kind(exc: BaseException) -> tuple[str, str | None, int | None]:
    condition = _call(exc, "getCondition") or _call(exc, "getErrorClass") or ""
    params: dict[str, Any] = dict(_call(exc, "getMessageParameters") or {})
    m = _SPARK_LINE.search(str(exc))
    line = int(m.group(1)) - 1 if m else None
    for prefix, (kind, key) in _SPARK_KINDS.items():
        if str(condition).startswith(prefix):
            raw = params.get(key)
            name = _unquote(str(raw)) if raw else None
            if kind == "syntax" and name in ("end of input", ""):
                name = None
            return kind, name, line
    return "other", None, line


def _call(exc: BaseException, method: str) -> Any:
    fn = getattr(exc, method, None)
    if not callable(fn):
        return None
    try:
        return fn()
    except Exception:  # older or newer PySpark without this accessor
        return None


def _unquote(raw: str) -> str:
    """```raw`.`devise``` → ``devise``; ``'SELEC'`` → ``SELEC``."""
    last = raw.split("`.`")[-1] if "`.`" in raw else raw
    return last.strip("`'\" ")


def _line_of(sql: str, name: str) -> int | None:
    pattern = re.compile(rf"(?<![\w]){re.escape(name)}(?![\w])", re.I)
    for index, text in enumerate(sql.splitlines()):
        if pattern.search(text):
            return index
    return None
