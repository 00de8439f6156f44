"""Reloading a Kafka pipeline 50 times leaks no broker connection and no thread.

Every reload retires the pipeline's worker (which closes its runner: the source's metadata
consumer, the sink's transactional producer) and stops its trigger (which closes the probe's
consumer) before the new config starts. The process is measured as the OS sees it: threads in
``/proc/self/task`` (librdkafka's native threads included) and TCP sockets of this process
connected to the broker's port. The test keeps a reference to every retired runner: CPython
would otherwise free unclosed clients by reference counting and hide a missing ``close``; any
long-lived reference in a real process (a cache, a log record, a traceback) does the same.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from odibi_stream.api import Runtime
from tests.kafka_fixtures import produce_json, write_kafka_project
from tests.unit.service.runtime_projects import wait_for

TopicFactory = Callable[..., str]
RELOADS = 50


def _threads() -> int:
    return len(os.listdir("/proc/self/task"))


def _broker_sockets(port: int) -> int:
    """TCP sockets of this process whose remote port is ``port`` (IPv4, any state but closed)."""
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    with open("/proc/net/tcp") as fh:
        next(fh)
        for line in fh:
            fields = line.split()
            remote_port = int(fields[2].split(":")[1], 16)
            if remote_port == port and fields[9] in inodes and fields[3] != "07":
                count += 1
    return count


def _settled(runtime: Runtime, name: str) -> bool:
    assert runtime.daemon is not None
    try:
        worker = runtime.daemon.streams.worker(name)
    except KeyError:
        return False
    return worker.runner is not None and worker.state == "idle" and worker.batches >= 1


@pytest.mark.timeout(600)
def test_fifty_reloads_hold_no_more_connections_or_threads(
    tmp_path: Path, kafka_bootstrap: str, kafka_topic: TopicFactory
) -> None:
    topic_in, topic_out = kafka_topic(), kafka_topic()
    project = write_kafka_project(tmp_path / "p", kafka_bootstrap, topic_in, out_topic=topic_out)
    pipeline_file = project / "pipelines" / "k2x.yaml"
    original = pipeline_file.read_text()
    port = int(kafka_bootstrap.rsplit(":", 1)[1])
    runtime = Runtime.from_project(project, port=0)
    with runtime.background():
        assert runtime.daemon is not None
        produce_json(kafka_bootstrap, topic_in, 5)
        wait_for(lambda: _settled(runtime, "k2x"), 60, "first load committed a batch")
        wait_for(lambda: _broker_sockets(port) > 0, 30, "clients connected")
        baseline = (_threads(), _broker_sockets(port))
        retired = []
        for i in range(RELOADS):
            retired.append(runtime.daemon.streams.worker("k2x").runner)
            pipeline_file.write_text(original.replace("pipeline: k2x", f"pipeline: k2x\ndescription: v{i}"))
            assert runtime.daemon.reload()
            produce_json(kafka_bootstrap, topic_in, 1, start=100 + i)
            wait_for(lambda: _settled(runtime, "k2x"), 60, f"reload {i} running")
        # Closing is synchronous, but the OS may take a moment to drop finished threads.
        wait_for(lambda: _threads() <= baseline[0] and _broker_sockets(port) <= baseline[1], 30,
                 f"back to {baseline} (threads, broker sockets); now {(_threads(), _broker_sockets(port))}")
        assert len({id(r) for r in retired}) == RELOADS, "every reload built a new runner"
