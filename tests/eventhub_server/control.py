"""The test server in a child process (its own interpreter and GIL), controlled over a pipe.

:class:`RemoteEventHubServer` has the :class:`~tests.eventhub_server.server.EventHubServer`
control API; each call is sent over an authenticated ``multiprocessing.connection`` on the
loopback interface to ``python -m tests.eventhub_server --control``, which runs it on the real
server and sends back the result. Use it where the server must not share a process with the
code under measurement (benchmarks) or must outlive a process the test kills.
"""

from __future__ import annotations

import json
import os
import resource
import secrets
import select
import subprocess
import sys
import threading
from collections.abc import Iterable, Mapping, Sequence
from multiprocessing.connection import Client, Connection, Listener
from pathlib import Path
from typing import Any

from tests.eventhub_server.amqp_message import StoredEvent
from tests.eventhub_server.errors import SERVER_BUSY
from tests.eventhub_server.faults import Operation
from tests.eventhub_server.server import EventHubServer, format_connection_string
from tests.eventhub_server.store import PartitionProperties

REPO = Path(__file__).resolve().parents[2]
AUTHKEY_ENV = "ODIBI_EVENTHUB_CONTROL_KEY"
REMOTE_METHODS = frozenset(
    {
        "create_hub",
        "trim",
        "inject_error",
        "publish",
        "partition_properties",
        "add_partitions",
        "events",
        "attached_receivers",
        "add_policy",
        "register_bearer_token",
        "start",
        "stop",
    }
)


class RemoteError(RuntimeError):
    """A control call failed in the server process (the message names the original error)."""


def serve_control(server: EventHubServer, listener: Listener) -> None:
    """Answer control calls until a ``shutdown`` call (runs in the child process)."""
    while True:
        with listener.accept() as conn:
            if _serve_client(server, conn):
                return


def _serve_client(server: EventHubServer, conn: Connection) -> bool:
    while True:
        try:
            method, args, kwargs = conn.recv()
        except EOFError:
            return False
        if method == "shutdown":
            conn.send(("ok", None))
            return True
        try:
            if method == "cpu_seconds":
                usage = resource.getrusage(resource.RUSAGE_SELF)
                result: Any = usage.ru_utime + usage.ru_stime
            elif method in REMOTE_METHODS:
                result = getattr(server, method)(*args, **kwargs)
                if isinstance(result, EventHubServer):
                    result = None
            else:
                raise ValueError(f"unknown control call {method!r}")
            conn.send(("ok", result))
        except Exception as exc:  # reported to the caller, who raises RemoteError
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


class RemoteEventHubServer:
    """An :class:`EventHubServer` in a child process, with the same control methods.

    Args:
        startup_timeout: seconds to wait for the child to report its ports.
        **options: ``EventHubServer`` keyword arguments (port, key_name, key, max_frame_size,
            max_message_size).
    """

    is_live = False

    def __init__(self, *, startup_timeout: float = 60.0, **options: Any) -> None:
        self._options = options
        self._timeout = startup_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None
        self._lock = threading.Lock()
        self.port = 0
        self.key_name = ""
        self.key = ""
        self.pid = 0

    def start(self) -> RemoteEventHubServer:
        """Spawn the child on the first call; later calls restart its listener (same port)."""
        if self._proc is None:
            self._spawn()
        else:
            self._call("start")
        return self

    def _spawn(self) -> None:
        authkey = secrets.token_bytes(32)
        cmd = [sys.executable, "-m", "tests.eventhub_server", "--control"]
        for name, value in self._options.items():
            cmd += [f"--{name.replace('_', '-')}", str(value)]
        env = dict(os.environ)
        env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
        env[AUTHKEY_ENV] = authkey.hex()
        self._proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, env=env, cwd=REPO)
        assert self._proc.stdout is not None
        ready, _, _ = select.select([self._proc.stdout], [], [], self._timeout)
        line = self._proc.stdout.readline() if ready else b""
        if not line:
            self._proc.kill()
            self._proc.wait()
            raise RuntimeError(f"the event hubs test server did not start within {self._timeout}s")
        info = json.loads(line)
        self.port, self.key_name, self.key, self.pid = info["port"], info["key_name"], info["key"], self._proc.pid
        self._conn = Client(("127.0.0.1", info["control_port"]), authkey=authkey)

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        if self._conn is None:
            raise RuntimeError("the server process is not running; call start() first")
        with self._lock:
            self._conn.send((method, args, kwargs))
            status, result = self._conn.recv()
        if status != "ok":
            raise RemoteError(result)
        return result

    def stop(self) -> None:
        """Stop listening and drop every connection (the process and its data stay)."""
        self._call("stop")

    def close(self) -> None:
        """Shut the child process down."""
        if self._proc is None:
            return
        try:
            self._call("shutdown")
        except (OSError, EOFError, RemoteError):
            self._proc.terminate()
        finally:
            if self._conn is not None:
                self._conn.close()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            if self._proc.stdout is not None:
                self._proc.stdout.close()
            self._proc = self._conn = None

    def __enter__(self) -> RemoteEventHubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def connection_string(
        self, hub: str | None = None, *, key: str | None = None, key_name: str | None = None
    ) -> str:
        """See :meth:`EventHubServer.connection_string`."""
        return format_connection_string(self.port, key_name or self.key_name, key or self.key, hub)

    def create_hub(self, name: str, partitions: int = 4, *, consumer_groups: Sequence[str] = ()) -> str:
        """See :meth:`EventHubServer.create_hub`."""
        return str(self._call("create_hub", name, partitions, consumer_groups=tuple(consumer_groups)))

    def trim(self, hub: str, partition: str, before_seq: int) -> int:
        """See :meth:`EventHubServer.trim`."""
        return int(self._call("trim", hub, partition, before_seq))

    def inject_error(
        self,
        hub: str,
        operation: Operation,
        *,
        partition: str | None = None,
        condition: str = SERVER_BUSY,
        description: str | None = None,
        status: int = 503,
        count: int = 1,
    ) -> None:
        """See :meth:`EventHubServer.inject_error`."""
        self._call(
            "inject_error",
            hub,
            operation,
            partition=partition,
            condition=condition,
            description=description,
            status=status,
            count=count,
        )

    def publish(
        self,
        hub: str,
        bodies: Iterable[bytes | str],
        *,
        partition: str | None = None,
        partition_key: str | None = None,
        properties: Mapping[str, Any] | None = None,
    ) -> list[tuple[str, int]]:
        """See :meth:`EventHubServer.publish` (bodies are sent to the child in one message)."""
        return list(
            self._call(
                "publish",
                hub,
                list(bodies),
                partition=partition,
                partition_key=partition_key,
                properties=dict(properties) if properties else None,
            )
        )

    def add_partitions(self, hub: str, total: int) -> None:
        """See :meth:`EventHubServer.add_partitions`."""
        self._call("add_partitions", hub, total)

    def events(self, hub: str, partition: str) -> list[StoredEvent]:
        """See :meth:`EventHubServer.events`."""
        return list(self._call("events", hub, partition))

    def partition_properties(self, hub: str, partition: str) -> PartitionProperties:
        """See :meth:`EventHubServer.partition_properties`."""
        result: PartitionProperties = self._call("partition_properties", hub, partition)
        return result

    def attached_receivers(self, hub: str, partition: str, consumer_group: str = "$Default") -> int:
        """See :meth:`EventHubServer.attached_receivers`."""
        return int(self._call("attached_receivers", hub, partition, consumer_group))

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the server process has used so far."""
        return float(self._call("cpu_seconds"))
