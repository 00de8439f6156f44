"""StreamManager + ScheduleManager driving real runners on real files and Delta tables."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from odibi_stream.checkpoints.manager import CheckpointManager
from odibi_stream.config.loader import load_project
from odibi_stream.config.models import PipelineConfig
from odibi_stream.engines import get_engine
from odibi_stream.exceptions import ConnectorError, TransformError
from odibi_stream.runtime.runner import PipelineRunner
from odibi_stream.runtime.schedule_manager import ScheduleManager
from odibi_stream.runtime.stream_manager import StreamManager, backoff_delay
from odibi_stream.triggers.base import REASON_TICK
from tests.unit.runtime.runtime_projects import ProjectBuilder, wait_for


@pytest.fixture
def project(tmp_path: Path) -> ProjectBuilder:
    return ProjectBuilder(tmp_path / "proj")


class Stack:
    """A StreamManager + ScheduleManager over a project folder, without leases or HTTP."""

    def __init__(self, builder: ProjectBuilder, slots: int = 4) -> None:
        self.project = load_project(builder.root)
        self.checkpoints = CheckpointManager.open(self.project.checkpoint)
        self.engine = get_engine("pandas")
        self.streams = StreamManager(slots)
        self.schedules = ScheduleManager(self.checkpoints.store, self.streams)
        self.schedules.start()

    def add(self, name: str) -> PipelineRunner:
        holder: dict[str, PipelineRunner] = {}

        def factory(stop: threading.Event) -> PipelineRunner:
            holder["r"] = PipelineRunner(self.project, name, engine=self.engine,
                                         checkpoints=self.checkpoints, stop=stop)
            return holder["r"]

        kind = self.project.pipelines[name].trigger.kind
        self.streams.add(factory, initial_wake=kind == "file_watch")
        self.schedules.add(self.project.pipelines[name], holder["r"].watch_paths())
        return holder["r"]

    def close(self) -> None:
        self.schedules.stop()
        assert self.streams.drain(30)


@pytest.fixture
def stack_of(project: ProjectBuilder) -> Iterator[Any]:
    stacks: list[Stack] = []

    def make() -> Stack:
        stacks.append(Stack(project))
        return stacks[-1]

    yield make
    for s in stacks:
        s.close()


def test_burst_of_1000_files_commits_all_in_few_batches(project: ProjectBuilder, stack_of: Any) -> None:
    project.pipeline("burst")
    stack = stack_of()
    stack.add("burst")
    for i in range(1000):
        project.drop("burst", f"f{i:04d}.csv", [i])
    wait_for(lambda: len(project.ids("burst")) == 1000, 60, "1000 rows in Delta")
    worker = stack.streams.worker("burst")
    assert project.ids("burst") == list(range(1000))
    assert project.commits("burst") < 100, "a burst must not become one batch per file"
    assert worker.wakeups < 100
    assert worker.state in ("idle", "running")


def test_failing_pipeline_is_isolated(project: ProjectBuilder, stack_of: Any) -> None:
    project.pipeline("good")
    project.pipeline("bad", function="boom", attempts=2)
    stack = stack_of()
    stack.add("good")
    stack.add("bad")
    project.drop("bad", "b1.csv", [1])
    wait_for(lambda: stack.streams.worker("bad").state == "failed", 20, "bad -> failed")
    assert "boom" in (stack.streams.worker("bad").last_error or "")
    for i in range(3):
        project.drop("good", f"g{i}.csv", [i])
        wait_for(lambda i=i: len(project.ids("good")) == i + 1, 20, "good keeps committing")
    # a failed pipeline ignores wake-ups until resumed
    project.drop("bad", "b2.csv", [2])
    stack.streams.wake("bad", REASON_TICK)
    assert stack.streams.worker("bad").state == "failed"
    assert project.ids("bad") == []


def test_pause_resume_and_forced_trigger(project: ProjectBuilder, stack_of: Any) -> None:
    project.pipeline("m", trigger="{manual: {}}")
    stack = stack_of()
    stack.add("m")
    project.drop("m", "a.csv", [1, 2])
    stack.streams.wake("m", REASON_TICK)
    wait_for(lambda: project.ids("m") == [1, 2], 20, "manual trigger runs")
    stack.streams.pause("m")
    project.drop("m", "b.csv", [3])
    stack.streams.wake("m", REASON_TICK)
    wait_for(lambda: stack.streams.worker("m").wakeups >= 2, 5, "wake recorded")
    assert stack.streams.worker("m").state == "paused"
    assert project.ids("m") == [1, 2]
    stack.streams.resume("m")
    wait_for(lambda: project.ids("m") == [1, 2, 3], 20, "resume runs the waiting data")


def test_after_trigger_runs_downstream_on_commit(project: ProjectBuilder, stack_of: Any) -> None:
    project.pipeline("up")
    project.pipeline("down", trigger="{after: up}")
    stack = stack_of()
    stack.add("down")
    stack.add("up")
    project.drop("down", "d.csv", [7])  # data for down, but only an upstream commit wakes it
    project.drop("up", "u.csv", [1])
    wait_for(lambda: project.ids("down") == [7], 20, "downstream ran after upstream commit")


class ScriptedRunner:
    """A BatchRunner whose outcomes are scripted: exceptions to raise, then successes."""

    def __init__(self, name: str, failures: list[BaseException], max_attempts: int = 5) -> None:
        self.name = name
        self.config = PipelineConfig.model_validate({
            "pipeline": name, "max_attempts": max_attempts,
            "nodes": [{"name": "n", "read": {"connection": "c", "format": "csv", "path": "x"}}],
        })
        self.failures = list(failures)
        self.calls: list[float] = []
        self.running = 0
        self.max_running = 0
        self.lock = threading.Lock()

    def run_batch(self, *, force: bool = False) -> Any:
        with self.lock:
            self.calls.append(time.monotonic())
            self.running += 1
            self.max_running = max(self.max_running, self.running)
        try:
            if self.failures:
                raise self.failures.pop(0)
            time.sleep(0.05)  # the batch's work
            return {"batch": len(self.calls)} if force else None
        finally:
            with self.lock:
                self.running -= 1

    def has_new_data(self) -> bool:
        return False

    def status(self) -> dict[str, Any]:
        return {"lag": {}, "watermarks": {}}


def test_retryable_errors_back_off_then_succeed() -> None:
    streams = StreamManager(2)
    runner = ScriptedRunner("r", [ConnectorError("broker down"), ConnectorError("broker down")])
    worker = streams.add(lambda stop: runner)
    streams.wake("r", REASON_TICK)
    # 3 attempts of the forced batch, then one "caught up?" plan
    wait_for(lambda: worker.batches == 1 and len(runner.calls) == 4 and worker.state == "idle", 10, "retries")
    gaps = [runner.calls[1] - runner.calls[0], runner.calls[2] - runner.calls[1]]
    assert gaps[0] >= 0.2 and gaps[1] >= 0.45  # 0.5 s * 2^k with jitter in [0.5, 1]
    assert worker.last_error is None and not worker.degraded
    assert streams.drain(5)


def test_retryable_errors_outlast_max_attempts_and_resume_by_themselves() -> None:
    streams = StreamManager(2)
    runner = ScriptedRunner("r", [ConnectorError("down")] * 3, max_attempts=2)
    worker = streams.add(lambda stop: runner)
    streams.wake("r", REASON_TICK)
    wait_for(lambda: len(runner.calls) >= 2 and worker.degraded, 10, "retrying, degraded")
    assert worker.state != "failed"
    wait_for(lambda: worker.batches == 1 and not worker.degraded, 20, "the outage ended: the batch committed")
    assert len(runner.calls) >= 4
    assert streams.drain(5)


def test_unknown_errors_fail_after_max_attempts_and_resume_clears() -> None:
    streams = StreamManager(2)
    runner = ScriptedRunner("r", [ValueError("bug?")] * 2, max_attempts=2)
    worker = streams.add(lambda stop: runner)
    streams.wake("r", REASON_TICK)
    wait_for(lambda: worker.state == "failed", 10, "failed after 2 attempts")
    assert len(runner.calls) == 2
    streams.resume("r")
    streams.wake("r", REASON_TICK)
    wait_for(lambda: worker.batches == 1, 10, "runs again after resume")
    assert streams.drain(5)


def test_terminal_error_fails_at_once() -> None:
    streams = StreamManager(2)
    runner = ScriptedRunner("r", [TransformError("bad SQL")], max_attempts=5)
    worker = streams.add(lambda stop: runner)
    streams.wake("r", REASON_TICK)
    wait_for(lambda: worker.state == "failed", 10, "terminal -> failed")
    assert len(runner.calls) == 1
    assert streams.drain(5)


def test_semaphore_caps_concurrent_batches_across_pipelines() -> None:
    streams = StreamManager(2)
    runners = [ScriptedRunner(f"p{i}", []) for i in range(6)]
    shared = threading.Lock()
    state = {"now": 0, "max": 0}

    def counting(r: ScriptedRunner) -> ScriptedRunner:
        inner = r.run_batch

        def run_batch(*, force: bool = False) -> Any:
            with shared:
                state["now"] += 1
                state["max"] = max(state["max"], state["now"])
            try:
                return inner(force=force)
            finally:
                with shared:
                    state["now"] -= 1

        r.run_batch = run_batch  # type: ignore[method-assign]
        return r

    workers = [streams.add(lambda stop, r=r: counting(r)) for r in runners]
    for _ in range(3):
        for r in runners:
            streams.wake(r.name, "catch_up")
    wait_for(lambda: all(w.batches == 3 for w in workers), 20, "all catch-up batches ran")
    assert state["max"] == 2
    assert streams.drain(5)


def test_backoff_is_bounded() -> None:
    assert all(0.25 <= backoff_delay(1) <= 0.5 for _ in range(50))
    assert all(15 <= backoff_delay(30) <= 30 for _ in range(50))


def test_reconciliation_picks_up_a_file_whose_event_was_missed(project: ProjectBuilder) -> None:
    project.pipeline("late", trigger="{file_watch: {debounce_ms: 5, reconcile_seconds: 0.3}}")
    project.drop("late", "early.csv", [1])  # landed before anything watched
    stack = Stack(project)
    try:
        holder: dict[str, PipelineRunner] = {}

        def factory(stop: threading.Event) -> PipelineRunner:
            holder["r"] = PipelineRunner(stack.project, "late", engine=stack.engine,
                                         checkpoints=stack.checkpoints, stop=stop)
            return holder["r"]

        stack.streams.add(factory, initial_wake=False)  # no start-up wake: only reconciliation
        trigger = stack.schedules.add(stack.project.pipelines["late"], holder["r"].watch_paths())
        wait_for(lambda: project.ids("late") == [1], 10, "reconciled file committed")
        assert trigger.events == 0  # type: ignore[attr-defined]
    finally:
        stack.close()


def test_batch_planned_under_an_old_epoch_cannot_commit(project: ProjectBuilder) -> None:
    from odibi_stream.checkpoints.lease import Lease
    from odibi_stream.exceptions import LeaseLost

    project.pipeline("fenced", function="slow", params="{seconds: 1.0}")
    proj = load_project(project.root)
    checkpoints = CheckpointManager.open(proj.checkpoint)
    old = Lease(checkpoints.store, "fenced", "old-owner", ttl_seconds=0.5)
    assert old.try_acquire()
    runner = PipelineRunner(proj, "fenced", engine=get_engine("pandas"), checkpoints=checkpoints, fence=old)
    project.drop("fenced", "a.csv", [1])
    new = Lease(checkpoints.store, "fenced", "new-owner", ttl_seconds=30)
    taker = threading.Thread(target=lambda: wait_for(new.try_acquire, 10, "takeover"))
    taker.start()  # takes over while the old owner's batch sleeps in its transform
    with pytest.raises(LeaseLost):
        runner.run_batch()
    taker.join()
    assert new.epoch == old.epoch + 1
    assert project.commits("fenced") == 0
    fresh = PipelineRunner(proj, "fenced", engine=get_engine("pandas"), checkpoints=checkpoints, fence=new)
    result = fresh.run_batch()
    assert result is not None and result.replayed
    assert project.ids("fenced") == [1]
