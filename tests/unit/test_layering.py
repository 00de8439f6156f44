"""The layering of DESIGN.md, enforced on the source (AST): imports only point down.

    cli → odibi_stream (public API) → api, testing → server → service → observability → runtime → (triggers, connectors)
      → (engines, checkpoints) → (dag, clients, plugins) → config → core → exceptions

Packages of one rank never import each other (connectors and triggers meet only through
``core.wake``; engines know neither checkpoints nor the runtime). Every import counts —
module level, inside functions and under ``TYPE_CHECKING`` — because a lazy import is still a
dependency. Module-level imports between modules also may not form a cycle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "odibi_stream"

RANK = {
    "exceptions": 0,
    "core": 1,
    "config": 2,
    "dag": 3,
    "clients": 3,
    "plugins": 3,
    "engines": 4,
    "checkpoints": 4,
    "connectors": 5,
    "triggers": 5,
    "runtime": 6,
    "observability": 7,
    "service": 8,
    "server": 9,
    "api": 10,
    "testing": 10,
    "__init__": 11,
    "cli": 12,
}


def _part(module: str) -> str:
    """``odibi_stream.connectors.kafka`` → ``connectors``; the package itself → ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts), path


def _imports(path: Path, module: str, *, top_level_only: bool = False) -> Iterator[str]:
    tree = ast.parse(path.read_text(), str(path))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in nodes:
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                yield f"{base}.{node.module}" if node.module else base
            elif node.module:
                yield node.module


def _ours(name: str) -> bool:
    return name == "odibi_stream" or name.startswith("odibi_stream.")


def test_every_package_has_a_rank() -> None:
    parts = {_part(m) for m, _ in _modules()}
    assert parts <= set(RANK), f"give these packages a rank: {sorted(parts - set(RANK))}"


def test_imports_only_point_down() -> None:
    bad = []
    for module, path in _modules():
        mine = _part(module)
        for target in filter(_ours, _imports(path, module)):
            theirs = _part(target)
            if theirs != mine and RANK.get(theirs, 99) >= RANK[mine]:
                bad.append(f"{module} imports {target} ({mine}:{RANK[mine]} -> {theirs}:{RANK.get(theirs)})")
    assert not bad, "layering violations:\n" + "\n".join(bad)


def test_no_module_level_import_cycles() -> None:
    graph: dict[str, set[str]] = {}
    known = {m for m, _ in _modules()}
    for module, path in _modules():
        deps = set()
        for target in filter(_ours, _imports(path, module, top_level_only=True)):
            # "from odibi_stream.x import y" may name a module y or an attribute of x.
            deps.add(target if target in known else target.rpartition(".")[0])
        graph[module] = {d for d in deps if d in known and d != module}
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                cycle = [*stack[stack.index(dep):], dep]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if not state.get(dep):
                visit(dep, [*stack, dep])
        state[node] = 2

    for module in sorted(graph):
        if not state.get(module):
            visit(module, [module])


def test_no_module_over_400_lines() -> None:
    long = [f"{m} ({n})" for m, p in _modules() if (n := len(p.read_text().splitlines())) > 400]
    assert not long, f"split these modules by concept: {long}"


def test_the_check_catches_an_upward_import(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from odibi_stream.service.daemon import Daemon\n")
    found = list(_imports(probe, "odibi_stream.engines.probe"))
    assert found == ["odibi_stream.service.daemon"]
    assert RANK[_part(found[0])] >= RANK["engines"]
