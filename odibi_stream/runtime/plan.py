"""Everything a pipeline needs at run time, built once per (re)load from its config.

``PipelinePlan`` resolves connections to locations, builds each incremental source, each sink,
the dead-letter sink and the DAG. Building it is where a config that validated but cannot run
(an unknown transform function, an unsupported format) fails — before any batch is planned.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from odibi_stream.config.models import NodeConfig, PipelineConfig, parse_duration
from odibi_stream.config.project import Location, Project
from odibi_stream.connectors.base import Sink, Source
from odibi_stream.connectors.dead_letter import DeadLetterSink
from odibi_stream.connectors.factory import build_sink, build_source
from odibi_stream.dag.graph import Dag, build_dag
from odibi_stream.plugins.transforms import resolve_function


@dataclass
class PipelinePlan:
    """The runnable form of one pipeline.

    Attributes:
        name: Pipeline name.
        config: The validated pipeline config.
        dag: Its node graph (validated, layered).
        sources: Incremental sources by node name.
        sinks: Sinks by node name.
        static_reads: Locations of non-incremental read nodes by node name.
        functions: Resolved Python transforms by node name.
        dead_letter: The dead-letter sink, when configured.
        fingerprint: Config fingerprint written into every offsets entry.
        max_parallel_nodes: Bound on nodes of one batch running at once.
    """

    name: str
    config: PipelineConfig
    dag: Dag
    sources: dict[str, Source]
    sinks: dict[str, Sink]
    static_reads: dict[str, Location]
    functions: dict[str, Callable[..., Any]]
    dead_letter: DeadLetterSink | None
    fingerprint: str
    max_parallel_nodes: int = 4
    watermark_delays: dict[str, float] = field(default_factory=dict)

    def node(self, name: str) -> NodeConfig:
        """The config of node ``name``."""
        return self.config.node(name)


def build_plan(project: Project, name: str) -> PipelinePlan:
    """Resolve everything pipeline ``name`` needs to run (raises OdibiError subclasses)."""
    cfg = project.pipeline(name)
    root = str(project.root)
    if root not in sys.path:
        # Dotted-path transforms live in the project folder (e.g. my_pkg/transforms.py).
        sys.path.insert(0, root)
    dag = build_dag(cfg, project.files.get(name))
    sources: dict[str, Source] = {}
    static: dict[str, Location] = {}
    sinks: dict[str, Sink] = {}
    functions: dict[str, Callable[..., Any]] = {}
    delays: dict[str, float] = {}
    for node in cfg.nodes:
        if node.read is not None:
            loc = project.location(node.read.connection, node.read.path)
            src = build_source(cfg.pipeline, node, loc)
            if src is None:
                static[node.name] = loc
            else:
                sources[node.name] = src
            if node.read.watermark is not None:
                delays[node.name] = parse_duration(node.read.watermark.delay).total_seconds()
        if node.transform is not None and node.transform.function:
            functions[node.name] = resolve_function(node.transform.function)
        if node.write is not None:
            sinks[node.name] = build_sink(
                node, project.location(node.write.connection, node.write.path), cfg.pipeline
            )
    dead_letter = None
    if cfg.dead_letter is not None:
        dl = cfg.dead_letter
        dead_letter = DeadLetterSink(project.location(dl.connection, dl.path), dl, cfg.pipeline)
    return PipelinePlan(
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
    )
