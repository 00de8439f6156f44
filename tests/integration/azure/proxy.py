"""A counting, fault-injecting HTTP proxy in front of Azurite (real requests, real responses).

Clients talk plain HTTP/1.1 to the proxy, which forwards each request to the emulator and relays
the answer. ``drop_next_response(method)`` makes the proxy forward the next such request (so the
emulator applies it) and then close the client connection without answering: the client sees
exactly what a lost response looks like on the wire. ``requests`` counts what went through.
"""

from __future__ import annotations

import http.client
import socket
import threading
from collections import Counter
from urllib.parse import urlparse


class FaultProxy:
    """Proxy for ``upstream`` (a path-style emulator endpoint); ``endpoint`` is the proxy's."""

    def __init__(self, upstream: str) -> None:
        parsed = urlparse(upstream)
        self._host, self._port = parsed.hostname or "127.0.0.1", parsed.port or 80
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.endpoint = f"http://127.0.0.1:{self._sock.getsockname()[1]}{parsed.path}"
        self.requests: Counter[str] = Counter()
        self._drops: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def drop_next_response(self, method: str, times: int = 1) -> None:
        """Apply but do not answer the next ``times`` requests with ``method``."""
        with self._lock:
            self._drops[method] += times

    def reset_counts(self) -> None:
        """Forget the request counts."""
        with self._lock:
            self.requests.clear()

    def close(self) -> None:
        """Stop accepting connections."""
        self._closed = True
        self._sock.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _take_drop(self, method: str) -> bool:
        with self._lock:
            self.requests[method] += 1
            if self._drops[method] > 0:
                self._drops[method] -= 1
                return True
            return False

    def _serve(self, conn: socket.socket) -> None:
        upstream = http.client.HTTPConnection(self._host, self._port, timeout=30)
        rfile = conn.makefile("rb")
        try:
            while True:
                line = rfile.readline()
                if not line.strip():
                    return
                method, target, _ = line.decode("latin-1").split(" ", 2)
                headers: list[tuple[str, str]] = []
                while (h := rfile.readline()) not in (b"\r\n", b"\n", b""):
                    k, v = h.decode("latin-1").split(":", 1)
                    headers.append((k.strip(), v.strip()))
                length = int({k.lower(): v for k, v in headers}.get("content-length", "0"))
                body = rfile.read(length) if length else b""
                upstream.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
                for k, v in headers:
                    upstream.putheader(k, v)
                upstream.endheaders(body or None)
                resp = upstream.getresponse()
                data = resp.read()
                if self._take_drop(method):
                    return  # applied upstream, answer lost
                out = [f"HTTP/1.1 {resp.status} {resp.reason}"]
                # HEAD answers carry the blob's length but no body: keep that header as is.
                skip = ("transfer-encoding", "connection") + (
                    () if method == "HEAD" else ("content-length",)
                )
                out += [f"{k}: {v}" for k, v in resp.getheaders() if k.lower() not in skip]
                if method != "HEAD":
                    out.append(f"Content-Length: {len(data)}")
                conn.sendall(("\r\n".join(out) + "\r\n\r\n").encode("latin-1") + data)
        except (OSError, ValueError, http.client.HTTPException):
            return
        finally:
            rfile.close()
            conn.close()
            upstream.close()
