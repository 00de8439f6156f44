"""file_watch trigger on a real folder with real inotify events."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from odibi_stream.core.wake import WakeReason
from odibi_stream.triggers.after import AfterTrigger
from odibi_stream.triggers.file_watch import FileWatchTrigger


class Counter:
    def __init__(self) -> None:
        self.reasons: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, reason: str) -> None:
        with self.lock:
            self.reasons.append(reason)


def _wait(cond, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.005)


def test_burst_of_1000_files_is_a_handful_of_wakeups(tmp_path: Path) -> None:
    folder = tmp_path / "landing"
    wake = Counter()
    trig = FileWatchTrigger([folder], debounce_ms=50, reconcile_seconds=None)
    trig.start(wake)
    try:
        for i in range(1000):
            (folder / f"f{i:04d}.csv").write_text("a\n1\n")
        _wait(lambda: trig.events >= 1000 and len(wake.reasons) >= 1)
        time.sleep(0.3)  # let any trailing debounce window close before counting
    finally:
        trig.stop()
    assert trig.events >= 1000
    assert 1 <= len(wake.reasons) <= 5, wake.reasons
    assert set(wake.reasons) == {WakeReason.DATA}


def test_single_file_wakes_quickly(tmp_path: Path) -> None:
    wake = Counter()
    trig = FileWatchTrigger([tmp_path], debounce_ms=5, reconcile_seconds=None)
    trig.start(wake)
    try:
        t0 = time.monotonic()
        (tmp_path / "x.tmp").write_text("1")
        (tmp_path / "x.tmp").rename(tmp_path / "x.csv")
        _wait(lambda: len(wake.reasons) >= 1, timeout=2)
        assert time.monotonic() - t0 < 0.5
    finally:
        trig.stop()


def test_reconciliation_wakes_for_a_file_whose_event_was_missed(tmp_path: Path) -> None:
    (tmp_path / "early.csv").write_text("a\n1\n")  # landed before anything watched
    wake = Counter()
    trig = FileWatchTrigger([tmp_path], debounce_ms=5, reconcile_seconds=0.2)
    trig.start(wake)
    try:
        _wait(lambda: len(wake.reasons) >= 2, timeout=3)
    finally:
        trig.stop()
    assert trig.events == 0  # no inotify event for it: only the reconciliation woke us


def test_settle_follow_up_wake(tmp_path: Path) -> None:
    wake = Counter()
    trig = FileWatchTrigger([tmp_path], debounce_ms=5, reconcile_seconds=None, settle_seconds=0.3)
    trig.start(wake)
    try:
        (tmp_path / "a.csv").write_text("1")
        _wait(lambda: len(wake.reasons) >= 2, timeout=3)  # the event, then once settled
    finally:
        trig.stop()


def test_own_reads_do_not_wake(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("1")
    wake = Counter()
    trig = FileWatchTrigger([tmp_path], debounce_ms=5, reconcile_seconds=None)
    trig.start(wake)
    try:
        for _ in range(20):
            (tmp_path / "a.csv").read_text()
        time.sleep(0.2)  # absence of a wake-up can only be observed over time
    finally:
        trig.stop()
    assert wake.reasons == []


def test_after_trigger_fires_only_for_its_upstreams() -> None:
    wake = Counter()
    trig = AfterTrigger(["raw"])
    trig.notify("raw")  # not started: ignored
    trig.start(wake)
    trig.notify("other")
    trig.notify("raw")
    trig.stop()
    trig.notify("raw")
    assert wake.reasons == [WakeReason.TICK]
