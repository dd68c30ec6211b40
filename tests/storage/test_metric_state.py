"""Delta conversion state survives restarts and is shared through the database."""

from __future__ import annotations

import time

import psycopg
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    AGGREGATION_TEMPORALITY_CUMULATIVE,
)

from tests.servers import PROTOBUF_HEADERS, Server, post

S = 1_000_000_000
# Recent, so that retention (30 days for metrics) keeps the points.
T0 = (int(time.time()) - 3600) * S


def _counter(time_s: int, value: int, start_s: int = 0) -> bytes:
    request = ExportMetricsServiceRequest()
    resource = request.resource_metrics.add()
    kv = resource.resource.attributes.add()
    kv.key, kv.value.string_value = "service.name", "billing"
    metric = resource.scope_metrics.add().metrics.add()
    metric.name = "invoices.created"
    metric.sum.aggregation_temporality = AGGREGATION_TEMPORALITY_CUMULATIVE
    metric.sum.is_monotonic = True
    point = metric.sum.data_points.add()
    point.start_time_unix_nano = T0 + start_s * S
    point.time_unix_nano = T0 + time_s * S
    point.as_int = value
    return request.SerializeToString()


def _send(server: Server, time_s: int, value: int, start_s: int = 0) -> None:
    status, _, _ = post(
        f"{server.otlp_http}/v1/metrics",
        _counter(time_s, value, start_s),
        PROTOBUF_HEADERS,
    )
    assert status == 200


def _conversions(url: str) -> list[tuple[float, float | None, str]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT raw_value, delta, conversion FROM metric_conversions"
            " WHERE name = 'invoices.created' ORDER BY time"
        ).fetchall()
    return [(float(r[0]), None if r[1] is None else float(r[1]), r[2]) for r in rows]


def test_conversion_continues_after_a_restart(database_url: str) -> None:
    """A restarted server reads the last point back and keeps differencing,
    instead of treating the next point as the first of a run."""
    first = Server(database_url).start()
    try:
        _send(first, 10, 5)
        _send(first, 20, 8)
    finally:
        first.stop()
    second = Server(database_url).start()
    try:
        _send(second, 30, 12)
        _send(second, 40, 1, start_s=35)
    finally:
        second.stop()
    assert _conversions(database_url) == [
        (5.0, 5.0, "start"),
        (8.0, 3.0, "step"),
        (12.0, 4.0, "step"),
        (1.0, 1.0, "reset"),
    ]


def test_receivers_sharing_a_database_convert_alternate_points(
    database_url: str,
) -> None:
    """Points of one series that alternate between two receivers are each
    differenced against the last stored point, so nothing counts twice."""
    servers = [
        Server(database_url, FLOWGUARD_METRIC_STATE_TTL_MS="0").start()
        for _ in range(2)
    ]
    try:
        for i, value in enumerate((2, 5, 9, 10, 16, 20)):
            _send(servers[i % 2], 10 * (i + 1), value)
        # An old point sent again to the other receiver is late, not a step.
        _send(servers[0], 25, 7)
    finally:
        for server in servers:
            server.stop()
    rows = _conversions(database_url)
    assert [(d, c) for _, d, c in rows] == [
        (2.0, "start"),
        (3.0, "step"),
        (None, "late"),
        (4.0, "step"),
        (1.0, "step"),
        (6.0, "step"),
        (4.0, "step"),
    ]
    assert sum(d for _, d, _ in rows if d is not None) == 20.0
