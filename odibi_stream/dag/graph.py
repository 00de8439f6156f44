"""A pipeline's node graph: validation, topological layers, text and Mermaid renderings.

Lifecycle: the project loader calls :func:`dag_errors` for every pipeline (collecting all
problems with their lines); the runtime calls :func:`build_dag` for a validated pipeline and
asks the :class:`Dag` for :meth:`Dag.layers` — the nodes of one layer depend only on earlier
layers and may run in parallel. Guarantees: a returned Dag is acyclic, has unique node names
and no unknown dependencies; every ordering is stable (declaration order breaks ties).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from odibi_stream.config.diagnostics import did_you_mean
from odibi_stream.config.models import NodeConfig, PipelineConfig
from odibi_stream.config.yamlpos import KeyPath, line_for
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
        DagError: The first problem found (see :func:`dag_errors` for all of them).
    """
    errors = dag_errors(pipeline, file, lines)
    if errors:
        raise errors[0]
    return _make(pipeline)


def dag_errors(
    pipeline: PipelineConfig,
    file: Path | str | None = None,
    lines: Mapping[KeyPath, int] | None = None,
) -> list[DagError]:
    """Every graph problem of ``pipeline``: duplicate names, unknown dependencies, cycles."""
    pos = _Positions(str(file) if file is not None else None, lines or {})
    errors: list[DagError] = []
    first_at: dict[str, int] = {}
    for index, node in enumerate(pipeline.nodes):
        if node.name in first_at:
            errors.append(
                pos.error(
                    f"duplicate node name '{node.name}' in pipeline '{pipeline.pipeline}'",
                    ("nodes", index, "name"),
                    hint=f"node names must be unique; nodes[{first_at[node.name]}] is also '{node.name}'",
                )
            )
        else:
            first_at[node.name] = index
    names = list(first_at)
    for index, node in enumerate(pipeline.nodes):
        for dep_index, dep in enumerate(node.depends_on):
            if dep not in first_at:
                errors.append(
                    pos.error(
                        f"node '{node.name}' depends on unknown node '{dep}'",
                        ("nodes", index, "depends_on", dep_index),
                        hint=did_you_mean(dep, names) or f"known nodes: {', '.join(names)}",
                    )
                )
    if not errors:
        cycle = find_cycle({n.name: n.depends_on for n in pipeline.nodes})
        if cycle:
            errors.append(
                pos.error(
                    f"cycle in pipeline '{pipeline.pipeline}': {' -> '.join(cycle)}",
                    ("nodes", first_at[cycle[0]], "depends_on"),
                    hint="remove one of these depends_on entries",
                )
            )
    return errors


def find_cycle(edges: Mapping[str, Sequence[str]]) -> list[str] | None:
    """A cycle in ``edges`` (name → names it depends on) as a path ``[a, b, a]``, or None.

    Search starts from names in mapping order, so the reported cycle is stable; names not
    in the mapping are ignored (unknown references are reported elsewhere).
    """
    deps = {name: list(dict.fromkeys(targets)) for name, targets in edges.items()}
    state: dict[str, int] = {}  # 1 = on the current path, 2 = finished
    for start in deps:
        if state.get(start):
            continue
        stack: list[tuple[str, int]] = [(start, 0)]
        path: list[str] = [start]
        state[start] = 1
        while stack:
            name, i = stack[-1]
            if i >= len(deps[name]):
                stack.pop()
                path.pop()
                state[name] = 2
                continue
            stack[-1] = (name, i + 1)
            nxt = deps[name][i]
            if nxt not in deps or state.get(nxt) == 2:
                continue
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            state[nxt] = 1
            stack.append((nxt, 0))
            path.append(nxt)
    return None


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


class _Positions:
    def __init__(self, file: str | None, lines: Mapping[KeyPath, int]) -> None:
        self.file = file
        self.lines = lines

    def error(self, message: str, path: KeyPath, *, hint: str | None) -> DagError:
        return DagError(message, file=self.file, line=line_for(self.lines, path), hint=hint)
