"""Metrics: every family records what the daemon reports and renders as Prometheus text."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from prometheus_client.parser import text_string_to_metric_families

from odibi_stream.observability import metrics as metrics_module
from odibi_stream.observability.metrics import Metrics, epoch_seconds
from odibi_stream.runtime.report import BatchReport, RowCounts
from odibi_stream.runtime.steps import BatchTrace

WM = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


def make_result(batch: int = 7, duration_ms: float = 250.0, pipeline: str = "orders") -> BatchReport:
    # 250 ms in all, 12 ms of it writing the checkpoint (write-ahead 5 + commit 7).
    steps = {"plan": 1.0, "write_ahead": 5.0, "execute": duration_ms - 13.0, "commit": 7.0}
    return BatchReport(
        pipeline=pipeline,
        batch=batch,
        replayed=False,
        counts=RowCounts(rows_in=10, rows_out=8, rejected=2, late=1),
        nodes={
            "raw": {"rows_in": 10, "rows_out": 10, "rejected": 0, "late": 0},
            "clean": {"rows_in": 10, "rows_out": 8, "rejected": 2, "late": 1},
        },
        watermarks={"raw": WM},
        sources={},
        trace=BatchTrace(pipeline=pipeline, started=WM, batch=batch, steps_ms=steps),
        lag={"raw": {"files": 3, "bytes": 4096}},
    )


def sample(m: Metrics, name: str, **labels: str) -> float | None:
    return m.registry.get_sample_value(name, labels)


def test_record_batch_counts_timings_rows_lag_and_watermark() -> None:
    m = Metrics()
    m.record_batch("orders", make_result(), "committed")
    m.record_batch("orders", make_result(batch=8, duration_ms=1500.0), "committed")

    assert sample(m, "odibi_batches_total", pipeline="orders", status="committed") == 2
    assert sample(m, "odibi_batch_duration_seconds_count", pipeline="orders") == 2
    assert sample(m, "odibi_batch_duration_seconds_sum", pipeline="orders") == pytest.approx(1.75)
    assert sample(m, "odibi_batch_duration_seconds_bucket", pipeline="orders", le="0.25") == 1
    assert sample(m, "odibi_checkpoint_commit_seconds_sum", pipeline="orders") == pytest.approx(0.024)
    assert sample(m, "odibi_rows_in_total", pipeline="orders", node="raw") == 20
    assert sample(m, "odibi_rows_out_total", pipeline="orders", node="clean") == 16
    assert sample(m, "odibi_rejected_total", pipeline="orders", node="clean") == 4
    assert sample(m, "odibi_late_rows_total", pipeline="orders", node="clean") == 2
    assert sample(m, "odibi_source_lag", pipeline="orders", source="raw", unit="files") == 3
    assert sample(m, "odibi_source_lag", pipeline="orders", source="raw", unit="bytes") == 4096
    assert sample(m, "odibi_watermark_seconds", pipeline="orders", node="raw") == WM.timestamp()


def test_none_result_counts_the_attempt_only() -> None:
    m = Metrics()
    m.record_batch("orders", None, "empty")
    assert sample(m, "odibi_batches_total", pipeline="orders", status="empty") == 1
    assert sample(m, "odibi_batch_duration_seconds_count", pipeline="orders") is None


def test_errors_are_counted_by_type_without_their_message() -> None:
    m = Metrics()
    secret = "AccountKey=hunter2-very-secret"
    m.record_batch("orders", None, "retry", ConnectionError(secret))
    m.record_batch("orders", None, "failed", ValueError(secret))
    assert sample(m, "odibi_batches_total", pipeline="orders", status="retry") == 1
    assert sample(m, "odibi_batch_errors_total", pipeline="orders", error="ConnectionError") == 1
    assert sample(m, "odibi_batch_errors_total", pipeline="orders", error="ValueError") == 1
    body, _ = m.render()
    assert b"hunter2" not in body


def test_unknown_status_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown batch status"):
        Metrics().record_batch("orders", None, "done")


def test_record_status_sets_one_hot_state_lag_and_watermarks() -> None:
    m = Metrics()
    m.record_status("orders", {"state": "running", "lag": {"topic": {"records": 42}}})
    m.record_status("orders", {"state": "paused", "watermarks": {"clean": "2024-05-01T12:00:00+00:00"}})
    assert sample(m, "odibi_pipeline_state", pipeline="orders", state="paused") == 1
    assert sample(m, "odibi_pipeline_state", pipeline="orders", state="running") == 0
    assert sample(m, "odibi_pipeline_state", pipeline="orders", state="failed") == 0
    assert sample(m, "odibi_source_lag", pipeline="orders", source="topic", unit="records") == 42
    assert sample(m, "odibi_watermark_seconds", pipeline="orders", node="clean") == WM.timestamp()


def test_registries_are_private_per_instance() -> None:
    a, b = Metrics(), Metrics()
    a.record_batch("orders", None, "committed")
    assert sample(a, "odibi_batches_total", pipeline="orders", status="committed") == 1
    assert sample(b, "odibi_batches_total", pipeline="orders", status="committed") is None


def test_render_is_valid_prometheus_text() -> None:
    m = Metrics()
    m.record_batch("orders", make_result(), "committed")
    m.record_status("orders", {"state": "idle"})
    body, content_type = m.render()
    assert content_type.startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    for name in (
        "odibi_batches", "odibi_batch_duration_seconds", "odibi_rows_in", "odibi_rows_out",
        "odibi_rejected", "odibi_late_rows", "odibi_source_lag", "odibi_checkpoint_commit_seconds",
        "odibi_watermark_seconds", "odibi_pipeline_state",
    ):
        assert name in families, name
    assert families["odibi_batch_duration_seconds"].type == "histogram"


def test_module_functions_use_the_default_instance() -> None:
    before = sample(metrics_module.metrics, "odibi_batches_total", pipeline="mod-fn", status="committed") or 0
    metrics_module.record_batch("mod-fn", make_result(pipeline="mod-fn"), "committed")
    metrics_module.record_status("mod-fn", {"state": "failed"})
    assert sample(metrics_module.metrics, "odibi_batches_total", pipeline="mod-fn", status="committed") == before + 1
    body, _ = metrics_module.render()
    assert b'odibi_pipeline_state{pipeline="mod-fn",state="failed"} 1.0' in body


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (WM, WM.timestamp()),
        (datetime(2024, 5, 1, 12, 0), WM.timestamp()),  # naive is UTC
        ("2024-05-01T12:00:00Z", WM.timestamp()),
        (1714564800, 1714564800.0),
        (12.5, 12.5),
        ("not a time", None),
        (None, None),
        (True, None),
    ],
)
def test_epoch_seconds(value: object, expected: float | None) -> None:
    assert epoch_seconds(value) == expected
