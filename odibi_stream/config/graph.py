"""Validation of a pipeline's node graph and of cross-pipeline ``after`` chains.

Pure checks over config models, used by the project loader (which reports every problem with
its ``file:line``) and by :func:`odibi_stream.dag.graph.build_dag`. They live in ``config``
because validation is config's job; ``dag`` builds the runtime graph from a validated config.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from odibi_stream.config.models import PipelineConfig
from odibi_stream.config.yamlpos import KeyPath, line_for
from odibi_stream.core.hints import did_you_mean
from odibi_stream.exceptions import DagError


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


class _Positions:
    def __init__(self, file: str | None, lines: Mapping[KeyPath, int]) -> None:
        self.file = file
        self.lines = lines

    def error(self, message: str, path: KeyPath, *, hint: str | None) -> DagError:
        return DagError(message, file=self.file, line=line_for(self.lines, path), hint=hint)
