"""Trigger flood control with a manual clock and a recorded scheduler."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from odibi_stream.server.throttle import TriggerThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Timers:
    """Records scheduled callbacks; the test fires them when the clock says so."""

    def __init__(self) -> None:
        self.pending: list[tuple[float, Callable[[], None], list[bool]]] = []

    def __call__(self, delay: float, fn: Callable[[], None]) -> Callable[[], None]:
        cancelled = [False]
        self.pending.append((delay, fn, cancelled))
        return lambda: cancelled.__setitem__(0, True)

    def fire_all(self) -> None:
        due, self.pending = self.pending, []
        for _delay, fn, cancelled in due:
            if not cancelled[0]:
                fn()


Setup = tuple[TriggerThrottle, Clock, Timers, list[str]]


@pytest.fixture
def setup() -> Setup:
    clock, timers, calls = Clock(), Timers(), list[str]()
    throttle = TriggerThrottle(3, 1.0, clock=clock, schedule=timers)
    return throttle, clock, timers, calls


def test_burst_passes_then_one_deferred_run_absorbs_the_flood(setup: Setup) -> None:
    throttle, clock, timers, calls = setup
    decisions = [throttle.request("p", calls.append) for _ in range(2500)]
    assert calls == ["p", "p", "p"]
    assert [d.coalesced for d in decisions[:4]] == [False, False, False, False]
    assert decisions[3].deferred_seconds == pytest.approx(1.0)
    assert all(d.coalesced for d in decisions[4:])
    assert len(timers.pending) == 1
    clock.now += 1.0
    timers.fire_all()
    assert calls == ["p"] * 4  # every accepted request is followed by one run
    assert throttle.request("p", calls.append).deferred_seconds == pytest.approx(1.0)


def test_tokens_refill_at_the_configured_rate(setup: Setup) -> None:
    throttle, clock, timers, calls = setup
    for _ in range(3):
        throttle.request("p", calls.append)
    clock.now += 2.0
    assert throttle.request("p", calls.append).deferred_seconds == 0.0
    assert throttle.request("p", calls.append).deferred_seconds == 0.0
    assert throttle.request("p", calls.append).deferred_seconds > 0
    assert calls == ["p"] * 5 and len(timers.pending) == 1


def test_pipelines_have_separate_buckets(setup: Setup) -> None:
    throttle, _clock, _timers, calls = setup
    for _ in range(5):
        throttle.request("a", calls.append)
        throttle.request("b", calls.append)
    assert calls.count("a") == 3 and calls.count("b") == 3


def test_unknown_names_leave_no_state(setup: Setup) -> None:
    throttle, _clock, timers, _calls = setup

    def unknown(name: str) -> None:
        raise KeyError(name)

    for i in range(100):
        with pytest.raises(KeyError):
            throttle.request(f"nope{i}", unknown)
    assert throttle._buckets == {} and timers.pending == []


def test_close_cancels_the_deferred_run(setup: Setup) -> None:
    throttle, _clock, timers, calls = setup
    for _ in range(4):
        throttle.request("p", calls.append)
    throttle.close()
    timers.fire_all()
    assert calls == ["p"] * 3


def test_a_deferred_run_for_a_removed_pipeline_is_dropped_quietly(setup: Setup) -> None:
    throttle, clock, timers, calls = setup
    known = {"p"}

    def trigger(name: str) -> None:
        if name not in known:
            raise KeyError(name)
        calls.append(name)

    for _ in range(4):
        throttle.request("p", trigger)
    known.clear()  # a reload removes the pipeline before the deferred run fires
    clock.now += 1.0
    timers.fire_all()
    assert calls == ["p"] * 3
    assert "p" not in throttle._buckets
