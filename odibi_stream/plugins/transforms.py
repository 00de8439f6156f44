"""The registry of Python transform functions.

Users register functions with the :func:`transform` decorator (``@odibi_stream.transform`` or
``@odibi_stream.transform("name")``); pipeline YAML refers to them by that name or by a dotted
import path (``pkg.module.func``).

Lifecycle contract:
    * Registration happens at import time of the user's module: a module named by a dotted
      path (imported with the project folder on ``sys.path``), or a module installed by a
      plugin distribution under the ``odibi_stream.transforms`` entry-point group (imported,
      once per process, the first time a name is looked up).
    * The runtime calls :func:`resolve_function` when it builds a pipeline, so an unknown name
      fails at load time, not in the middle of a batch.
    * The registry is process-wide and thread-safe; registering the same name twice replaces
      the earlier function (a reloaded module re-registers its functions).
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from typing import Any, TypeVar, overload

from odibi_stream.core.entry_points import TRANSFORMS_GROUP, discovered, load
from odibi_stream.core.hints import closest, did_you_mean
from odibi_stream.exceptions import TransformError

F = TypeVar("F", bound=Callable[..., Any])

_registry: dict[str, Callable[..., Any]] = {}
_lock = threading.Lock()
_plugins_loaded = False


def load_plugins() -> None:
    """Import every ``odibi_stream.transforms`` entry point once (they register on import).

    Raises:
        ConfigError: a plugin module failed to import.
    """
    global _plugins_loaded
    with _lock:
        if _plugins_loaded:
            return
        _plugins_loaded = True
    for ep in discovered(TRANSFORMS_GROUP):
        load(ep)


def register(name: str, fn: Callable[..., Any]) -> None:
    """Register ``fn`` under ``name`` (replacing an earlier registration of that name)."""
    if not name or not callable(fn):
        raise TransformError(f"cannot register {fn!r} as transform {name!r}")
    with _lock:
        _registry[name] = fn


def registered() -> dict[str, Callable[..., Any]]:
    """A snapshot of the registry: name → function."""
    with _lock:
        return dict(_registry)


@overload
def transform(fn_or_name: F) -> F: ...


@overload
def transform(fn_or_name: str | None = None) -> Callable[[F], F]: ...


def transform(fn_or_name: Callable[..., Any] | str | None = None) -> Any:
    """Register a transform function.

    Usable bare (``@transform`` registers under the function's own name) or with a name
    (``@transform("clean_orders")``). The function is returned unchanged.
    """
    if callable(fn_or_name):
        register(fn_or_name.__name__, fn_or_name)
        return fn_or_name

    def decorator(fn: F) -> F:
        register(fn_or_name or fn.__name__, fn)
        return fn

    return decorator


def _import_dotted(ref: str) -> Callable[..., Any]:
    module_name, _, attr = ref.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise TransformError(
            f"transform {ref!r}: cannot import module {module_name!r}: {exc}",
            hint="check the module path; the project folder is on sys.path",
        ) from exc
    fn = getattr(module, attr, None)
    if fn is None:
        match = closest(attr, [n for n in dir(module) if not n.startswith("_")])
        hint = f"did you mean '{module_name}.{match}'?" if match else f"define {attr} in {module_name}"
        raise TransformError(
            f"transform {ref!r}: module {module_name!r} has no {attr!r}", hint=hint
        )
    if not callable(fn):
        raise TransformError(f"transform {ref!r} is not callable")
    return fn  # type: ignore[no-any-return]


def resolve_function(ref: str) -> Callable[..., Any]:
    """Return the function a pipeline refers to: a registered name, else a dotted import path.

    Raises:
        TransformError: unknown name (with a did-you-mean hint) or failed import.
    """
    load_plugins()
    with _lock:
        fn = _registry.get(ref)
        names = list(_registry)
    if fn is not None:
        return fn
    if "." in ref:
        return _import_dotted(ref)
    hint = did_you_mean(ref, names) or (
        "register it with @odibi_stream.transform in a module listed under 'transforms:' in "
        "odibi.yaml, or use a dotted path 'pkg.module.func'"
    )
    raise TransformError(f"unknown transform {ref!r}", hint=hint)
