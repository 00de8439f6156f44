"""Data-quality thresholds: check severities and batch-level expectations.

* ``checks: [{name, expr, severity}]`` — rows failing a check are, by severity: ``warn`` kept
  and counted; ``drop`` removed (to the dead letter when the node's on_error is dead_letter,
  else skipped); ``fail`` the batch fails. Without a severity the node's ``on_error`` applies.
* ``expect: {min_rows, max_null_fraction: {col: f}, max_reject_fraction, severity}`` — measured
  on a node's output after its checks. A ``fail`` breach fails the batch.

Exactly-once: when a pipeline has anything that can fail a batch on quality (an ``expect``,
or a ``severity: fail`` check), the executor computes every node first and writes the sinks
only after :func:`gate` passed — so a breaching batch writes nothing (no sink, no dead letter),
commits nothing, and the pipeline goes to ``failed`` (the error is terminal) with the numbers.
The numbers of every node are recorded in its ``commits/N`` entry (``quality``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from odibi_stream.config.models import CheckConfig, NodeConfig, PipelineConfig
from odibi_stream.engines.base import Engine, Frame
from odibi_stream.engines.merge_sql import Dialect
from odibi_stream.exceptions import ConfigError, ExpectationFailed

log = logging.getLogger("odibi_stream.quality")


def needs_gate(cfg: PipelineConfig) -> bool:
    """True if a batch of this pipeline can fail on quality (sinks then write after the gate)."""
    return any(
        (n.expect is not None and n.expect.severity == "fail") or any(c.severity == "fail" for c in n.checks)
        for n in cfg.nodes
    )


def check_policy(check: CheckConfig, node_policy: str) -> str | None:
    """What happens to a check's failing rows: an on_error policy, or None (kept: ``warn``)."""
    if check.severity is None:
        return node_policy
    if check.severity == "warn":
        return None
    if check.severity == "fail":
        return "fail"
    return "dead_letter" if node_policy == "dead_letter" else "skip"


def measure(engine: Engine, node: NodeConfig, frame: Frame, rows_in: int, rejected: int) -> dict[str, Any]:
    """The node's expectation numbers and breaches (``{}`` without ``expect``).

    Raises:
        ConfigError: ``max_null_fraction`` names a column the node does not output.
    """
    expect = node.expect
    if expect is None:
        return {}
    rows, nulls = _counts(engine, node, frame, list(expect.max_null_fraction))
    seen = max(rows_in, rows + rejected)
    numbers: dict[str, Any] = {"rows": rows, "reject_fraction": round(rejected / seen, 6) if seen else 0.0}
    breaches = []
    if expect.min_rows is not None and rows < expect.min_rows:
        breaches.append(f"rows {rows} < min_rows {expect.min_rows}")
    if expect.max_reject_fraction is not None and numbers["reject_fraction"] > expect.max_reject_fraction:
        breaches.append(
            f"reject fraction {numbers['reject_fraction']:.4f} > {expect.max_reject_fraction} ({rejected} of {seen} rows)"
        )
    fractions = {}
    for column, limit in expect.max_null_fraction.items():
        fraction = round(nulls[column] / rows, 6) if rows else 0.0
        fractions[column] = fraction
        if fraction > limit:
            breaches.append(f"null fraction of '{column}' {fraction:.4f} > {limit} ({nulls[column]} of {rows} rows)")
    if fractions:
        numbers["null_fraction"] = fractions
    return {"expect": numbers, "breaches": breaches, "severity": expect.severity}


def _counts(engine: Engine, node: NodeConfig, frame: Frame, columns: list[str]) -> tuple[int, dict[str, int]]:
    have = engine.columns(frame)
    missing = [c for c in columns if c not in have]
    if missing:
        raise ConfigError(
            f"node '{node.name}': expect.max_null_fraction names column(s) {missing} the node does not output",
            hint=f"its columns are {have}",
        )
    d = Dialect(spark=engine.name == "spark")
    parts = ["count(*) AS n", *(f"count({d.q(c)}) AS c{i}" for i, c in enumerate(columns))]
    row = engine.to_arrow(engine.sql(f"SELECT {', '.join(parts)} FROM node_output", {"node_output": frame}))
    values = row.to_pylist()[0]
    rows = int(values["n"])
    return rows, {c: rows - int(values[f"c{i}"]) for i, c in enumerate(columns)}


def gate(pipeline: str, batch: int, quality: Mapping[str, Mapping[str, Any]]) -> None:
    """Fail the batch if any node breached a ``fail`` expectation; log ``warn`` breaches.

    Raises:
        ExpectationFailed: naming every breaching node with its numbers (terminal).
    """
    failed = []
    for node, q in sorted(quality.items()):
        breaches = q.get("breaches") or []
        if not breaches:
            continue
        text = f"node '{node}': " + "; ".join(breaches)
        if q.get("severity") == "fail":
            failed.append(text)
        else:
            log.warning("pipeline %s batch %d: expectation warning: %s", pipeline, batch, text)
    if failed:
        raise ExpectationFailed(
            f"batch {batch} breaches its expectations, nothing was written: " + " | ".join(failed),
            hint="fix the data or the thresholds, then retry the batch (or drop it: odibi-stream checkpoint skip)",
        )
