"""Environment overlays: ``environments.<env>`` deep-merged over ``odibi.yaml``.

Lifecycle: the project loader calls :func:`apply_overlay` on the raw ``odibi.yaml`` data,
before substitution and validation. Guarantees: inputs are not modified; mappings merge key by
key, any other value (lists included) replaces the base value whole; the returned line map
points every overridden key path at the overlay's line, so errors in overridden values are
reported where the value was written.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from odibi_stream.config.yamlpos import KeyPath

ENVIRONMENTS_KEY = "environments"


def apply_overlay(
    data: Mapping[str, Any], lines: Mapping[KeyPath, int], env: str
) -> tuple[dict[str, Any], dict[KeyPath, int]]:
    """Merge ``data["environments"][env]`` over ``data``.

    Args:
        data: The raw project mapping (must contain the environment; the caller checks).
        lines: Its key path → line map.
        env: The selected environment name.

    Returns:
        The merged data and a line map for it.
    """
    overlay = data[ENVIRONMENTS_KEY][env] or {}
    merged_lines = dict(lines)
    prefix: KeyPath = (ENVIRONMENTS_KEY, env)
    merged = _merge(dict(data), overlay, (), prefix, lines, merged_lines)
    return merged, merged_lines


def _merge(
    base: dict[str, Any],
    over: Mapping[str, Any],
    path: KeyPath,
    prefix: KeyPath,
    source_lines: Mapping[KeyPath, int],
    out_lines: dict[KeyPath, int],
) -> dict[str, Any]:
    result = dict(base)
    for key, value in over.items():
        target = (*path, key)
        if isinstance(value, Mapping) and isinstance(result.get(key), Mapping):
            _copy_lines(source_lines, out_lines, (*prefix, *target), target, subtree=False)
            result[key] = _merge(dict(result[key]), value, target, prefix, source_lines, out_lines)
            continue
        for stale in [p for p in out_lines if p[: len(target)] == target]:
            del out_lines[stale]
        _copy_lines(source_lines, out_lines, (*prefix, *target), target, subtree=True)
        result[key] = value
    return result


def _copy_lines(
    source: Mapping[KeyPath, int],
    out: dict[KeyPath, int],
    src: KeyPath,
    dst: KeyPath,
    *,
    subtree: bool,
) -> None:
    for path, line in source.items():
        if path == src or (subtree and path[: len(src)] == src):
            out[dst + path[len(src) :]] = line
