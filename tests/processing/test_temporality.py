"""Cumulative sums and histograms become per-interval values, resets found."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    AGGREGATION_TEMPORALITY_CUMULATIVE,
    AGGREGATION_TEMPORALITY_DELTA,
)

from processing.metrics import metrics_batch
from processing.temporality import TemporalityProcessor
from storage.schema import METRIC_HISTOGRAMS, METRIC_POINTS

S = 1_000_000_000
T0 = 1_700_000_000 * S


def _sum_request(
    points: list[tuple[int, int, float]],
    temporality: int = AGGREGATION_TEMPORALITY_CUMULATIVE,
    monotonic: bool = True,
) -> ExportMetricsServiceRequest:
    """A sum with points given as (start offset s, time offset s, value)."""
    request = ExportMetricsServiceRequest()
    metric = request.resource_metrics.add().scope_metrics.add().metrics.add()
    metric.name = "requests"
    metric.sum.aggregation_temporality = temporality
    metric.sum.is_monotonic = monotonic
    for start, time, value in points:
        point = metric.sum.data_points.add()
        point.start_time_unix_nano = T0 + start * S if start >= 0 else 0
        point.time_unix_nano = T0 + time * S
        point.as_double = value
    return request


def _histogram_request(
    points: list[tuple[int, int, list[int]]],
    bounds: tuple[float, ...] = (10.0, 100.0),
    temporality: int = AGGREGATION_TEMPORALITY_CUMULATIVE,
) -> ExportMetricsServiceRequest:
    request = ExportMetricsServiceRequest()
    metric = request.resource_metrics.add().scope_metrics.add().metrics.add()
    metric.name = "latency"
    metric.histogram.aggregation_temporality = temporality
    for start, time, counts in points:
        point = metric.histogram.data_points.add()
        point.start_time_unix_nano = T0 + start * S
        point.time_unix_nano = T0 + time * S
        point.explicit_bounds.extend(bounds)
        point.bucket_counts.extend(counts)
        point.count = sum(counts)
        point.sum = float(sum(counts) * 5)
    return request


def _convert(
    processor: TemporalityProcessor, request: ExportMetricsServiceRequest
) -> list[dict[str, Any]]:
    batch = metrics_batch(request)
    asyncio.run(processor(batch))
    table = METRIC_POINTS if batch.rows.get(METRIC_POINTS.name) else METRIC_HISTOGRAMS
    rows = [
        dict(zip(table.column_names, r, strict=True)) for r in batch.rows[table.name]
    ]
    return sorted(rows, key=lambda r: r["time"])


def _deltas(rows: list[dict[str, Any]]) -> list[tuple[Any, str]]:
    return [(r["delta"], r["conversion"]) for r in rows]


def test_cumulative_sum_becomes_deltas_across_resets() -> None:
    """Steps are differences; a new start time or a decrease starts a new run
    counted from zero, never a negative delta."""
    points = [
        (0, 10, 5.0),
        (0, 20, 8.0),
        (0, 30, 12.0),
        (35, 40, 2.0),  # new start time
        (35, 50, 7.0),
        (35, 60, 3.0),  # went down with the same start time
    ]
    rows = _convert(TemporalityProcessor(), _sum_request(points))
    assert _deltas(rows) == [
        (5.0, "start"),
        (3.0, "step"),
        (4.0, "step"),
        (2.0, "reset"),
        (5.0, "step"),
        (3.0, "reset"),
    ]
    assert [r["value"] for r in rows] == [p[2] for p in points]


def test_points_out_of_order_in_one_request_are_converted_in_time_order() -> None:
    """The order inside a request does not change the deltas."""
    points = [(0, t * 10, float(t * t)) for t in range(1, 9)]
    shuffled = points[:]
    random.Random(7).shuffle(shuffled)
    in_order = _deltas(_convert(TemporalityProcessor(), _sum_request(points)))
    assert _deltas(_convert(TemporalityProcessor(), _sum_request(shuffled))) == in_order


def test_late_point_is_marked_and_not_counted_twice() -> None:
    """A point older than one already converted gets no delta, so the sum of
    deltas still equals the total increase."""
    processor = TemporalityProcessor()
    first = _convert(processor, _sum_request([(0, 10, 1.0), (0, 30, 9.0)]))
    late = _convert(processor, _sum_request([(0, 20, 4.0)]))
    after = _convert(processor, _sum_request([(0, 40, 10.0)]))
    assert _deltas(late) == [(None, "late")]
    assert _deltas(after) == [(1.0, "step")]
    counted = [d for d, _ in _deltas(first + late + after) if d is not None]
    assert sum(counted) == 10.0


def test_first_point_without_start_time_is_kept_raw() -> None:
    """With no start time the first value's interval is unknown: no delta."""
    rows = _convert(
        TemporalityProcessor(), _sum_request([(-1, 10, 4.0), (-1, 20, 6.0)])
    )
    assert _deltas(rows) == [(None, "raw"), (2.0, "step")]


def test_delta_sums_are_kept_as_sent_and_non_monotonic_cumulative_untouched() -> None:
    """Delta input is already per interval; an up-down counter is a level."""
    delta = _convert(
        TemporalityProcessor(),
        _sum_request([(0, 10, 3.0), (10, 20, 2.0)], AGGREGATION_TEMPORALITY_DELTA),
    )
    assert _deltas(delta) == [(3.0, "delta"), (2.0, "delta")]
    level = _convert(
        TemporalityProcessor(),
        _sum_request([(0, 10, 3.0), (0, 20, 1.0)], monotonic=False),
    )
    assert _deltas(level) == [(None, None), (None, None)]


def test_cumulative_histogram_buckets_become_deltas_with_reset() -> None:
    """Counts, sums and every bucket are differenced; a bucket that goes
    down starts a new run."""
    rows = _convert(
        TemporalityProcessor(),
        _histogram_request(
            [(0, 10, [1, 2, 0]), (0, 20, [3, 2, 1]), (0, 30, [1, 0, 0])]
        ),
    )
    got = [
        (r["delta_count"], r["delta_sum"], r["delta_bucket_counts"], r["conversion"])
        for r in rows
    ]
    assert got == [
        (3, 15.0, [1, 2, 0], "start"),
        (3, 15.0, [2, 0, 1], "step"),
        (1, 5.0, [1, 0, 0], "reset"),
    ]


def test_histogram_bounds_change_starts_a_new_run() -> None:
    """Buckets with other bounds cannot be differenced."""
    processor = TemporalityProcessor()
    _convert(processor, _histogram_request([(0, 10, [1, 1, 1])]))
    rows = _convert(processor, _histogram_request([(0, 20, [2, 2, 2])], (5.0, 50.0)))
    assert [(r["delta_count"], r["conversion"]) for r in rows] == [(6, "reset")]


def test_failed_write_forgets_state_so_the_retry_converts_again() -> None:
    """When a batch is not stored, its series' state is dropped: the retried
    points are converted afresh rather than marked late."""
    processor = TemporalityProcessor()
    _convert(processor, _sum_request([(0, 10, 1.0)]))
    batch = metrics_batch(_sum_request([(0, 20, 5.0)]))
    asyncio.run(processor(batch))
    processor.committed(batch, stored=False)
    retried = _convert(processor, _sum_request([(0, 20, 5.0)]))
    assert _deltas(retried) == [(5.0, "start")]
