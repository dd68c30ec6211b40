"""The simple JSON batch format, for senders without an OpenTelemetry SDK.

Logs (``POST /api/ingest/logs``)::

    {"logs": [{"time": "2026-12-03T10:00:00Z", "service": "checkout",
               "severity": "ERROR", "body": "payment failed",
               "attributes": {"order.id": 42}, "resource": {"host.name": "a"},
               "trace_id": "5b8efff798038103d269b633813fc60c",
               "span_id": "eee19b7ec3c1b174"}]}

Metrics (``POST /api/ingest/metrics``)::

    {"metrics": [{"name": "queue.depth", "kind": "gauge", "value": 12,
                  "time": 1764756000.5, "service": "orders", "unit": "1",
                  "attributes": {"queue": "orders"}},
                 {"name": "jobs.done", "kind": "sum", "value": 5,
                  "temporality": "delta", "monotonic": true, "start_time": ...},
                 {"name": "http.server.request.duration", "kind": "histogram",
                  "unit": "s", "bounds": [0.1, 0.5], "counts": [3, 1, 0],
                  "sum": 0.9, "time": ...}]}

Only ``body`` (logs) and ``name``, ``kind`` and ``value`` or ``counts``
(metrics) are required. ``time`` is an ISO 8601 string or Unix seconds and
defaults to now. Items become OTLP records and are stored through the same
path as OTLP exports; a bad item is refused with its index and field named.
"""

from __future__ import annotations

import math
import time as _time
from datetime import UTC, datetime
from typing import Any, NoReturn

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import SeverityNumber
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality

from flowguard.errors import DecodeError

__all__ = ["logs_request", "metrics_request"]

_INT64 = (-(2**63), 2**63 - 1)
_MAX_NANOS = 2**64 - 1
_LEVELS: dict[str, Any] = {
    "TRACE": SeverityNumber.SEVERITY_NUMBER_TRACE,
    "DEBUG": SeverityNumber.SEVERITY_NUMBER_DEBUG,
    "INFO": SeverityNumber.SEVERITY_NUMBER_INFO,
    "WARN": SeverityNumber.SEVERITY_NUMBER_WARN,
    "WARNING": SeverityNumber.SEVERITY_NUMBER_WARN,
    "ERROR": SeverityNumber.SEVERITY_NUMBER_ERROR,
    "FATAL": SeverityNumber.SEVERITY_NUMBER_FATAL,
    "CRITICAL": SeverityNumber.SEVERITY_NUMBER_FATAL,
}
_TEMPORALITIES: dict[Any, Any] = {
    "delta": AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA,
    "cumulative": AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE,
}


class _ItemError(DecodeError):
    pass


def _fail(where: str, problem: str) -> NoReturn:
    message = f"{where}: {problem}"
    raise _ItemError(message)


def _nanos(where: str, value: Any) -> int:
    if value is None:
        return _time.time_ns()
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        _fail(where, f"expected ISO 8601 text or Unix seconds, got {value!r}")
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            _fail(where, f"not an ISO 8601 time: {value!r}")
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        seconds = moment.timestamp()
    else:
        seconds = float(value)
    if not math.isfinite(seconds) or not 0 <= seconds * 1e9 <= _MAX_NANOS:
        _fail(where, f"time {value!r} is outside 1970-01-01 to 2554-07-21")
    return round(seconds * 1e9)


def _any_value(where: str, value: Any, out: AnyValue, depth: int = 0) -> None:
    if depth > 32:
        _fail(where, "value nests deeper than 32 levels")
    if value is None:
        return
    if isinstance(value, bool):
        out.bool_value = value
    elif isinstance(value, int):
        if not _INT64[0] <= value <= _INT64[1]:
            _fail(where, f"integer {value} does not fit in 64 bits")
        out.int_value = value
    elif isinstance(value, float):
        out.double_value = value
    elif isinstance(value, str):
        out.string_value = value
    elif isinstance(value, list):
        array = out.array_value
        for i, item in enumerate(value):
            _any_value(f"{where}[{i}]", item, array.values.add(), depth + 1)
    elif isinstance(value, dict):
        _key_values(where, value, out.kvlist_value.values, depth + 1)
    else:
        _fail(where, f"unsupported value {value!r}")


def _key_values(where: str, mapping: Any, out: Any, depth: int = 0) -> None:
    if mapping is None:
        return
    if not isinstance(mapping, dict):
        _fail(where, f"expected an object, got {type(mapping).__name__}")
    for key, value in mapping.items():
        kv: KeyValue = out.add()
        kv.key = key
        _any_value(f"{where}.{key}", value, kv.value, depth)


def _items(payload: Any, key: str) -> list[Any]:
    items = payload.get(key) if isinstance(payload, dict) else payload
    if not isinstance(items, list):
        msg = f'expected {{"{key}": [...]}} or a JSON array of {key}'
        raise DecodeError(msg)
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            _fail(f"{key}[{i}]", "expected an object")
    return items


def _text(where: str, item: dict[str, Any], key: str, default: str = "") -> str:
    value = item.get(key, default)
    if not isinstance(value, str):
        _fail(f"{where}.{key}", f"expected a string, got {value!r}")
    return value


def _hex(where: str, value: Any, size: int) -> bytes:
    if value is None:
        return b""
    try:
        raw = bytes.fromhex(value)
    except (TypeError, ValueError):
        _fail(where, f"expected {size * 2} hex digits, got {value!r}")
    if len(raw) != size:
        _fail(where, f"expected {size * 2} hex digits, got {value!r}")
    return raw


def logs_request(payload: Any) -> ExportLogsServiceRequest:
    """Build an OTLP logs request; raises DecodeError naming the bad item."""
    request = ExportLogsServiceRequest()
    for i, item in enumerate(_items(payload, "logs")):
        where = f"logs[{i}]"
        resource_logs = request.resource_logs.add()
        resource = dict(item.get("resource") or {})
        resource.setdefault(
            "service.name", _text(where, item, "service", "unknown_service")
        )
        _key_values(f"{where}.resource", resource, resource_logs.resource.attributes)
        record = resource_logs.scope_logs.add().log_records.add()
        if "body" not in item:
            _fail(where, "body is required")
        _any_value(f"{where}.body", item["body"], record.body)
        record.time_unix_nano = _nanos(f"{where}.time", item.get("time"))
        severity = _text(where, item, "severity")
        record.severity_text = severity
        record.severity_number = _LEVELS.get(severity.upper(), 0)
        _key_values(f"{where}.attributes", item.get("attributes"), record.attributes)
        record.trace_id = _hex(f"{where}.trace_id", item.get("trace_id"), 16)
        record.span_id = _hex(f"{where}.span_id", item.get("span_id"), 8)
    return request


def _number(where: str, value: Any) -> float | int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        _fail(where, f"expected a number, got {value!r}")
    return value


def _set_number(where: str, point: Any, value: Any) -> None:
    number = _number(where, value)
    if isinstance(number, int) and _INT64[0] <= number <= _INT64[1]:
        point.as_int = number
    else:
        point.as_double = float(number)


def _histogram(where: str, item: dict[str, Any], point: Any) -> None:
    bounds = item.get("bounds", [])
    counts = item.get("counts")
    if not isinstance(bounds, list) or not isinstance(counts, list):
        _fail(where, "histogram needs lists 'bounds' and 'counts'")
    if len(counts) != len(bounds) + 1:
        _fail(
            where,
            f"{len(counts)} counts for {len(bounds)} bounds; "
            "need one more count than bounds",
        )
    point.explicit_bounds.extend(float(_number(f"{where}.bounds", b)) for b in bounds)
    for c in counts:
        if isinstance(c, bool) or not isinstance(c, int) or not 0 <= c <= _INT64[1]:
            _fail(f"{where}.counts", f"expected a count, got {c!r}")
        point.bucket_counts.append(c)
    point.count = int(item.get("count", sum(counts)))
    if "sum" in item:
        point.sum = float(_number(f"{where}.sum", item["sum"]))


def metrics_request(payload: Any) -> ExportMetricsServiceRequest:
    """Build an OTLP metrics request; raises DecodeError naming the bad item."""
    request = ExportMetricsServiceRequest()
    for i, item in enumerate(_items(payload, "metrics")):
        where = f"metrics[{i}]"
        resource_metrics = request.resource_metrics.add()
        resource = dict(item.get("resource") or {})
        resource.setdefault(
            "service.name", _text(where, item, "service", "unknown_service")
        )
        _key_values(f"{where}.resource", resource, resource_metrics.resource.attributes)
        metric = resource_metrics.scope_metrics.add().metrics.add()
        metric.name = _text(where, item, "name")
        if not metric.name:
            _fail(where, "name is required")
        metric.unit = _text(where, item, "unit")
        metric.description = _text(where, item, "description")
        kind = item.get("kind", "gauge")
        temporality = _TEMPORALITIES.get(item.get("temporality", "cumulative"))
        if temporality is None:
            _fail(f"{where}.temporality", "expected 'delta' or 'cumulative'")
        if kind == "gauge":
            point: Any = metric.gauge.data_points.add()
        elif kind == "sum":
            metric.sum.aggregation_temporality = temporality
            metric.sum.is_monotonic = bool(item.get("monotonic", True))
            point = metric.sum.data_points.add()
        elif kind == "histogram":
            metric.histogram.aggregation_temporality = temporality
            point = metric.histogram.data_points.add()
            _histogram(where, item, point)
        else:
            _fail(f"{where}.kind", f"expected gauge, sum or histogram, got {kind!r}")
        if kind != "histogram":
            if "value" not in item:
                _fail(where, "value is required")
            _set_number(f"{where}.value", point, item["value"])
        point.time_unix_nano = _nanos(f"{where}.time", item.get("time"))
        if "start_time" in item:
            point.start_time_unix_nano = _nanos(
                f"{where}.start_time", item["start_time"]
            )
        _key_values(f"{where}.attributes", item.get("attributes"), point.attributes)
    return request
