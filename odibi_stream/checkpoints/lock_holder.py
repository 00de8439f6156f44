"""Who holds a ``flock``: the pid from ``/proc/locks`` (Linux), for error messages.

Best effort and read-only: anywhere ``/proc/locks`` is missing or unreadable the answer is
None and the caller says "another process".
"""

from __future__ import annotations

import os
from pathlib import Path

PROC_LOCKS = Path("/proc/locks")


def flock_holder(fd: int, proc_locks: Path = PROC_LOCKS) -> int | None:
    """The pid of a process holding a FLOCK on the file open as ``fd`` (not us), if known."""
    try:
        st = os.fstat(fd)
        text = proc_locks.read_text()
    except OSError:
        return None
    ident = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    me = os.getpid()
    for line in text.splitlines():
        fields = line.split()
        # "1: FLOCK  ADVISORY  WRITE 16737 fe:00:9979284 0 EOF" (blocked waiters have "->")
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5] == ident:
            try:
                pid = int(fields[4])
            except ValueError:
                continue
            if pid != me:
                return pid
    return None
