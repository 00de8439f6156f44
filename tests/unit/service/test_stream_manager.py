"""StreamManager + ScheduleManager driving real runners on real files and Delta tables."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from odibi_stream.checkpoints.manager import CheckpointManager
from odibi_stream.config.loader import load_project
from odibi_stream.core.clock import ManualClock
from odibi_stream.core.wake import WakeReason
from odibi_stream.engines import get_engine
from odibi_stream.exceptions import BatchFailed, ConnectorError, LeaseLost, TransformError
from odibi_stream.runtime.compile import compile_pipeline
from odibi_stream.runtime.runner import PipelineRunner
from odibi_stream.service.schedule_manager import ScheduleManager
from odibi_stream.service.stream_manager import StreamManager
from odibi_stream.service.worker import backoff_delay
from tests.unit.service.runtime_projects import ProjectBuilder, wait_for


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

    def add(self, name: str, *, initial_wake: bool | None = None) -> Any:
        compiled = compile_pipeline(self.project, name)

        def factory(stop: threading.Event) -> PipelineRunner:
            return PipelineRunner(compiled, engine=self.engine, checkpoints=self.checkpoints, stop=stop)

        kind = compiled.config.trigger.kind
        wake = kind == "file_watch" if initial_wake is None else initial_wake
        self.streams.add(name, factory, max_attempts=compiled.config.max_attempts, initial_wake=wake)
        return self.schedules.add(compiled.config, compiled.watches())

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
    stack.streams.wake("bad", WakeReason.TICK)
    assert stack.streams.worker("bad").state == "failed"
    assert project.ids("bad") == []


def test_pause_resume_and_forced_trigger(project: ProjectBuilder, stack_of: Any) -> None:
    project.pipeline("m", trigger="{manual: {}}")
    stack = stack_of()
    stack.add("m")
    project.drop("m", "a.csv", [1, 2])
    stack.streams.wake("m", WakeReason.TICK)
    wait_for(lambda: project.ids("m") == [1, 2], 20, "manual trigger runs")
    stack.streams.pause("m")
    project.drop("m", "b.csv", [3])
    stack.streams.wake("m", WakeReason.TICK)
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

    def __init__(self, name: str, failures: list[BaseException], work: threading.Event | None = None) -> None:
        self.name = name
        self.failures = list(failures)
        self.calls = 0
        self.closed = False
        self.work = work
        self.lock = threading.Lock()

    def run_batch(self, *, force: bool = False) -> Any:
        with self.lock:
            self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        if self.work is not None:
            assert self.work.wait(10), "the test never released the batch"
        return {"batch": self.calls} if force else None

    def has_new_data(self) -> bool:
        return False

    def status(self) -> dict[str, Any]:
        return {"lag": {}, "watermarks": {}}

    def close(self) -> None:
        self.closed = True


def _scripted(failures: list[BaseException], max_attempts: int = 5) -> tuple[StreamManager, ScriptedRunner, Any, ManualClock]:
    clock = ManualClock()
    streams = StreamManager(2, clock=clock)
    runner = ScriptedRunner("r", failures)
    worker = streams.add("r", lambda stop: runner, max_attempts=max_attempts)
    streams.wake("r", WakeReason.TICK)
    return streams, runner, worker, clock


def _next_backoff(clock: ManualClock, attempt: int) -> float:
    """The worker's requested wait after failed ``attempt`` (it blocks on the manual clock)."""
    wait_for(lambda: len(clock.requested) >= attempt and clock.waiters == 1, 10, f"backoff {attempt}")
    return clock.requested[attempt - 1]


def test_retryable_errors_back_off_then_succeed() -> None:
    streams, runner, worker, clock = _scripted([ConnectorError("broker down"), ConnectorError("broker down")])
    first = _next_backoff(clock, 1)
    assert 0.25 <= first <= 0.5 and runner.calls == 1 and worker.degraded
    clock.advance(first)
    second = _next_backoff(clock, 2)
    assert 0.5 <= second <= 1.0 and runner.calls == 2  # 0.5 s * 2^k with jitter in [0.5, 1]
    clock.advance(second)
    # the 3rd attempt of the forced batch commits, then one "caught up?" plan
    wait_for(lambda: worker.batches == 1 and runner.calls == 4 and worker.state == "idle", 10, "committed")
    assert worker.last_error is None and not worker.degraded
    assert streams.drain(5) and runner.closed


def test_retryable_errors_outlast_max_attempts_and_resume_by_themselves() -> None:
    streams, runner, worker, clock = _scripted([ConnectorError("down")] * 3, max_attempts=2)
    for attempt in (1, 2, 3):
        clock.advance(_next_backoff(clock, attempt))
        assert worker.state != "failed"
    wait_for(lambda: worker.batches == 1 and not worker.degraded, 20, "the outage ended: the batch committed")
    assert runner.calls >= 4
    assert streams.drain(5)


def test_unknown_errors_fail_after_max_attempts_and_resume_clears() -> None:
    streams, runner, worker, clock = _scripted([ValueError("bug?")] * 2, max_attempts=2)
    clock.advance(_next_backoff(clock, 1))
    wait_for(lambda: worker.state == "failed", 10, "failed after 2 attempts")
    assert runner.calls == 2
    streams.resume("r")
    streams.wake("r", WakeReason.TICK)
    wait_for(lambda: worker.batches == 1, 10, "runs again after resume")
    assert streams.drain(5)


def test_terminal_error_wrapped_by_a_step_fails_at_once() -> None:
    failure = BatchFailed("r", 3, "execute", TransformError("bad SQL"), node="clean", where="p.yaml:7")
    streams, runner, worker, clock = _scripted([failure], max_attempts=5)
    wait_for(lambda: worker.state == "failed", 10, "terminal -> failed")
    assert runner.calls == 1 and clock.requested == []
    assert worker.last_error == "TransformError: pipeline r batch 3 step execute node clean (p.yaml:7): bad SQL"
    assert streams.drain(5)


def test_lease_loss_inside_a_step_hands_the_pipeline_back() -> None:
    lost: list[str] = []
    clock = ManualClock()
    streams = StreamManager(2, on_lease_lost=lost.append, clock=clock)
    failure = BatchFailed("r", 0, "commit", LeaseLost("taken over"))
    worker = streams.add("r", lambda stop: ScriptedRunner("r", [failure]))
    streams.wake("r", WakeReason.TICK)
    wait_for(lambda: lost == ["r"], 10, "lease loss reported")
    assert worker.state == "waiting_lease" and clock.requested == []
    assert streams.drain(5)


def test_a_runner_that_cannot_open_fails_the_pipeline_not_the_thread() -> None:
    streams = StreamManager(2)

    def broken(stop: threading.Event) -> ScriptedRunner:
        raise ConnectorError("storage unreachable while opening", retryable=False)

    worker = streams.add("r", broken)
    wait_for(lambda: worker.state == "failed", 10, "failed")
    assert "storage unreachable" in (worker.last_error or "")
    assert streams.drain(5)


def test_semaphore_caps_concurrent_batches_across_pipelines() -> None:
    streams = StreamManager(2)
    release = threading.Event()
    runners = [ScriptedRunner(f"p{i}", [], work=release) for i in range(6)]
    workers = [streams.add(r.name, lambda stop, r=r: r) for r in runners]
    for r in runners:
        streams.wake(r.name, WakeReason.CATCH_UP)
    wait_for(lambda: sum(w.busy for w in workers) == 2, 10, "two batches running")
    assert sum(r.calls for r in runners) == 2, "the other four wait for a slot"
    release.set()
    wait_for(lambda: all(w.batches == 1 for w in workers), 20, "all catch-up batches ran")
    assert streams.drain(5)


def test_backoff_is_bounded() -> None:
    assert all(0.25 <= backoff_delay(1) <= 0.5 for _ in range(50))
    assert all(15 <= backoff_delay(30) <= 30 for _ in range(50))


def test_reconciliation_picks_up_a_file_whose_event_was_missed(project: ProjectBuilder) -> None:
    project.pipeline("late", trigger="{file_watch: {debounce_ms: 5, reconcile_seconds: 0.3}}")
    project.drop("late", "early.csv", [1])  # landed before anything watched
    stack = Stack(project)
    try:
        trigger = stack.add("late", initial_wake=False)  # no start-up wake: only reconciliation
        wait_for(lambda: project.ids("late") == [1], 10, "reconciled file committed")
        assert trigger.events == 0
    finally:
        stack.close()


def test_batch_planned_under_an_old_epoch_cannot_commit(project: ProjectBuilder) -> None:
    from odibi_stream.checkpoints.lease import Lease

    project.pipeline("fenced", function="slow", params="{seconds: 1.0}")
    proj = load_project(project.root)
    checkpoints = CheckpointManager.open(proj.checkpoint)
    clock = ManualClock()
    old = Lease(checkpoints.store, "fenced", "old-owner", ttl_seconds=30, clock=clock)
    assert old.try_acquire()
    compiled = compile_pipeline(proj, "fenced")
    runner = PipelineRunner(compiled, engine=get_engine("pandas"), checkpoints=checkpoints, fence=old)
    project.drop("fenced", "a.csv", [1])
    new = Lease(checkpoints.store, "fenced", "new-owner", ttl_seconds=30, clock=clock)
    planned = project.root / "checkpoints" / "fenced" / "offsets" / "0.json"

    def take_over() -> None:
        wait_for(planned.exists, 10, "the old owner planned batch 0")
        clock.advance(31)  # the old owner's lease expired while its batch works
        assert new.try_acquire()

    taker = threading.Thread(target=take_over)
    taker.start()  # takes over while the old owner's batch sleeps in its transform
    with pytest.raises(BatchFailed) as info:
        runner.run_batch()
    taker.join()
    assert isinstance(info.value.cause, LeaseLost) and info.value.step == "commit"
    assert new.epoch == old.epoch + 1
    assert project.commits("fenced") == 0
    runner.close()
    with PipelineRunner(compiled, engine=get_engine("pandas"), checkpoints=checkpoints, fence=new) as fresh:
        result = fresh.run_batch()
    assert result is not None and result.replayed
    assert project.ids("fenced") == [1]


class Panic(BaseException):
    """Like pyo3's PanicException (a Rust panic surfacing in Python): not an Exception."""


def test_a_panic_below_exception_does_not_kill_the_worker_thread() -> None:
    streams, _runner, worker, clock = _scripted([Panic("rust panicked")], max_attempts=2)
    clock.advance(_next_backoff(clock, 1))
    wait_for(lambda: worker.batches == 1, 10, "the next attempt committed")
    assert worker.thread.is_alive() and worker.state == "idle"
    assert streams.drain(5)
