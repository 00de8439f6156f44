"""Reloading a daemon's project: validate the new one first, then apply only the difference.

Lifecycle contract: the daemon's control thread calls :meth:`Reloader.reload` (on SIGHUP, an
edited project file, or an API request). A project that fails to load or compile changes
nothing: the old pipelines keep running and the error is reported. Otherwise removed pipelines
stop, added ones start, changed ones (by config fingerprint) restart; unchanged ones keep
running untouched. Project-level settings other than pipelines apply on restart.
"""

from __future__ import annotations

import logging
from pathlib import Path

from odibi_stream.core.clock import SYSTEM_CLOCK, Clock
from odibi_stream.exceptions import OdibiError
from odibi_stream.service.control_adapter import DaemonControl
from odibi_stream.service.pipelines import PipelineSet
from odibi_stream.service.project import load, validate

log = logging.getLogger(__name__)


class Reloader:
    """Applies project reloads to a :class:`PipelineSet`.

    Args:
        path: The project folder on disk.
        env: Environment overlay.
        pipelines: The daemon's pipeline set.
        control: Where the last reload error is shown.
        clock: Passed to compilation.
    """

    def __init__(
        self,
        path: Path,
        env: str | None,
        pipelines: PipelineSet,
        control: DaemonControl,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.path = path
        self.env = env
        self.pipelines = pipelines
        self.control = control
        self.clock = clock

    def reload(self) -> bool:
        """Re-validate and apply the project on disk; False (old config kept) on error."""
        try:
            new = load(self.path, self.env)
            validate(new, self.clock)
        except OdibiError as exc:
            self.control.reload_failed(exc)
            log.error("reload failed, keeping the running config: %s", exc)
            return False
        self.control.reload_succeeded()
        old = self.pipelines.fingerprints()
        self.pipelines.set_project(new)
        changed = [n for n in old if n in new.pipelines and new.fingerprint(n) != old[n]]
        for name in [n for n in old if n not in new.pipelines] + changed:
            self.pipelines.retire(name)
        for name in [n for n in new.pipelines if n not in old] + changed:
            self.pipelines.want(name)
        self.pipelines.round()
        log.info("reloaded: %d pipelines (%d changed)", len(new.pipelines), len(changed))
        return True
