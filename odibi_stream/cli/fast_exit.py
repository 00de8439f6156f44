"""Ending the ``odibi-stream`` process without interpreter teardown.

After a command returned, everything it opened is closed: checkpoints are durable, leases are
released, engines are stopped, stories are written. What is left is the interpreter's own
teardown — finalising every module (numpy, pyarrow, DuckDB, pandas...) and freeing the last
batch's buffers one by one — which cost a 1M-row ``run`` 0.1-0.2 s of nothing. So the console
script flushes the logs and both streams and ends the process with :func:`os._exit`.

It does so only when no non-daemon thread is still running (a thread that is not done must be
allowed to finish, so then the normal exit runs), and only for the console script: ``main(argv)``
called from Python (tests, embedding) returns or raises as before.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from contextlib import suppress
from typing import NoReturn


def _code(value: object) -> int:
    """The process exit code ``sys.exit(value)`` would give (printing a message as it would)."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    with suppress(Exception):
        print(value, file=sys.stderr)
    return 1


def finish(value: object) -> NoReturn:
    """End the process with the code of ``sys.exit(value)``, skipping teardown when safe."""
    others = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon]
    if others:
        raise SystemExit(value)  # someone still works: let the interpreter wait for them as usual
    code = _code(value)
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with suppress(Exception):
            stream.flush()
    os._exit(code)
