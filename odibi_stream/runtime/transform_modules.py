"""Importing the modules that hold a project's Python transforms, in one defined order.

The rule (the README documents it):

1. The project folder is put first on ``sys.path``, so the project's own packages import.
2. Plugins: every ``odibi_stream.transforms`` entry point of an installed distribution is
   imported (once per process).
3. The modules listed under ``transforms:`` in ``odibi.yaml`` are imported, in the listed order.
   Their ``@odibi_stream.transform`` functions register as they import; a pipeline names them
   by their registered name.
4. A pipeline may instead name a function by dotted path (``my_pkg.steps.clean``): its module
   is imported when the pipeline is compiled.

Nothing else in the project folder is imported. Modules are imported once per process, like
any import: a changed module is picked up by a restart, not by a reload.

Lifecycle: :func:`odibi_stream.runtime.compile.compile_pipeline` calls
:func:`import_project_transforms` before it resolves any function, so ``validate``, ``run``,
``serve`` and reloads see the same registry. An import that fails is a ``ConfigError`` at the
``transforms:`` entry's line, saying what the module raised and where.
"""

from __future__ import annotations

import importlib
import sys
import threading

from odibi_stream.config.project import PROJECT_FILE_KEY, Project
from odibi_stream.exceptions import ConfigError
from odibi_stream.plugins.transforms import load_plugins
from odibi_stream.runtime.where import project_line, summarise

_lock = threading.Lock()


def project_on_path(project: Project) -> None:
    """Put the project folder first on ``sys.path`` (once)."""
    root = str(project.root)
    with _lock:
        if root not in sys.path:
            sys.path.insert(0, root)


def import_project_transforms(project: Project) -> None:
    """Import plugins, then the project's ``transforms:`` modules in order (see the module).

    Raises:
        ConfigError: a module failed to import (``odibi.yaml:line`` of its entry).
    """
    project_on_path(project)
    load_plugins()
    modules = getattr(project.config, "transforms", None) or []
    for index, name in enumerate(modules):
        if name in sys.modules:
            continue
        try:
            importlib.import_module(name)
        except Exception as exc:  # user code: any error at import is a config problem here
            raise ConfigError(
                f"transforms: module {name!r} failed to import: {summarise(exc)}",
                file=str(project.files.get(PROJECT_FILE_KEY)),
                line=project_line(project, "transforms", index),
                hint=f"the project folder ({project.root}) is on sys.path; check the module name "
                "and run `python -c 'import " + name + "'` there to see the full error",
            ) from exc
