"""Turning pydantic validation errors into ``file:line`` errors with hints.

Lifecycle: the project loader calls :func:`validation_errors` when validating a file's data
against a model fails. Guarantees: one :class:`ConfigError` per distinct problem, positioned at
the offending key (or the enclosing mapping when a key is missing), with a hint where one can
be derived (did-you-mean for unknown keys and enum values, the field description for missing
keys). Input values are never echoed (they may be secrets), except a mistyped enum value,
which is only used to find the closest allowed value.
"""

from __future__ import annotations

import re
import types
from collections.abc import Mapping, Sequence
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from odibi_stream.config.yamlpos import KeyPath, line_for
from odibi_stream.core.hints import did_you_mean
from odibi_stream.exceptions import ConfigError

_TYPE_TAGS = frozenset({"str", "int", "float", "bool", "list", "dict", "none", "literal"})


def validation_errors(
    exc: ValidationError,
    model: type[BaseModel],
    file: str,
    lines: Mapping[KeyPath, int],
    data: Any = None,
) -> list[ConfigError]:
    """Convert ``exc`` (raised validating ``data`` against ``model``) into positioned config errors.

    ``data`` (the validated input) lets hints name the keys of models chosen by a sibling key
    (``read.options`` by ``read.format``); without it those hints are left out.
    """
    found: list[ConfigError] = []
    seen: set[KeyPath] = set()
    for err in exc.errors(include_url=False):
        raw = tuple(err["loc"])
        path = clean_loc(raw)
        if path != raw and path in seen:
            continue  # the same union-typed value failing each alternative
        seen.add(path)
        found.append(_convert(err, path, model, file, dict(lines), data))
    return found


def clean_loc(loc: Sequence[str | int]) -> KeyPath:
    """Drop pydantic's union/validator tags (``"str"``, ``"list[str]"``) from an error loc."""
    return tuple(p for p in loc if not (isinstance(p, str) and _is_tag(p)))


def _is_tag(part: str) -> bool:
    return part.lower() in _TYPE_TAGS or bool(re.search(r"[\[\]()]", part))


def dotted(path: Sequence[str | int]) -> str:
    """``("nodes", 2, "read")`` → ``"nodes[2].read"``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def model_at(
    model: type[BaseModel], path: Sequence[str | int], data: Any = None
) -> type[BaseModel] | None:
    """The model class that validates the mapping at ``path`` below ``model`` (None if not a model).

    A model whose field's type depends on its sibling keys says so with a classmethod
    ``field_type(name, data)`` returning the field's type for that mapping's raw ``data``; it
    is asked when ``data`` (the raw input) is given.
    """
    current: Any = model
    for part in path:
        current = _unwrap_model(current)
        here = data if isinstance(data, Mapping) else {}
        data = _child(data, part)
        if isinstance(current, type) and issubclass(current, BaseModel):
            name = field_name(current, str(part))
            if name is None:
                return None
            resolver = getattr(current, "field_type", None)
            if resolver is not None and here:
                current = resolver(name, here)
            else:
                current = current.model_fields[name].annotation
            continue
        args = [a for a in get_args(current) if a is not type(None)]
        origin = get_origin(current)
        if origin in (list, tuple) and args:
            current = args[0]
        elif origin is dict and len(args) == 2:
            current = args[1]
        else:
            return None
    current = _unwrap_model(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def field_name(model: type[BaseModel], key: str) -> str | None:
    """The field of ``model`` that YAML key ``key`` sets (by name or alias)."""
    if key in model.model_fields:
        return key
    return next((n for n, f in model.model_fields.items() if f.alias == key), None)


def keys_of(model: type[BaseModel]) -> list[str]:
    """The YAML keys ``model`` accepts (aliases where set), sorted."""
    return sorted(f.alias or n for n, f in model.model_fields.items())


def _child(data: Any, part: str | int) -> Any:
    if isinstance(data, Mapping):
        return data.get(part)
    if isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
        return data[part]
    return None


def _unwrap_model(tp: Any) -> Any:
    """``X | None`` → ``X``; other unions → the first model alternative, if any."""
    if get_origin(tp) in (Union, types.UnionType):
        options = [a for a in get_args(tp) if a is not type(None)]
        models = [a for a in options if isinstance(a, type) and issubclass(a, BaseModel)]
        if len(options) == 1:
            return options[0]
        return models[0] if models else tp
    return tp


def _where(path: KeyPath) -> str:
    return f" in {dotted(path)}" if path else ""


def _convert(
    err: Any,
    path: KeyPath,
    model: type[BaseModel],
    file: str,
    lines: dict[KeyPath, int],
    data: Any,
) -> ConfigError:
    kind = err["type"]
    line = line_for(lines, path)
    msg = str(err["msg"])
    if kind == "extra_forbidden" and path:
        key, parent = str(path[-1]), path[:-1]
        owner = model_at(model, parent, data)
        fields = keys_of(owner) if owner else []
        if owner is not None and not fields:
            hint: str | None = f"{dotted(parent)} takes no keys"
        else:
            hint = did_you_mean(key, fields) or (
                f"allowed keys: {', '.join(fields)}" if fields else None
            )
        return ConfigError(f"unknown key '{key}'{_where(parent)}", file=file, line=line, hint=hint)
    if kind == "missing" and path:
        key, parent = str(path[-1]), path[:-1]
        owner = model_at(model, parent, data)
        name = field_name(owner, key) if owner else None
        field = owner.model_fields[name] if owner and name else None
        hint = f"'{key}': {field.description}" if field is not None and field.description else None
        return ConfigError(
            f"missing required key '{key}'{_where(parent)}", file=file, line=line, hint=hint
        )
    if kind == "literal_error":
        expected = re.findall(r"'([^']*)'", str((err.get("ctx") or {}).get("expected", "")))
        given = err.get("input")
        hint = did_you_mean(given, expected) if isinstance(given, str) else None
        return ConfigError(f"{dotted(path)}: {msg}", file=file, line=line, hint=hint)
    if kind == "unknown_choice":
        hint = (err.get("ctx") or {}).get("hint")
        return ConfigError(f"{dotted(path)}: {msg}", file=file, line=line, hint=hint)
    if kind == "value_error":
        msg = msg.removeprefix("Value error, ")
    label = dotted(path) or "document"
    return ConfigError(f"{label}: {msg}", file=file, line=line)
