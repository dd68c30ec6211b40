"""Processing OTLP requests into rows: what is kept, what is rejected and why."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)

from processing.logs import logs_batch
from processing.metrics import metrics_batch
from storage.schema import LOGS, METRIC_HISTOGRAMS, METRIC_POINTS

NANOS = 1_544_712_660_300_000_123


def _log_row(**fields: object) -> dict[str, object]:
    request = ExportLogsServiceRequest()
    record = request.resource_logs.add().scope_logs.add().log_records.add()
    for key, value in fields.items():
        setattr(record, key, value)
    batch = logs_batch(request).seal()
    assert batch.rejected_count == 0
    return dict(zip(LOGS.column_names, batch.rows["logs"][0], strict=True))


def test_time_falls_back_to_observed_time_then_receipt() -> None:
    """Without an event time the observed time is used, and without both the
    time of receipt, as the OTLP data model says."""
    expected = datetime(2018, 12, 13, 14, 51, 0, 300000, tzinfo=UTC)
    assert _log_row(observed_time_unix_nano=NANOS)["time"] == expected
    received = _log_row()["time"]
    assert isinstance(received, datetime)
    assert abs((datetime.now(UTC) - received).total_seconds()) < 3600


def test_nul_characters_are_replaced_not_dropped() -> None:
    """PostgreSQL text cannot hold NUL, so it becomes U+FFFD; the rest stays."""
    request = ExportLogsServiceRequest()
    record = request.resource_logs.add().scope_logs.add().log_records.add()
    record.body.string_value = "a\x00b"
    kv = record.attributes.add()
    kv.key, kv.value.string_value = "k\x00", "v\x00"
    row = dict(
        zip(LOGS.column_names, logs_batch(request).seal().rows["logs"][0], strict=True)
    )
    assert row["body"] == "a\ufffdb"
    assert json.loads(row["attributes"]) == {"k\ufffd": "v\ufffd"}


def test_non_finite_doubles_become_strings_in_json() -> None:
    """JSON has no NaN or infinity, so such attribute values are kept as text."""
    request = ExportLogsServiceRequest()
    record = request.resource_logs.add().scope_logs.add().log_records.add()
    for key, value in (("nan", float("nan")), ("inf", float("inf"))):
        kv = record.attributes.add()
        kv.key, kv.value.double_value = key, value
    row = dict(
        zip(LOGS.column_names, logs_batch(request).seal().rows["logs"][0], strict=True)
    )
    assert json.loads(row["attributes"]) == {"nan": "nan", "inf": "inf"}


def _metrics_request() -> ExportMetricsServiceRequest:
    request = ExportMetricsServiceRequest()
    kv = request.resource_metrics.add().resource.attributes.add()
    kv.key, kv.value.string_value = "service.name", "svc"
    return request


def test_unstorable_points_are_rejected_with_reasons() -> None:
    """A histogram with the wrong number of buckets, a count past 2^63 and a
    point without time are rejected; the good point is kept."""
    request = _metrics_request()
    metrics = request.resource_metrics[0].scope_metrics.add().metrics
    hist = metrics.add()
    hist.name = "h"
    bad_buckets = hist.histogram.data_points.add()
    bad_buckets.time_unix_nano = NANOS
    bad_buckets.explicit_bounds.extend([1.0, 2.0])
    bad_buckets.bucket_counts.extend([1, 2])
    huge = hist.histogram.data_points.add()
    huge.time_unix_nano = NANOS
    huge.count = 2**64 - 1
    gauge = metrics.add()
    gauge.name = "g"
    gauge.gauge.data_points.add().as_int = 3
    good = gauge.gauge.data_points.add()
    good.time_unix_nano = NANOS
    good.as_int = 2**62 + 1

    batch = metrics_batch(request)

    assert batch.rejected_count == 3
    message = batch.rejection_message()
    assert "2 bucket counts for 2 bounds" in message
    assert "exceeds the largest storable count" in message
    assert "no time_unix_nano" in message
    assert not batch.rows.get(METRIC_HISTOGRAMS.name)
    (row,) = batch.rows[METRIC_POINTS.name]
    point = dict(zip(METRIC_POINTS.column_names, row, strict=True))
    assert point["int_value"] == 2**62 + 1
    assert batch.accepted == {"svc": 1}
