"""DAG building, validation, layers and renderings."""

from __future__ import annotations

from typing import Any

import pytest

from odibi_stream.config.graph import dag_errors, find_cycle
from odibi_stream.config.models import PipelineConfig
from odibi_stream.config.yamlpos import parse_yaml
from odibi_stream.dag.graph import build_dag, to_mermaid, to_text
from odibi_stream.exceptions import DagError

_READ = {"connection": "local", "format": "csv", "path": "x/*.csv"}


def _pipeline(*nodes: tuple[str, list[str]]) -> PipelineConfig:
    spec: list[dict[str, Any]] = []
    for name, deps in nodes:
        node: dict[str, Any] = {"name": name, "depends_on": deps}
        if deps:
            node["transform"] = {"sql": "SELECT 1"}
        else:
            node["read"] = _READ
        spec.append(node)
    return PipelineConfig.model_validate({"pipeline": "p", "nodes": spec})


def test_layers_are_topological_and_stable() -> None:
    dag = build_dag(
        _pipeline(
            ("d", ["b", "c"]), ("a", []), ("b", ["a"]), ("c", ["a"]), ("e", []), ("f", ["d", "e"])
        )
    )
    assert dag.layers() == [["a", "e"], ["b", "c"], ["d"], ["f"]]
    assert dag.order() == ["a", "e", "b", "c", "d", "f"]
    assert dag.upstream("d") == ["b", "c"]
    assert dag.downstream("a") == ["b", "c"]
    assert dag.downstream("f") == []
    with pytest.raises(KeyError):
        dag.downstream("zz")


def test_duplicate_dependencies_are_collapsed() -> None:
    dag = build_dag(_pipeline(("a", []), ("b", ["a", "a"])))
    assert dag.upstream("b") == ["a"]


def test_cycle_names_the_path() -> None:
    with pytest.raises(DagError) as info:
        build_dag(
            _pipeline(("src", []), ("a", ["src", "c"]), ("b", ["a"]), ("c", ["b"])), file="p.yaml"
        )
    assert info.value.message == "cycle in pipeline 'p': a -> c -> b -> a"
    assert info.value.file == "p.yaml"


def test_self_dependency_is_a_cycle() -> None:
    with pytest.raises(DagError, match="a -> a"):
        build_dag(_pipeline(("s", []), ("a", ["a", "s"])))


def test_unknown_dependency_with_suggestion() -> None:
    with pytest.raises(DagError) as info:
        build_dag(_pipeline(("orders", []), ("b", ["ordrs"])))
    assert info.value.message == "node 'b' depends on unknown node 'ordrs'"
    assert info.value.hint == "did you mean 'orders'?"


def test_errors_carry_lines_from_the_loader_map() -> None:
    text = (
        "pipeline: p\n"  # 1
        "nodes:\n"  # 2
        "  - name: a\n"  # 3
        "    read: {connection: l, format: csv}\n"  # 4
        "  - name: b\n"  # 5
        "    depends_on:\n"  # 6
        "      - a\n"  # 7
        "      - zz\n"  # 8
        "    transform: {sql: SELECT 1}\n"  # 9
        "  - name: a\n"  # 10
        "    depends_on: [b]\n"  # 11
        "    transform: {sql: SELECT 1}\n"  # 12
    )
    doc = parse_yaml(text, "pipelines/p.yaml")
    errors = dag_errors(PipelineConfig.model_validate(doc.data), "pipelines/p.yaml", doc.lines)
    assert [(e.line, e.message) for e in errors] == [
        (10, "duplicate node name 'a' in pipeline 'p'"),
        (8, "node 'b' depends on unknown node 'zz'"),
    ]
    assert str(errors[1]).startswith("pipelines/p.yaml:8: ")


def test_find_cycle_generic() -> None:
    assert find_cycle({"a": ["b"], "b": ["c"], "c": []}) is None
    assert find_cycle({"a": ["b"], "b": ["a"]}) == ["a", "b", "a"]
    assert find_cycle({"x": ["missing"]}) is None


def test_renderings() -> None:
    dag = build_dag(_pipeline(("raw", []), ("clean", ["raw"])))
    text = to_text(dag)
    assert text.splitlines() == [
        "pipeline p: 2 nodes",
        "  layer 0: raw (read)",
        "  layer 1: clean (transform) <- raw",
    ]
    mermaid = to_mermaid(dag)
    assert mermaid.splitlines()[0] == "flowchart LR"
    assert "  raw --> clean" in mermaid
    assert '  clean["clean<br/>transform"]' in mermaid
