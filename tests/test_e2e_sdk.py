"""The real OpenTelemetry Python SDK exports to a running ``flowguard serve``."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import grpc
import psycopg
import pytest
from opentelemetry import trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from tests.servers import Server, post

TRACE_ID = 0x5B8EFFF798038103D269B633813FC60C
SPAN_ID = 0xEEE19B7EC3C1B174


def _exporters(transport: str, server: Server) -> tuple[Any, Any]:
    if transport == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import (
            OTLPLogExporter,
        )
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
            OTLPMetricExporter,
        )

        endpoint = server.grpc_endpoint
        return (
            OTLPLogExporter(
                endpoint=endpoint, insecure=True, compression=grpc.Compression.Gzip
            ),
            OTLPMetricExporter(
                endpoint=endpoint,
                insecure=True,
                preferred_temporality={Counter: AggregationTemporality.DELTA},
            ),
        )
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http._log_exporter import (
        OTLPLogExporter as HttpLogExporter,
    )
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
        OTLPMetricExporter as HttpMetricExporter,
    )

    base = server.otlp_http
    return (
        HttpLogExporter(endpoint=f"{base}/v1/logs", compression=Compression.Gzip),
        HttpMetricExporter(
            endpoint=f"{base}/v1/metrics",
            preferred_temporality={Counter: AggregationTemporality.DELTA},
        ),
    )


@pytest.fixture(params=["grpc", "http"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _send_logs(exporter: Any, count: int) -> None:
    provider = LoggerProvider(
        resource=Resource.create({"service.name": "checkout", "host.name": "h1"})
    )
    provider.add_log_record_processor(
        BatchLogRecordProcessor(exporter, max_export_batch_size=64)
    )
    logger = provider.get_logger("checkout.payments", "1.2.3")
    span = NonRecordingSpan(
        SpanContext(TRACE_ID, SPAN_ID, is_remote=False, trace_flags=TraceFlags(1))
    )
    context = trace.set_span_in_context(span)
    base_ns = time.time_ns()
    for i in range(count):
        logger.emit(
            timestamp=base_ns + i * 1000,
            context=context,
            severity_number=SeverityNumber.ERROR
            if i % 10 == 0
            else SeverityNumber.INFO,
            severity_text="ERROR" if i % 10 == 0 else "INFO",
            body=f"payment {i} processed",
            attributes={"order.id": i, "amount": 9.5, "ok": True, "tags": ["a", "b"]},
            event_name="payment.done" if i == 0 else None,
        )
    assert provider.force_flush(30_000)
    provider.shutdown()


def _send_metrics(exporter: Any) -> None:
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    provider = MeterProvider(
        resource=Resource.create({"service.name": "checkout"}),
        metric_readers=[reader],
        views=[
            View(
                instrument_type=Histogram,
                instrument_name="queue.wait",
                aggregation=ExponentialBucketHistogramAggregation(),
            )
        ],
    )
    meter = provider.get_meter("checkout.metrics", "0.9")
    requests = meter.create_counter("http.requests", unit="1")
    inflight = meter.create_up_down_counter("http.inflight")
    temperature = meter.create_gauge("room.temperature", unit="Cel")
    duration = meter.create_histogram("http.server.request.duration", unit="s")
    wait = meter.create_histogram("queue.wait", unit="ms")
    for status in (200, 200, 200, 500):
        requests.add(1, {"http.response.status_code": status})
    inflight.add(5)
    inflight.add(-2)
    temperature.set(21.5, {"room": "lab"})
    for seconds in (0.002, 0.02, 0.2, 2.0):
        duration.record(seconds, {"http.route": "/pay"})
    for ms in (1.0, 3.0, 9.0, 27.0):
        wait.record(ms)
    assert provider.force_flush(30_000)
    provider.shutdown()


def _post_summary(server: Server, transport: str) -> None:
    # The Python SDK has no instrument that yields summaries, so this point
    # type is sent as a hand-built OTLP request over the same transport.
    request = ExportMetricsServiceRequest()
    rm = request.resource_metrics.add()
    attr = rm.resource.attributes.add()
    attr.key, attr.value.string_value = "service.name", "checkout"
    metric = rm.scope_metrics.add().metrics.add()
    metric.name = "rpc.latency.summary"
    point = metric.summary.data_points.add()
    point.time_unix_nano = time.time_ns()
    point.start_time_unix_nano = point.time_unix_nano - 60 * 10**9
    point.count, point.sum = 10, 12.5
    for q, v in ((0.5, 1.0), (0.99, 3.5)):
        qv = point.quantile_values.add()
        qv.quantile, qv.value = q, v
    if transport == "grpc":
        method = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export"
        with grpc.insecure_channel(server.grpc_endpoint) as channel:
            answer = channel.unary_unary(method)(
                request.SerializeToString(), timeout=30
            )
        assert answer == b""
        return
    status, _, _ = post(
        f"{server.otlp_http}/v1/metrics",
        request.SerializeToString(),
        {"Content-Type": "application/x-protobuf"},
    )
    assert status == 200


@pytest.fixture
def db(server: Server) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(server.env["FLOWGUARD_DATABASE_URL"]) as conn:
        yield conn


def test_sdk_logs_arrive_field_by_field(
    server: Server, transport: str, db: psycopg.Connection[Any]
) -> None:
    """Every log record the SDK sends, gzip-compressed, is stored with all of
    its fields."""
    log_exporter, _ = _exporters(transport, server)
    _send_logs(log_exporter, 300)

    assert db.execute("SELECT count(*) FROM logs").fetchone() == (300,)
    row = db.execute(
        "SELECT service, severity_number, severity_text, body, attributes,"
        " resource, scope_name, scope_version, trace_id, span_id, flags,"
        " event_name, observed_time IS NOT NULL"
        " FROM logs WHERE attributes->>'order.id' = '0'"
    ).fetchone()
    assert row is not None
    service, sev_num, sev_text, body, attrs, resource, scope, version = row[:8]
    assert (service, sev_num, sev_text, body) == (
        "checkout",
        17,
        "ERROR",
        "payment 0 processed",
    )
    assert attrs == {"order.id": 0, "amount": 9.5, "ok": True, "tags": ["a", "b"]}
    assert resource["service.name"] == "checkout"
    assert resource["host.name"] == "h1"
    assert (scope, version) == ("checkout.payments", "1.2.3")
    assert row[8] == f"{TRACE_ID:032x}"
    assert row[9] == f"{SPAN_ID:016x}"
    assert row[10] == 1
    assert row[11] == "payment.done"
    assert row[12] is True
    errors = db.execute("SELECT count(*) FROM logs WHERE severity_number = 17")
    assert errors.fetchone() == (30,)
    orders = db.execute("SELECT count(DISTINCT attributes->>'order.id') FROM logs")
    assert orders.fetchone() == (300,)


def test_sdk_metrics_arrive_for_every_point_type(
    server: Server, transport: str, db: psycopg.Connection[Any]
) -> None:
    """Gauge, sum, histogram, exponential histogram and summary points are
    stored with their series, temporality and values."""
    _, metric_exporter = _exporters(transport, server)
    _send_metrics(metric_exporter)
    _post_summary(server, transport)

    series = {
        (name, json.dumps(attrs, sort_keys=True)): (kind, temporality, monotonic, unit)
        for name, attrs, kind, temporality, monotonic, unit in db.execute(
            "SELECT name, attributes, kind, temporality, is_monotonic, unit"
            " FROM metric_series WHERE service = 'checkout'"
        )
    }
    kinds = {value[0] for value in series.values()}
    assert kinds == {"gauge", "sum", "histogram", "exponential_histogram", "summary"}
    assert series[("http.requests", '{"http.response.status_code": 500}')] == (
        "sum",
        "delta",
        True,
        "1",
    )
    assert series[("http.inflight", "{}")] == ("sum", "cumulative", False, "")

    counts = dict(
        db.execute(
            "SELECT s.attributes->>'http.response.status_code', p.int_value"
            " FROM metric_points p JOIN metric_series s USING (series_id)"
            " WHERE s.name = 'http.requests'"
        ).fetchall()
    )
    assert counts == {"200": 3, "500": 1}
    inflight = db.execute(
        "SELECT p.int_value FROM metric_points p JOIN metric_series s"
        " USING (series_id) WHERE s.name = 'http.inflight'"
    ).fetchone()
    assert inflight == (3,)
    gauge = db.execute(
        "SELECT p.value, s.attributes, s.unit FROM metric_points p"
        " JOIN metric_series s USING (series_id) WHERE s.name = 'room.temperature'"
    ).fetchone()
    assert gauge == (21.5, {"room": "lab"}, "Cel")

    hist = db.execute(
        "SELECT count, sum, min, max, bounds, bucket_counts, start_time < time"
        " FROM metric_histograms"
    ).fetchone()
    assert hist is not None
    count, total, low, high, bounds, buckets, ordered = hist
    assert count == 4 and sum(buckets) == 4 and len(buckets) == len(bounds) + 1
    assert total == pytest.approx(2.222)
    assert (low, high, ordered) == (0.002, 2.0, True)

    exp = db.execute(
        "SELECT count, sum, scale, zero_count, positive_counts, negative_counts"
        " FROM metric_exp_histograms"
    ).fetchone()
    assert exp is not None
    assert exp[0] == 4 and exp[1] == 40.0 and exp[3] == 0
    assert sum(exp[4]) == 4 and sum(exp[5]) == 0

    summary = db.execute(
        "SELECT count, sum, quantiles, quantile_values FROM metric_summaries"
    ).fetchone()
    assert summary == (10, 12.5, [0.5, 0.99], [1.0, 3.5])
