"""The raw SDK ceiling on the Event Hubs test server: a sync ``receive_batch`` loop.

Usage: ``python benchmarks/eventhub_raw_receive.py [--events 300000] [--partitions 4]
[--seed publish|sdk] [--decode none|json]``.

Starts the wire-level test server (tests/eventhub_server) in its own process, loads N small
JSON events spread over the partitions (``publish``: straight into the server's store;
``sdk``: through ``EventHubProducerClient`` batches, which also times ingest), then measures
one ``EventHubConsumerClient.receive_batch`` over all partitions from the start until every
event arrived. Reports events/s plus the CPU seconds of each side, so it is visible which
side is the bottleneck (the server must not be: the pipeline benchmark compares against
this loop). :func:`raw_receive_rate` is reusable by other benchmarks.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from azure.eventhub import EventData, EventHubConsumerClient, EventHubProducerClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.eventhub_server.control import RemoteEventHubServer


def event_body(i: int) -> bytes:
    """The benchmark's small JSON event (the shape the Kafka benchmark uses)."""
    return b'{"id":%d,"user":"u%d","amount":%d.5,"kind":"click"}' % (i, i % 1000, i % 97)


def cpu_seconds() -> float:
    """CPU time of this process (all threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def seed_publish(server: RemoteEventHubServer, hub: str, n: int, partitions: int) -> None:
    """Load events straight into the server's partitions (round robin by index)."""
    for p in range(partitions):
        server.publish(hub, [event_body(i) for i in range(p, n, partitions)], partition=str(p))


def seed_sdk(conn: str, n: int, partitions: int) -> None:
    """Send events through the SDK producer, in full batches per partition."""
    with EventHubProducerClient.from_connection_string(conn) as producer:
        for p in range(partitions):
            batch = producer.create_batch(partition_id=str(p))
            for i in range(p, n, partitions):
                try:
                    batch.add(EventData(event_body(i)))
                except ValueError:
                    producer.send_batch(batch)
                    batch = producer.create_batch(partition_id=str(p))
                    batch.add(EventData(event_body(i)))
            producer.send_batch(batch)


def raw_receive_rate(
    conn: str, n: int, *, decode: Callable[[EventData], Any] | None = None, timeout: float = 900
) -> tuple[float, float]:
    """(events/s, client CPU seconds) of one sync ``receive_batch`` reading ``n`` events."""
    client = EventHubConsumerClient.from_connection_string(conn, "$Default")
    seen = 0
    done = threading.Event()
    lock = threading.Lock()

    def on_batch(_ctx: Any, batch: list[EventData]) -> None:
        nonlocal seen
        if decode is not None:
            for event in batch:
                decode(event)
        with lock:
            seen += len(batch)
            if seen >= n:
                done.set()

    cpu0 = cpu_seconds()
    started = time.perf_counter()
    worker = threading.Thread(
        target=client.receive_batch,
        kwargs={"on_event_batch": on_batch, "starting_position": "-1", "max_batch_size": 300, "max_wait_time": 5},
        daemon=True,
    )
    worker.start()
    if not done.wait(timeout):
        raise TimeoutError(f"only {seen} of {n} events within {timeout}s")
    elapsed = time.perf_counter() - started
    cpu = cpu_seconds() - cpu0
    client.close()
    worker.join(30)
    return n / elapsed, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--seed", choices=["publish", "sdk"], default="publish")
    parser.add_argument("--decode", choices=["none", "json"], default="none")
    args = parser.parse_args()
    decode = (lambda e: json.loads(e.body_as_str())) if args.decode == "json" else None
    with RemoteEventHubServer() as server:
        hub = server.create_hub("bench", args.partitions)
        conn = server.connection_string(hub)
        t0 = time.perf_counter()
        server_cpu0 = server.cpu_seconds()
        if args.seed == "sdk":
            seed_sdk(conn, args.events, args.partitions)
        else:
            seed_publish(server, hub, args.events, args.partitions)
        seeded = time.perf_counter() - t0
        print(
            f"seeded {args.events:,} events over {args.partitions} partitions via {args.seed} in {seeded:.1f}s "
            f"({args.events / seeded:,.0f} events/s; server CPU {server.cpu_seconds() - server_cpu0:.1f}s)"
        )
        server_cpu0 = server.cpu_seconds()
        rate, client_cpu = raw_receive_rate(conn, args.events, decode=decode)
        server_cpu = server.cpu_seconds() - server_cpu0
    per_event = 1e6 / args.events
    print(f"raw SDK receive_batch (sync, decode={args.decode}): {rate:,.0f} events/s")
    print(
        f"CPU: SDK client {client_cpu:.1f}s ({client_cpu * per_event:.1f} us/event), "
        f"server {server_cpu:.1f}s ({server_cpu * per_event:.1f} us/event)"
    )


if __name__ == "__main__":
    main()
