"""Compiling a pipeline's config into what runs it, and opening that for batches.

* :func:`compile_pipeline` resolves connections to locations, builds every source and sink
  *spec*, the dead-letter spec, the DAG and the Python transforms: everything a config that
  validated could still get wrong (an unknown transform, an unsupported format, a missing
  extra) fails here, without touching data or external systems. ``validate``, ``run`` and
  ``serve`` all compile through this one function.
* :meth:`CompiledPipeline.open` opens every spec into a :class:`LivePipeline` (readers,
  writers, their clients); the runner owns it and closes it on unload — closing releases every
  client, also after a partial open.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from odibi_stream.clients.locations import Location, resolve_location
from odibi_stream.config.base import parse_duration
from odibi_stream.config.maintenance_models import MaintenanceConfig
from odibi_stream.config.models import NodeConfig, PipelineConfig
from odibi_stream.config.project import Project
from odibi_stream.connectors.base import Sink, SinkSpec, Source, SourceSpec
from odibi_stream.connectors.dead_letter import DeadLetterSink, DeadLetterSpec
from odibi_stream.connectors.factory import build_sink, build_source
from odibi_stream.core.clock import SYSTEM_CLOCK, Clock
from odibi_stream.core.wake import Watch
from odibi_stream.dag.graph import Dag, build_dag
from odibi_stream.plugins.transforms import resolve_function
from odibi_stream.runtime.masking import Masker, build_masker
from odibi_stream.runtime.transform_modules import import_project_transforms
from odibi_stream.runtime.where import located
from odibi_stream.triggers.build import check_trigger

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CompiledPipeline:
    """A pipeline compiled from its config: specs, DAG and functions (no live clients).

    Attributes:
        name: Pipeline name.
        config: The validated pipeline config.
        dag: Its node graph (validated, layered).
        sources: Incremental source specs by node name.
        sinks: Sink specs by node name.
        static_reads: Locations of non-incremental read nodes by node name.
        functions: Resolved Python transforms by node name.
        dead_letter: The dead-letter spec, when configured.
        fingerprint: Config fingerprint written into every offsets entry.
        max_parallel_nodes: Bound on nodes of one batch running at once.
        watermark_delays: Watermarked read node → allowed lateness in seconds.
        node_where: Node → ``file:line`` of its YAML (for errors that say where).
        where: ``file`` of the pipeline's YAML.
        masker: Masks of the pipeline's sensitive columns (see :mod:`odibi_stream.runtime.masking`).
        maintenance: Delta sink node (``_dead_letter`` for a Delta dead-letter table) → its
            effective table maintenance (the sink's own, else the project default).
    """

    name: str
    config: PipelineConfig
    dag: Dag
    sources: dict[str, SourceSpec]
    sinks: dict[str, SinkSpec]
    static_reads: dict[str, Location]
    functions: dict[str, Callable[..., Any]]
    dead_letter: DeadLetterSpec | None
    fingerprint: str
    max_parallel_nodes: int = 4
    watermark_delays: dict[str, float] = field(default_factory=dict)
    node_where: dict[str, str] = field(default_factory=dict)
    where: str | None = None
    masker: Masker = field(default_factory=Masker)
    maintenance: dict[str, MaintenanceConfig] = field(default_factory=dict)

    def node(self, name: str) -> NodeConfig:
        """The config of node ``name``."""
        return self.config.node(name)

    def watches(self) -> list[Watch]:
        """What wakes this pipeline's sources (folders to watch, probes to poll)."""
        found = [spec.watch() for spec in self.sources.values()]
        return [w for w in found if w is not None]

    def open(self) -> LivePipeline:
        """Open every source and sink; on any failure, close what was opened and re-raise."""
        live = LivePipeline(self)
        try:
            for name, src in self.sources.items():
                live.sources[name] = src.open()
            for name, sink in self.sinks.items():
                live.sinks[name] = sink.open()
            live.dead_letter = self.dead_letter.open() if self.dead_letter else None
        except BaseException:
            live.close()
            raise
        return live


@dataclass
class LivePipeline:
    """An opened pipeline: its readers and writers, owned by one runner until :meth:`close`."""

    compiled: CompiledPipeline
    sources: dict[str, Source] = field(default_factory=dict)
    sinks: dict[str, Sink] = field(default_factory=dict)
    dead_letter: DeadLetterSink | None = None
    closed: bool = False

    @property
    def name(self) -> str:
        """Pipeline name."""
        return self.compiled.name

    def close(self) -> None:
        """Close every opened reader and writer once (errors are logged, the rest still close)."""
        if self.closed:
            return
        self.closed = True
        for obj in [*self.sources.values(), *self.sinks.values(), self.dead_letter]:
            if obj is None:
                continue
            try:
                obj.close()
            except Exception:  # one failing close must not leak the others' clients
                log.exception("pipeline %s: closing %s failed", self.name, obj.node)


def compile_pipeline(project: Project, name: str, clock: Clock = SYSTEM_CLOCK) -> CompiledPipeline:
    """Compile pipeline ``name`` of ``project`` (raises OdibiError subclasses; opens nothing)."""
    cfg = project.pipeline(name)
    # The project folder on sys.path, plugins and the `transforms:` modules, in that order.
    import_project_transforms(project)
    file = project.files.get(name)
    dag = build_dag(cfg, file)
    sources: dict[str, SourceSpec] = {}
    static: dict[str, Location] = {}
    sinks: dict[str, SinkSpec] = {}
    functions: dict[str, Callable[..., Any]] = {}
    delays: dict[str, float] = {}
    engine = cfg.engine or project.config.engine

    def location(connection: str, path: str | None) -> Location:
        return resolve_location(project, connection, path, engine=engine)

    for index, node in enumerate(cfg.nodes):
        if node.read is not None:
            with located(project, name, "nodes", index, "read"):
                loc = location(node.read.connection, node.read.path)
                src = build_source(cfg.pipeline, node, loc, clock)
            if src is None:
                static[node.name] = loc
            else:
                sources[node.name] = src
            if node.read.watermark is not None:
                delays[node.name] = parse_duration(node.read.watermark.delay).total_seconds()
        if node.transform is not None and node.transform.function:
            with located(project, name, "nodes", index, "transform", "function", user_code=True):
                functions[node.name] = resolve_function(node.transform.function)
        if node.write is not None:
            with located(project, name, "nodes", index, "write"):
                loc = location(node.write.connection, node.write.path)
                sinks[node.name] = build_sink(node, loc, cfg.pipeline)
    with located(project, name, "trigger"):
        check_trigger(cfg, [w for spec in sources.values() if (w := spec.watch()) is not None])
    dead_letter = None
    if cfg.dead_letter is not None:
        dl = cfg.dead_letter
        with located(project, name, "dead_letter"):
            dead_letter = DeadLetterSpec(location(dl.connection, dl.path), dl, cfg.pipeline)
    return CompiledPipeline(
        name=cfg.pipeline,
        config=cfg,
        dag=dag,
        sources=sources,
        sinks=sinks,
        static_reads=static,
        functions=functions,
        dead_letter=dead_letter,
        fingerprint=project.fingerprint(name),
        max_parallel_nodes=project.config.runtime.max_parallel_nodes,
        watermark_delays=delays,
        node_where=_node_lines(project, cfg, file),
        where=str(file) if file else None,
        masker=build_masker(project, cfg),
        maintenance=_maintenance(project, cfg),
    )


def _maintenance(project: Project, cfg: PipelineConfig) -> dict[str, MaintenanceConfig]:
    default = project.config.maintenance
    out: dict[str, MaintenanceConfig] = {}
    for node in cfg.nodes:
        write = node.write
        if write is None or write.format != "delta":
            continue
        chosen = write.maintenance if write.maintenance is not None else default
        if chosen is not None and chosen.active:
            out[node.name] = chosen
    dl = cfg.dead_letter
    if dl is not None and dl.format == "delta" and default is not None and default.active:
        out["_dead_letter"] = default
    return out


def _node_lines(project: Project, cfg: PipelineConfig, file: Path | None) -> dict[str, str]:
    if file is None:
        return {}
    out = {}
    for index, node in enumerate(cfg.nodes):
        line = project.line(cfg.pipeline, "nodes", index)
        out[node.name] = f"{file}:{line}" if line else str(file)
    return out
