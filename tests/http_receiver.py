"""A local HTTP receiver for tests: records every POST (path, headers, body), answers as told.

Used as an alert webhook (Slack/Teams/generic) and as an OTLP/HTTP collector endpoint.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Received:
    """One request as received."""

    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """Records requests; ``statuses`` are answered in order (then 200 for the rest)."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.requests: list[Received] = []
        self.answered: list[int] = []
        self.arrived = threading.Condition()
        self.gate: threading.Event | None = None
        """When set to an Event, each request waits for it before answering (a slow endpoint)."""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if receiver.gate is not None:
                    receiver.gate.wait(30)
                with receiver.arrived:
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                    receiver.requests.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                    receiver.answered.append(status)
                    receiver.arrived.notify_all()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def wait_for(self, predicate: Callable[[list[Received]], bool], timeout: float = 20.0) -> list[Received]:
        """Block until ``predicate(requests)`` holds (event-driven), else fail the test."""
        with self.arrived:
            if not self.arrived.wait_for(lambda: predicate(self.requests), timeout):
                raise AssertionError(f"receiver got {len(self.requests)} request(s): {self.requests!r}")
            return list(self.requests)


@contextmanager
def receiving(statuses: list[int] | None = None) -> Iterator[Receiver]:
    """A running receiver, shut down afterwards."""
    receiver = Receiver(statuses)
    thread = threading.Thread(target=receiver.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        if receiver.gate is not None:
            receiver.gate.set()
        receiver.server.shutdown()
        receiver.server.server_close()
        thread.join(5)
