"""Readiness verdicts: the daemon's answer plus server.readiness_fail_on."""

from __future__ import annotations

from odibi_stream.server.readiness import assess


def detail(**states: str) -> dict[str, object]:
    return {"pipelines": {n: {"state": s, "lease": s != "waiting_lease", "degraded": False}
                          for n, s in states.items()}, "reload_error": None}


def test_ready_when_the_daemon_is_and_nothing_failed() -> None:
    verdict = assess(True, detail(a="idle", b="running"), ["failed"])
    assert verdict.ready and verdict.reason is None
    assert verdict.payload() == {"status": "ready", "reason": None}


def test_a_failed_pipeline_fails_readiness_without_naming_it() -> None:
    verdict = assess(True, detail(secret_named_pipeline="failed", b="idle"), ["failed"])
    assert not verdict.ready
    assert verdict.reason == "1 pipeline(s) failed"
    assert "secret_named_pipeline" not in str(verdict.payload())


def test_fail_on_is_configurable() -> None:
    assert assess(True, detail(a="failed"), []).ready
    assert not assess(True, detail(a="paused"), ["failed", "paused"]).ready


def test_reasons_for_the_daemons_own_not_ready() -> None:
    assert assess(False, detail(a="waiting_lease"), ["failed"]).reason == "1 pipeline(s) waiting for their lease"
    assert assess(False, {}, ["failed"]).reason == "daemon not started"
