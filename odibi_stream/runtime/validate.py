"""``validate``: prove that every pipeline will run, without touching data.

Two passes over a project, used by ``odibi-stream validate`` and by the service layer before a
daemon starts or reloads (``service.project.validate``):

1. **Compile** every pipeline through :func:`~odibi_stream.runtime.compile.compile_pipeline` —
   the one path ``run`` and ``serve`` use: connections, formats, options, extras, the
   ``transforms:`` modules and every transform function, triggers, dead-letter targets. Each
   pipeline's error is collected (not only the first).
2. **Bind** every pipeline (also one that did not compile) on its engine, node by node in DAG order, over *empty*
   frames: a read node's columns come from its declared ``schema`` (or, with ``sample``, a
   present input file; see :mod:`~odibi_stream.runtime.validate_schema`); each SQL transform
   is bound against its upstream frames and yields the next frame; check expressions, the
   watermark column, merge keys and partition columns are checked against the frame they
   apply to. Errors say ``file:line`` of the SQL (the line of the offending name inside it),
   the node, and did-you-mean. Where a schema is unknown (no declared schema, a Python
   transform's output) binding stops for that branch and a *note* says so.

Lifecycle: call :func:`check_project` once; engines come from ``engine_for`` (None for an
engine that cannot bind here: its pipelines get a note). The caller closes the engines.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from odibi_stream.clients.locations import resolve_location
from odibi_stream.config.models import NodeConfig
from odibi_stream.config.project import Project
from odibi_stream.core.extras import has_module
from odibi_stream.core.hints import did_you_mean
from odibi_stream.dag.graph import build_dag
from odibi_stream.engines.base import Engine, Frame
from odibi_stream.exceptions import ConfigError, ConfigErrors, OdibiError
from odibi_stream.runtime.compile import CompiledPipeline, compile_pipeline
from odibi_stream.runtime.validate_schema import read_frame
from odibi_stream.runtime.validate_sql import SqlBindError, SqlProblem, bind_expr, bind_sql
from odibi_stream.runtime.where import setting_location

EngineFor = Callable[[str], "Engine | None"]


@dataclass
class Findings:
    """What validation found.

    Attributes:
        compiled: The pipelines that compiled, by name.
        errors: Every problem, each at ``file:line`` with a hint.
        notes: What could not be checked, and why (not errors).
        bound: Pipelines whose SQL was bound on their engine.
    """

    compiled: dict[str, CompiledPipeline] = field(default_factory=dict)
    errors: list[ConfigError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    bound: list[str] = field(default_factory=list)

    def raise_errors(self) -> None:
        """Raise the errors (one ``ConfigError`` or ``ConfigErrors``); nothing if none."""
        if self.errors:
            ordered = sorted(self.errors, key=lambda e: (e.file or "", e.line or 0))
            raise ordered[0] if len(ordered) == 1 else ConfigErrors(ordered)


def compile_all(project: Project, clock: Any = None) -> Findings:
    """Pass 1: compile every pipeline, collecting each one's error."""
    findings = Findings()
    for name in project.pipelines:
        try:
            findings.compiled[name] = (
                compile_pipeline(project, name) if clock is None else compile_pipeline(project, name, clock)
            )
        except ConfigErrors as exc:
            findings.errors.extend(exc.errors)
        except ConfigError as exc:
            findings.errors.append(exc)
        except OdibiError as exc:
            file, line = setting_location(project, name, "pipeline")
            findings.errors.append(ConfigError(exc.message, file=file, line=line, hint=exc.hint))
    return findings


def engine_name(project: Project, pipeline: str) -> str:
    """The engine a pipeline runs on."""
    return project.pipelines[pipeline].engine or project.config.engine


def check_engines(project: Project, findings: Findings) -> None:
    """A pipeline on ``engine: spark`` needs the spark extra, like any other extra."""
    for name, cfg in project.pipelines.items():
        if engine_name(project, name) == "spark" and not has_module("pyspark"):
            own = cfg.engine is not None
            file, line = setting_location(project, name, "engine") if own else (
                str(project.files.get("__project__")), None)
            findings.errors.append(ConfigError(
                f"pipeline {name}: engine spark needs the 'spark' extra (pyspark is not installed)",
                file=file, line=line, hint="pip install 'odibi-stream[spark]'",
            ))


def check_project(project: Project, findings: Findings, engine_for: EngineFor, *, sample: bool = False) -> None:
    """Pass 2: bind every pipeline's SQL and expressions (see the module).

    Also pipelines that did not compile: a bad transform module and a bad SQL are both
    reported by one ``validate``.
    """
    for name in project.pipelines:
        wanted = engine_name(project, name)
        engine = engine_for(wanted)
        if engine is None:
            findings.notes.append(f"pipeline {name}: SQL not bound (engine {wanted} not used for validation here)")
            continue
        _Binder(project, name, engine, findings, sample).run()
        findings.bound.append(name)


class _Binder:
    """Walks one pipeline's DAG over empty frames (one use)."""

    def __init__(self, project: Project, name: str, engine: Engine, findings: Findings,
                 sample: bool) -> None:
        self.project = project
        self.name = name
        self.config = project.pipelines[name]
        self.engine = engine
        self.findings = findings
        self.sample = sample
        self.frames: dict[str, Frame | None] = {}
        self.unknown_why: dict[str, str] = {}

    def run(self) -> None:
        index = {n.name: i for i, n in enumerate(self.config.nodes)}
        dag = build_dag(self.config, self.project.files.get(self.name))
        for layer in dag.layers():
            for name in layer:
                node = self.config.node(name)
                self.frames[name] = self._node(node, index[name])

    # ------------------------------------------------------------------ one node
    def _node(self, node: NodeConfig, i: int) -> Frame | None:
        frame = self._input(node, i)
        if node.transform is not None:
            frame = self._transform(node, i, frame)
        if frame is None:
            return None
        for k, check in enumerate(node.checks):
            self._expr(node, frame, check.expr, ("nodes", i, "checks", k, "expr"), f"check '{check.name}'")
        if node.write is not None:
            self._columns(node, frame, node.write.merge_keys, ("nodes", i, "write", "merge_keys"), "merge key")
            self._columns(node, frame, node.write.partition_by, ("nodes", i, "write", "partition_by"), "partition column")
        return frame

    def _input(self, node: NodeConfig, i: int) -> Frame | None:
        if node.read is None:
            ups = [self.frames.get(d) for d in node.depends_on]
            if node.transform is not None or any(f is None for f in ups):
                return ups[0] if ups and all(f is not None for f in ups) else None
            return ups[0] if len(ups) == 1 else self.engine.union(ups)
        try:
            location = resolve_location(self.project, node.read.connection, node.read.path,
                                        engine=engine_name(self.project, self.name))
            frame, origin = read_frame(self.engine, node, location, self.sample)
        except OdibiError as exc:
            self._error(node, ("nodes", i, "read"), f"node {node.name}: cannot get its schema: {exc.message}", exc.hint)
            return None
        if frame is None:
            self.unknown_why[node.name] = origin
            return None
        wm = node.read.watermark
        if wm is not None:
            self._columns(node, frame, [wm.column], ("nodes", i, "read", "watermark", "column"), "watermark column")
        inc = node.read.incremental
        if inc is not None and inc.column:
            self._columns(node, frame, [inc.column], ("nodes", i, "read", "incremental", "column"), "incremental column")
        return frame

    def _transform(self, node: NodeConfig, i: int, frame: Frame | None) -> Frame | None:
        assert node.transform is not None
        if not node.transform.sql:
            return None  # a Python function's output columns are known only when it runs
        tables: dict[str, Frame] = {}
        missing = []
        for dep in node.depends_on:
            up = self.frames.get(dep)
            if up is None:
                missing.append(dep)
            else:
                tables[dep] = up
        if node.read is not None:
            if frame is None:
                missing.append(node.name)
            else:
                tables[node.name] = frame
        if missing:
            why = "; ".join(f"{m}: {self._why(m)}" for m in missing)
            self.findings.notes.append(
                f"pipeline {self.name} node {node.name}: SQL not bound, columns of {why}")
            return None
        try:
            return bind_sql(self.engine, node.transform.sql, tables)
        except SqlBindError as exc:
            self._sql_error(node, ("nodes", i, "transform", "sql"), "SQL", exc.problem)
            return None

    def _why(self, name: str) -> str:
        if name in self.unknown_why:
            return self.unknown_why[name]
        cfg = self.config.node(name)
        if cfg.transform is not None and cfg.transform.function:
            return "Python transform output (known only when it runs)"
        return "unknown upstream columns"

    def _expr(self, node: NodeConfig, frame: Frame, expr: str, path: tuple[str | int, ...], what: str) -> None:
        try:
            bind_expr(self.engine, frame, expr)
        except SqlBindError as exc:
            self._sql_error(node, path, what, exc.problem)

    def _columns(self, node: NodeConfig, frame: Frame, names: list[str], path: tuple[str | int, ...], what: str) -> None:
        have = self.engine.columns(frame)
        for name in names:
            if name not in have:
                hint = did_you_mean(name, have) or f"columns are: {', '.join(have)}"
                self._error(node, path, f"node {node.name}: unknown {what} '{name}'", hint)

    # ------------------------------------------------------------------ errors
    def _sql_error(self, node: NodeConfig, path: tuple[str | int, ...], what: str, problem: SqlProblem) -> None:
        file, line = setting_location(self.project, self.name, *path)
        if line is not None and problem.line is not None:
            line += problem.line + (1 if _is_block(file, line) else 0)
        message = f"pipeline {self.name} node {node.name}: {what}: {problem.message}"
        self.findings.errors.append(ConfigError(message, file=file, line=line, hint=problem.hint))

    def _error(self, node: NodeConfig, path: tuple[str | int, ...], message: str, hint: str | None) -> None:
        file, line = setting_location(self.project, self.name, *path)
        self.findings.errors.append(ConfigError(f"pipeline {self.name} {message}", file=file, line=line, hint=hint))


def _is_block(file: str | None, line: int) -> bool:
    """True if the key at ``file:line`` holds a block scalar (``sql: |``): its text starts below."""
    if file is None:
        return False
    try:
        with open(file, encoding="utf-8") as fh:
            for number, text in enumerate(fh, start=1):
                if number == line:
                    value = text.split(":", 1)[1].strip() if ":" in text else ""
                    return value[:1] in ("|", ">")
    except OSError:
        return False
    return False
