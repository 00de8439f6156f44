"""Run the Event Hubs test server: ``python -m tests.eventhub_server [--hub NAME:PARTITIONS ...]``.

Prints one JSON line (port, key, connection string, control port) once listening, then serves
until SIGINT/SIGTERM. ``--control`` (used by ``RemoteEventHubServer``) also answers control
calls on a loopback pipe authenticated with the hex key in ``$ODIBI_EVENTHUB_CONTROL_KEY``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from multiprocessing.connection import Listener
from types import FrameType

from tests.eventhub_server.control import AUTHKEY_ENV, serve_control
from tests.eventhub_server.server import EventHubServer


def _hub(text: str) -> tuple[str, int]:
    name, _, partitions = text.partition(":")
    return name, int(partitions or 4)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, start the server, serve until told to stop; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m tests.eventhub_server", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0: a free one)")
    parser.add_argument("--key-name", default="RootManageSharedAccessKey", help="policy name")
    parser.add_argument("--key", default=None, help="policy key (default: random)")
    parser.add_argument("--max-frame-size", type=int, default=65536, help="largest AMQP frame")
    parser.add_argument("--max-message-size", type=int, default=1024 * 1024, help="largest event")
    parser.add_argument("--hub", action="append", type=_hub, default=[], help="NAME[:PARTITIONS]")
    parser.add_argument("--control", action="store_true", help="answer RemoteEventHubServer calls")
    parser.add_argument("--debug", action="store_true", help="log frames and connections")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING, stream=sys.stderr)
    server = EventHubServer(
        port=args.port,
        key_name=args.key_name,
        key=args.key,
        max_frame_size=args.max_frame_size,
        max_message_size=args.max_message_size,
    ).start()
    for name, partitions in args.hub:
        server.create_hub(name, partitions)
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    info = {"port": server.port, "key_name": server.key_name, "key": server.key}
    info["connection_string"] = server.connection_string()
    listener = None
    if args.control:
        authkey = bytes.fromhex(os.environ[AUTHKEY_ENV])
        listener = Listener(("127.0.0.1", 0), authkey=authkey)
        info["control_port"] = listener.address[1]
        control = listener

        def answer_control_calls() -> None:
            serve_control(server, control)
            stop.set()

        threading.Thread(target=answer_control_calls, daemon=True).start()
    print(json.dumps(info), flush=True)
    try:
        stop.wait()
    finally:
        server.stop()
        if listener is not None:
            listener.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
