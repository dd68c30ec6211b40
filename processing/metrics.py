"""Turn an OTLP metrics export request into series and point rows.

Each point belongs to a series: one metric name, kind, unit, temporality and
set of resource, scope and point attributes. The series id is a hash of
that identity, so every process derives the same id without asking the
database. Values are stored as sent; the temporality processor adds the
per-interval values in the trailing columns, which start empty here.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Container, Sequence
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    Exemplar,
    ExponentialHistogramDataPoint,
    HistogramDataPoint,
    Metric,
    NumberDataPoint,
    SummaryDataPoint,
)

from processing._values import (
    TooDeepError,
    attributes,
    clean_text,
    from_unix_nano,
    service_of,
    to_json,
)
from processing.batch import Batch, Row, SeriesInfo
from storage.schema import (
    METRIC_EXP_HISTOGRAMS,
    METRIC_HISTOGRAMS,
    METRIC_POINTS,
    METRIC_SUMMARIES,
)

__all__ = ["SeriesIds", "metrics_batch"]

_INT64_MAX = 2**63 - 1
# A series id, its point attributes as sorted JSON, and as a mapping.
_Identity = tuple[int, bytes, dict[str, Any]]
_TEMPORALITY = {0: "unspecified", 1: "delta", 2: "cumulative"}


class _PointError(ValueError):
    """A data point that cannot be stored."""


class SeriesIds:
    """Series ids already derived, by metric identity and point attributes.

    Deriving an id means converting the point attributes, encoding them as
    sorted JSON and hashing; most points belong to series seen a moment
    ago, so the result is remembered by the attributes' protobuf bytes.
    The memo is cleared when it reaches ``max_entries``.
    """

    def __init__(self, max_entries: int = 100_000) -> None:
        self._ids: dict[tuple[int, bytes], _Identity] = {}
        self._max_entries = max_entries

    def get(self, head: bytes, head_key: int, point: Any) -> _Identity:
        """The series id, attribute JSON and attributes of ``point``.

        Raises:
            TooDeepError: the attributes nest too deep to store.
        """
        key = (head_key, b"".join([kv.SerializeToString() for kv in point.attributes]))
        found = self._ids.get(key)
        if found is None:
            attrs = attributes(point.attributes)
            attrs_json = to_json(attrs, sort_keys=True)
            found = (_series_id(head, attrs_json), attrs_json, attrs)
            if len(self._ids) >= self._max_entries:
                self._ids.clear()
            self._ids[key] = found
        return found


def _series_id(head: bytes, point_attrs_json: bytes) -> int:
    # Both parts are JSON with sorted keys, so the same identity always
    # hashes alike, in every process. Changing this encoding changes every
    # id: it is part of the schema.
    digest = hashlib.blake2b(head + point_attrs_json, digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _count(value: int, name: str) -> int:
    if value > _INT64_MAX:
        msg = f"{name} {value} exceeds the largest storable count 2^63-1"
        raise _PointError(msg)
    return value


def _counts(values: Sequence[int], name: str) -> list[int]:
    return [_count(v, name) for v in values]


def _exemplars(exemplars: Sequence[Exemplar]) -> bytes | None:
    if not exemplars:
        return None
    out = []
    for ex in exemplars:
        item: dict[str, Any] = {"time_unix_nano": str(ex.time_unix_nano)}
        if ex.WhichOneof("value") == "as_int":
            item["value"] = ex.as_int
        else:
            item["value"] = ex.as_double
        if ex.trace_id:
            item["trace_id"] = ex.trace_id.hex()
        if ex.span_id:
            item["span_id"] = ex.span_id.hex()
        if ex.filtered_attributes:
            item["filtered_attributes"] = attributes(ex.filtered_attributes)
        out.append(item)
    return to_json(out)


# The points of one export usually share their time and start time, so the
# conversion is memoised.
_to_datetime = functools.lru_cache(maxsize=1024)(from_unix_nano)


def _time(point: Any) -> Any:
    time = _to_datetime(point.time_unix_nano)
    if time is None:
        msg = "data point has no time_unix_nano"
        raise _PointError(msg)
    return time


def _optional(point: Any, name: str) -> float | None:
    return getattr(point, name) if point.HasField(name) else None


def _number_row(sid: int, p: NumberDataPoint) -> Row:
    if p.WhichOneof("value") == "as_int":
        value, int_value = float(p.as_int), p.as_int
    else:
        value, int_value = p.as_double, None
    return (
        _time(p),
        sid,
        _to_datetime(p.start_time_unix_nano),
        value,
        int_value,
        p.flags,
        _exemplars(p.exemplars) if p.exemplars else None,
        None,  # delta
        None,  # conversion
    )


def _histogram_row(sid: int, p: HistogramDataPoint) -> Row:
    if p.bucket_counts and len(p.bucket_counts) != len(p.explicit_bounds) + 1:
        msg = (
            f"histogram point has {len(p.bucket_counts)} bucket counts for "
            f"{len(p.explicit_bounds)} bounds; expected bounds + 1"
        )
        raise _PointError(msg)
    return (
        _time(p),
        sid,
        _to_datetime(p.start_time_unix_nano),
        _count(p.count, "count"),
        _optional(p, "sum"),
        _optional(p, "min"),
        _optional(p, "max"),
        list(p.explicit_bounds),
        _counts(p.bucket_counts, "bucket count"),
        p.flags,
        _exemplars(p.exemplars),
        None,  # delta_count
        None,  # delta_sum
        None,  # delta_bucket_counts
        None,  # conversion
    )


def _exp_histogram_row(sid: int, p: ExponentialHistogramDataPoint) -> Row:
    return (
        _time(p),
        sid,
        _to_datetime(p.start_time_unix_nano),
        _count(p.count, "count"),
        _optional(p, "sum"),
        _optional(p, "min"),
        _optional(p, "max"),
        p.scale,
        _count(p.zero_count, "zero_count"),
        p.zero_threshold,
        p.positive.offset,
        _counts(p.positive.bucket_counts, "bucket count"),
        p.negative.offset,
        _counts(p.negative.bucket_counts, "bucket count"),
        p.flags,
        _exemplars(p.exemplars),
    )


def _summary_row(sid: int, p: SummaryDataPoint) -> Row:
    return (
        _time(p),
        sid,
        _to_datetime(p.start_time_unix_nano),
        _count(p.count, "count"),
        p.sum,
        [q.quantile for q in p.quantile_values],
        [q.value for q in p.quantile_values],
        p.flags,
    )


_ROW_BUILDERS: dict[str, tuple[str, Callable[[int, Any], Row]]] = {
    "gauge": (METRIC_POINTS.name, _number_row),
    "sum": (METRIC_POINTS.name, _number_row),
    "histogram": (METRIC_HISTOGRAMS.name, _histogram_row),
    "exponential_histogram": (METRIC_EXP_HISTOGRAMS.name, _exp_histogram_row),
    "summary": (METRIC_SUMMARIES.name, _summary_row),
}


def _kind_fields(metric: Metric, kind: str) -> tuple[Any, str | None, bool | None]:
    data = getattr(metric, kind)
    temporality = None
    monotonic = None
    if kind in {"sum", "histogram", "exponential_histogram"}:
        temporality = _TEMPORALITY.get(data.aggregation_temporality, "unspecified")
    if kind == "sum":
        monotonic = data.is_monotonic
    return data, temporality, monotonic


class _MetricContext:
    """What every point of one scope shares, computed once."""

    def __init__(self, resource: dict[str, Any], scope: Any, schema_url: str):
        self.resource = resource
        self.resource_json = to_json(resource)
        self.service = service_of(resource)
        self.scope_name = clean_text(scope.name)
        self.scope_version = clean_text(scope.version)
        self.scope_attributes = attributes(scope.attributes)
        self.scope_attributes_json = to_json(self.scope_attributes)
        self.schema_url = schema_url


def _add_metric(
    batch: Batch,
    ctx: _MetricContext,
    metric: Metric,
    known: Container[int],
    ids: SeriesIds,
) -> None:
    kind = metric.WhichOneof("data")
    if kind is None:
        return
    data, temporality, monotonic = _kind_fields(metric, kind)
    table, build = _ROW_BUILDERS[kind]
    name = clean_text(metric.name)
    unit = clean_text(metric.unit)
    metadata_json = to_json(attributes(metric.metadata) if metric.metadata else {})
    identity_head = to_json(
        [
            name,
            kind,
            unit,
            temporality,
            monotonic,
            ctx.resource,
            ctx.scope_name,
            ctx.scope_version,
            ctx.scope_attributes,
        ],
        sort_keys=True,
    )
    # A digest of the identity keys the memo, so it need not hold the bytes.
    head_key = _series_id(identity_head, b"")
    rows = batch.rows.setdefault(table, [])
    before = len(rows)
    for point in data.data_points:
        try:
            sid, attrs_json, attrs = ids.get(identity_head, head_key, point)
            row = build(sid, point)
        except (_PointError, TooDeepError) as exc:
            batch.reject(ctx.service, f"metric {name!r}: {exc}")
            continue
        if sid not in batch.series_info:
            batch.series_info[sid] = SeriesInfo(
                name, kind, unit, temporality, monotonic, ctx.service, attrs
            )
        # A series the writer has committed needs no catalogue row again.
        if sid not in known and sid not in batch.series:
            batch.series[sid] = (
                sid,
                name,
                kind,
                unit,
                clean_text(metric.description),
                temporality,
                monotonic,
                ctx.service,
                ctx.resource_json,
                ctx.scope_name,
                ctx.scope_version,
                ctx.scope_attributes_json,
                attrs_json,
                metadata_json,
                ctx.schema_url,
            )
        rows.append(row)
    batch.accepted[ctx.service] += len(rows) - before


def _points(metric: Metric) -> int:
    kind = metric.WhichOneof("data")
    return 0 if kind is None else len(getattr(metric, kind).data_points)


def metrics_batch(
    request: ExportMetricsServiceRequest,
    nbytes: int = 0,
    known: Container[int] = frozenset(),
    ids: SeriesIds | None = None,
) -> Batch:
    """Flatten a metrics export request into series and point rows.

    ``known`` holds series ids already in the catalogue; only series outside
    it get a catalogue row. ``ids`` remembers derived series ids across
    calls; without it, each call starts afresh.
    """
    ids = SeriesIds() if ids is None else ids
    batch = Batch("metrics", nbytes=nbytes)
    for resource_metrics in request.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            try:
                ctx = _MetricContext(
                    attributes(resource_metrics.resource.attributes),
                    scope_metrics.scope,
                    scope_metrics.schema_url or resource_metrics.schema_url,
                )
            except TooDeepError as exc:
                lost = sum(_points(m) for m in scope_metrics.metrics)
                for _ in range(lost):
                    batch.reject("unknown_service", f"resource or scope {exc}")
                continue
            for metric in scope_metrics.metrics:
                _add_metric(batch, ctx, metric, known, ids)
    return batch
