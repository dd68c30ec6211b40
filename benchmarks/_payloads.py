"""OTLP export requests for the benchmark, and the rows processing makes of them.

Every request holds ``RECORDS_PER_REQUEST`` records spread evenly over
``SERVICES`` resources. Log records carry a body of about 200 bytes and five
attributes. Metric requests hold gauge and sum number points of five metric
names and ten attribute sets per service, so each request repeats the same
500 series, as a periodic exporter does.
"""

from __future__ import annotations

import asyncio
import functools
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    InstrumentationScope,
    KeyValue,
)
from opentelemetry.proto.logs.v1.logs_pb2 import (
    LogRecord,
    ResourceLogs,
    ScopeLogs,
    SeverityNumber,
)
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    AggregationTemporality,
    Gauge,
    Metric,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from flowguard.config import Settings
from processing.batch import Batch, Row
from processing.builtins import BUILTIN_PROCESSORS
from processing.chain import Chain, ProcessorContext, build_chain
from processing.logs import logs_batch
from processing.metrics import metrics_batch
from storage.schema import LOGS, METRIC_POINTS, Table

__all__ = [
    "RECORDS_PER_REQUEST",
    "SERVICES",
    "SIGNALS",
    "Signal",
    "build_payloads",
    "process",
]

RECORDS_PER_REQUEST = 500
SERVICES = 10
_PER_SERVICE = RECORDS_PER_REQUEST // SERVICES
_BODY_BYTES = 200
_ROUTES = ("/api/orders", "/api/cart", "/api/users/{id}", "/health", "/api/search")
_METHODS = ("GET", "POST")
_INFO = (SeverityNumber.SEVERITY_NUMBER_INFO, "INFO")
_WARN = (SeverityNumber.SEVERITY_NUMBER_WARN, "WARN")
_ERROR = (SeverityNumber.SEVERITY_NUMBER_ERROR, "ERROR")
_SEVERITIES = (_INFO, _INFO, _INFO, _WARN, _ERROR)
_WORDS = ("cache", "miss", "retry", "pool", "latency", "tenant", "shard", "query")


def _value(value: Any) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    return AnyValue(string_value=str(value))


def _attributes(values: dict[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=key, value=_value(v)) for key, v in values.items()]


def _resource(service: int) -> Resource:
    return Resource(
        attributes=_attributes(
            {
                "service.name": f"bench-service-{service}",
                "service.version": "1.4.2",
                "host.name": f"bench-host-{service % 3}",
                "deployment.environment": "benchmark",
            }
        )
    )


def _body(rng: random.Random, route: str, status: int) -> str:
    request_id = rng.getrandbits(64)
    text = f"{rng.choice(_METHODS)} {route} returned {status} id={request_id:016x}"
    while len(text) < _BODY_BYTES:
        text += " " + rng.choice(_WORDS)
    return text[:_BODY_BYTES]


def _log_record(rng: random.Random, now_ns: int) -> LogRecord:
    severity, severity_text = rng.choice(_SEVERITIES)
    route = rng.choice(_ROUTES)
    status = 500 if severity_text == "ERROR" else rng.choice((200, 200, 201, 404))
    attributes = {
        "http.request.method": rng.choice(_METHODS),
        "http.route": route,
        "http.response.status_code": status,
        "duration_ms": round(rng.uniform(0.2, 900.0), 3),
        "user.id": f"user-{rng.randrange(100_000)}",
    }
    return LogRecord(
        time_unix_nano=now_ns - rng.randrange(5_000_000_000),
        observed_time_unix_nano=now_ns,
        severity_number=severity,
        severity_text=severity_text,
        body=AnyValue(string_value=_body(rng, route, status)),
        attributes=_attributes(attributes),
        trace_id=rng.randbytes(16),
        span_id=rng.randbytes(8),
        flags=1,
    )


def _logs_request(rng: random.Random, now_ns: int) -> ExportLogsServiceRequest:
    scope = InstrumentationScope(name="bench.logger", version="1.0.0")
    return ExportLogsServiceRequest(
        resource_logs=[
            ResourceLogs(
                resource=_resource(service),
                scope_logs=[
                    ScopeLogs(
                        scope=scope,
                        log_records=[
                            _log_record(rng, now_ns) for _ in range(_PER_SERVICE)
                        ],
                    )
                ],
            )
            for service in range(SERVICES)
        ]
    )


_ATTRIBUTE_SETS = tuple(
    {"http.route": route, "http.request.method": method}
    for method in _METHODS
    for route in _ROUTES
)
# (name, kind, unit, integer points): five metrics, ten attribute sets each.
_METRICS = (
    ("http.server.request.count", "sum", "{request}", True),
    ("http.server.request.duration", "gauge", "ms", False),
    ("http.server.active_requests", "gauge", "{request}", True),
    ("process.cpu.utilization", "gauge", "1", False),
    ("network.io", "sum", "By", True),
)


def _number_point(
    rng: random.Random, attributes: dict[str, Any], integer: bool, now_ns: int
) -> NumberDataPoint:
    point = NumberDataPoint(time_unix_nano=now_ns, attributes=_attributes(attributes))
    if integer:
        point.as_int = rng.randrange(1_000_000)
    else:
        point.as_double = rng.uniform(0.0, 1000.0)
    return point


def _metric(
    rng: random.Random, definition: tuple[str, str, str, bool], now_ns: int
) -> Metric:
    name, kind, unit, integer = definition
    points = [_number_point(rng, a, integer, now_ns) for a in _ATTRIBUTE_SETS]
    if kind == "gauge":
        return Metric(name=name, unit=unit, gauge=Gauge(data_points=points))
    for point in points:
        point.start_time_unix_nano = now_ns - 3600 * 10**9
    cumulative = AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
    return Metric(
        name=name,
        unit=unit,
        sum=Sum(
            data_points=points, aggregation_temporality=cumulative, is_monotonic=True
        ),
    )


def _metrics_request(rng: random.Random, now_ns: int) -> ExportMetricsServiceRequest:
    scope = InstrumentationScope(name="bench.meter", version="1.0.0")
    return ExportMetricsServiceRequest(
        resource_metrics=[
            ResourceMetrics(
                resource=_resource(service),
                scope_metrics=[
                    ScopeMetrics(
                        scope=scope,
                        metrics=[_metric(rng, m, now_ns) for m in _METRICS],
                    )
                ],
            )
            for service in range(SERVICES)
        ]
    )


@functools.cache
def _chain() -> tuple[Chain, asyncio.AbstractEventLoop]:
    # The default processors, as the server runs them, without the database
    # reads: pattern and conversion state stay in memory.
    defaults = Settings()
    chain = build_chain(
        defaults.log_processors,
        defaults.metric_processors,
        ProcessorContext(options=defaults.processing_options()),
        BUILTIN_PROCESSORS,
    )
    return chain, asyncio.new_event_loop()


def _processed(batch: Batch) -> Batch:
    chain, loop = _chain()
    return loop.run_until_complete(chain.run(batch))


def _log_rows(data: bytes) -> list[Row]:
    request = ExportLogsServiceRequest.FromString(data)
    return _processed(logs_batch(request, len(data))).rows[LOGS.name]


def _metric_rows(data: bytes) -> list[Row]:
    request = ExportMetricsServiceRequest.FromString(data)
    return _processed(metrics_batch(request, len(data))).rows[METRIC_POINTS.name]


def _logs_rejected(body: bytes) -> int:
    response = ExportLogsServiceResponse.FromString(body)
    return response.partial_success.rejected_log_records


def _metrics_rejected(body: bytes) -> int:
    response = ExportMetricsServiceResponse.FromString(body)
    return response.partial_success.rejected_data_points


@dataclass(frozen=True, slots=True)
class Signal:
    """One OTLP signal: its path, its table, and how to build and read it.

    ``request`` builds one export request from a random source and a time;
    ``rows`` gives the rows processing makes of an encoded request, exactly
    as the writer would COPY them; ``rejected`` reads the count of rejected
    records from an encoded export response.
    """

    name: str
    path: str
    table: Table
    request: Callable[[random.Random, int], Message]
    rows: Callable[[bytes], list[Row]]
    rejected: Callable[[bytes], int]


SIGNALS = {
    signal.name: signal
    for signal in (
        Signal("logs", "/v1/logs", LOGS, _logs_request, _log_rows, _logs_rejected),
        Signal(
            "metrics",
            "/v1/metrics",
            METRIC_POINTS,
            _metrics_request,
            _metric_rows,
            _metrics_rejected,
        ),
    )
}


def build_payloads(signal: Signal, count: int, seed: int = 0) -> list[bytes]:
    """``count`` encoded export requests, ten seconds apart, ending now."""
    rng = random.Random(seed)
    now_ns = time.time_ns()
    return [
        signal.request(rng, now_ns - k * 10 * 10**9).SerializeToString()
        for k in range(count)
    ]


def process(
    signal: Signal, payloads: Sequence[bytes], passes: int = 3
) -> tuple[list[Row], float]:
    """The rows processing makes of ``payloads``, and the seconds it takes.

    The time is the best of ``passes`` passes, as timeit reports it: the
    machine is shared, and the best pass is the one least disturbed.
    """
    best_s = math.inf
    rows: list[Row] = []
    for _ in range(max(1, passes)):
        started = time.perf_counter()
        rows = [row for data in payloads for row in signal.rows(data)]
        best_s = min(best_s, time.perf_counter() - started)
    return rows, best_s
