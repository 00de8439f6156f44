"""A small tmpfs the test mounts, fills and frees: a real full disk, not a simulated one.

Mounting needs ``CAP_SYS_ADMIN`` (root in the CI machine and in the project's containers). Where
it is not available the fixture skips and says why; filling a shared, real filesystem instead
would disturb everything else on the machine.
"""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

CHUNK = 64 * 1024


class SmallDisk:
    """A mounted tmpfs of ``size_kb`` at ``path``; :meth:`fill` and :meth:`free` a ballast file."""

    def __init__(self, path: Path, size_kb: int) -> None:
        self.path = path
        self.size_kb = size_kb
        self.ballast = path / ".ballast"

    def fill(self) -> int:
        """Write the ballast until the disk is full (ENOSPC); returns bytes written."""
        written = 0
        block = b"\0" * CHUNK
        fd = os.open(self.ballast, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            while True:
                try:
                    written += os.write(fd, block)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    if len(block) == 1:
                        return written
                    block = block[: len(block) // 2]  # fill the last pages too
        finally:
            os.close(fd)

    def is_full(self) -> bool:
        st = os.statvfs(self.path)
        return st.f_bavail == 0

    def free(self) -> None:
        self.ballast.unlink(missing_ok=True)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[object]:
    """Factory: ``small_disk("name", size_kb)`` → a mounted :class:`SmallDisk` (unmounted after)."""
    mounted: list[Path] = []

    def make(name: str, size_kb: int = 4096) -> SmallDisk:
        path = tmp_path / name
        path.mkdir()
        proc = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size_kb}k,mode=0755", "tmpfs", str(path)],
            capture_output=True, text=True, check=False,
        )
        if proc.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here (needs CAP_SYS_ADMIN): {proc.stderr.strip()}")
        mounted.append(path)
        return SmallDisk(path, size_kb)

    yield make
    for path in reversed(mounted):
        subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)
