"""A pipeline's node graph: validation, topological layers, text and Mermaid renderings.

Lifecycle: the project loader validates every pipeline's graph with
:func:`odibi_stream.config.graph.dag_errors` (collecting all problems with their lines); the
runtime calls :func:`build_dag` for a validated pipeline and
asks the :class:`Dag` for :meth:`Dag.layers` — the nodes of one layer depend only on earlier
layers and may run in parallel. Guarantees: a returned Dag is acyclic, has unique node names
and no unknown dependencies; every ordering is stable (declaration order breaks ties).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from odibi_stream.config.graph import dag_errors
from odibi_stream.config.models import NodeConfig, PipelineConfig
from odibi_stream.config.yamlpos import KeyPath
from odibi_stream.exceptions import DagError


@dataclass(frozen=True)
class Dag:
    """An acyclic node graph.

    Attributes:
        pipeline: Pipeline name.
        nodes: Node names in declaration order.
        upstreams: Node → its direct upstream nodes (declaration order, no duplicates).
        kinds: Node → what it does, e.g. ``"read+transform+write"``.
    """

    pipeline: str
    nodes: tuple[str, ...]
    upstreams: Mapping[str, tuple[str, ...]]
    kinds: Mapping[str, str]

    def upstream(self, name: str) -> list[str]:
        """Direct upstream nodes of ``name``."""
        return list(self.upstreams[name])

    def downstream(self, name: str) -> list[str]:
        """Direct downstream nodes of ``name`` in declaration order."""
        if name not in self.upstreams:
            raise KeyError(name)
        return [n for n in self.nodes if name in self.upstreams[n]]

    def layers(self) -> list[list[str]]:
        """Topological layers; each node sits in the first layer after all its upstreams."""
        depth: dict[str, int] = {}
        for name in self._topo():
            depth[name] = 1 + max((depth[u] for u in self.upstreams[name]), default=-1)
        out: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
        for name in self.nodes:
            out[depth[name]].append(name)
        return out

    def order(self) -> list[str]:
        """A topological order: the layers, flattened."""
        return [n for layer in self.layers() for n in layer]

    def _topo(self) -> list[str]:
        done: list[str] = []
        placed: set[str] = set()
        while len(done) < len(self.nodes):
            progressed = False
            for name in self.nodes:
                if name not in placed and all(u in placed for u in self.upstreams[name]):
                    done.append(name)
                    placed.add(name)
                    progressed = True
            if not progressed:
                # Only reachable for a Dag built by hand, bypassing build_dag's checks.
                raise DagError(f"cycle in pipeline '{self.pipeline}'")
        return done


def build_dag(
    pipeline: PipelineConfig,
    file: Path | str | None = None,
    lines: Mapping[KeyPath, int] | None = None,
) -> Dag:
    """Validate ``pipeline``'s graph and build its Dag.

    Args:
        pipeline: The pipeline.
        file: Its YAML file, for error positions.
        lines: Its key path → line map (from the loader), for error positions.

    Raises:
        DagError: The first problem found (see :func:`~odibi_stream.config.graph.dag_errors` for all of them).
    """
    errors = dag_errors(pipeline, file, lines)
    if errors:
        raise errors[0]
    return _make(pipeline)


def to_text(dag: Dag) -> str:
    """A plain listing by layer: ``layer 1: clean (transform+write) <- raw``."""
    lines = [f"pipeline {dag.pipeline}: {len(dag.nodes)} nodes"]
    for depth, layer in enumerate(dag.layers()):
        for name in layer:
            ups = dag.upstream(name)
            arrow = f" <- {', '.join(ups)}" if ups else ""
            lines.append(f"  layer {depth}: {name} ({dag.kinds[name]}){arrow}")
    return "\n".join(lines)


def to_mermaid(dag: Dag) -> str:
    """A Mermaid ``flowchart LR`` of the graph (paste into Markdown or mermaid.live)."""
    out = ["flowchart LR"]
    out += [f'  {name}["{name}<br/>{dag.kinds[name]}"]' for name in dag.nodes]
    out += [f"  {up} --> {name}" for name in dag.nodes for up in dag.upstreams[name]]
    return "\n".join(out)


def _make(pipeline: PipelineConfig) -> Dag:
    return Dag(
        pipeline=pipeline.pipeline,
        nodes=tuple(n.name for n in pipeline.nodes),
        upstreams={n.name: tuple(dict.fromkeys(n.depends_on)) for n in pipeline.nodes},
        kinds={n.name: _kind(n) for n in pipeline.nodes},
    )


def _kind(node: NodeConfig) -> str:
    parts = [p for p in ("read", "transform", "checks", "write") if getattr(node, p)]
    return "+".join(parts)
