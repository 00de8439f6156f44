"""When the process runs out of fds, the accept loop pauses and recovers instead of dying."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.conftest import REPO, cli_env
from tests.unit.server.http_raw import request

SERVER = textwrap.dedent("""
    import os, resource, sys, time
    from odibi_stream.server.app import start_server
    from tests.unit.server.fake_control import FakeDaemon

    resource.setrlimit(resource.RLIMIT_NOFILE, (64, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
    handle = start_server(FakeDaemon(["orders"]), "127.0.0.1", 0, None)
    hog = []
    try:
        while True:
            hog.append(os.open("/dev/null", os.O_RDONLY))
    except OSError:
        pass
    print(handle.port, flush=True)
    sys.stdin.readline()          # the parent connected while no fd was left
    time.sleep(0.5)               # let the accept loop hit EMFILE a few times
    for fd in hog:
        os.close(fd)
    sys.stdin.readline()
    print(handle.stats()["refused"].get("accept", 0), flush=True)
    handle.stop()
""")


def test_the_accept_loop_survives_fd_exhaustion() -> None:
    proc = subprocess.Popen([sys.executable, "-c", SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=cli_env(), cwd=REPO)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        port = int(proc.stdout.readline())
        proc.stdin.write("go\n")
        proc.stdin.flush()
        # queued in the backlog while the server has no fd; answered once fds are back
        status, _, body = request(port, "GET", "/healthz", timeout=10)
        assert (status, body) == (200, b'{"status":"ok"}')
        proc.stdin.write("done\n")
        proc.stdin.flush()
        assert int(proc.stdout.readline()) >= 1, "the accept loop met EMFILE"
        _, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
