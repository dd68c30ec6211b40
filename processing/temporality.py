"""Per-interval values for cumulative sums and histograms.

OTLP senders report a monotonic sum or a histogram either as deltas or as
cumulative totals since a start time. Rollups need per-interval values, so
this processor fills the ``delta`` columns of each point, keeping the value
as sent beside it. The OTel metrics data model defines a reset as a new
``start_time_unix_nano``; a total that goes down is a reset too, as for
Prometheus counters. After a reset the delta counts from zero.

The last point of each series is remembered. On a miss, or when this
process has not seen a series for ``state_ttl_s``, it is read back from
the database, so the conversion survives restarts and works when several
receivers share a database.
"""

from __future__ import annotations

import time as _time
from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from processing.batch import Batch, Row
from processing.chain import ProcessorContext
from storage.schema import METRIC_HISTOGRAMS, METRIC_POINTS

__all__ = [
    "HistogramState",
    "LastPoints",
    "SumState",
    "TemporalityProcessor",
]

_P = {name: i for i, name in enumerate(METRIC_POINTS.column_names)}
_H = {name: i for i, name in enumerate(METRIC_HISTOGRAMS.column_names)}


@dataclass(frozen=True, slots=True)
class SumState:
    """The last converted point of a cumulative monotonic sum."""

    start: datetime | None
    time: datetime
    value: float


@dataclass(frozen=True, slots=True)
class HistogramState:
    """The last converted point of a cumulative histogram."""

    start: datetime | None
    time: datetime
    count: int
    sum: float | None
    bounds: tuple[float, ...]
    counts: tuple[int, ...]


State = SumState | HistogramState


class LastPoints(Protocol):
    """Reads the last converted point of series back from storage."""

    async def sums(self, series_ids: Sequence[int]) -> dict[int, SumState]: ...

    async def histograms(
        self, series_ids: Sequence[int]
    ) -> dict[int, HistogramState]: ...


@dataclass(slots=True)
class _Entry:
    state: State | None
    touched_s: float


def _is_reset(start: datetime | None, previous: State) -> bool:
    return start is not None and previous.start is not None and start != previous.start


def _convert_sum(row: Row, previous: SumState | None) -> tuple[Row, SumState | None]:
    """The row with delta and conversion set, and the state after it."""
    t, start, value = row[_P["time"]], row[_P["start_time"]], row[_P["value"]]
    head = row[: _P["delta"]]
    state = SumState(start, t, value)
    if previous is None:
        if start is None:
            return (*head, None, "raw"), state
        return (*head, value, "start"), state
    if t <= previous.time:
        return (*head, None, "late"), None
    if _is_reset(start, previous) or value < previous.value:
        return (*head, value, "reset"), state
    return (*head, value - previous.value, "step"), state


def _hist_state(row: Row) -> HistogramState:
    return HistogramState(
        row[_H["start_time"]],
        row[_H["time"]],
        row[_H["count"]],
        row[_H["sum"]],
        tuple(row[_H["bounds"]]),
        tuple(row[_H["bucket_counts"]]),
    )


def _went_down(now: HistogramState, previous: HistogramState) -> bool:
    if now.count < previous.count:
        return True
    return any(a < b for a, b in zip(now.counts, previous.counts, strict=False))


def _convert_histogram(
    row: Row, previous: HistogramState | None
) -> tuple[Row, HistogramState | None]:
    """The row with its delta columns set, and the state after it."""
    state = _hist_state(row)
    head = row[: _H["delta_count"]]
    as_sent = (state.count, state.sum, list(state.counts))
    if previous is None:
        if state.start is None:
            return (*head, None, None, None, "raw"), state
        return (*head, *as_sent, "start"), state
    if state.time <= previous.time:
        return (*head, None, None, None, "late"), None
    if (
        _is_reset(state.start, previous)
        or state.bounds != previous.bounds
        or len(state.counts) != len(previous.counts)
        or _went_down(state, previous)
    ):
        return (*head, *as_sent, "reset"), state
    delta_sum = None
    if state.sum is not None and previous.sum is not None:
        delta_sum = state.sum - previous.sum
    counts = [a - b for a, b in zip(state.counts, previous.counts, strict=True)]
    return (*head, state.count - previous.count, delta_sum, counts, "step"), state


def _as_sent_sum(row: Row) -> Row:
    return (*row[: _P["delta"]], row[_P["value"]], "delta")


def _as_sent_histogram(row: Row) -> Row:
    as_sent = (row[_H["count"]], row[_H["sum"]], row[_H["bucket_counts"]])
    return (*row[: _H["delta_count"]], *as_sent, "delta")


class TemporalityProcessor:
    """Fills the per-interval columns of sums and histograms; see the module."""

    def __init__(
        self,
        last_points: LastPoints | None = None,
        state_ttl_s: float = 1.0,
        max_series: int = 200_000,
        clock: Callable[[], float] = _time.monotonic,
    ) -> None:
        self._last_points = last_points
        self._ttl_s = state_ttl_s
        self._max_series = max_series
        self._clock = clock
        self._states: OrderedDict[int, _Entry] = OrderedDict()
        self._inflight: Counter[int] = Counter()
        # The series each batch in flight converted, by the batch's id.
        self._converted: dict[int, tuple[int, ...]] = {}

    @classmethod
    def from_context(cls, context: ProcessorContext) -> TemporalityProcessor:
        """The processor with the storage reader the service provides."""
        ttl_s = float(context.options.get("state_ttl_s", 1.0))
        return cls(context.services.get("last_points"), ttl_s)

    async def __call__(self, batch: Batch) -> None:
        """Convert the batch's sums and histograms."""
        sums = self._plan(batch, METRIC_POINTS.name, "sum", _as_sent_sum)
        hists = self._plan(
            batch, METRIC_HISTOGRAMS.name, "histogram", _as_sent_histogram
        )
        await self._load(sums, hists)
        now_s = self._clock()
        self._apply(batch.rows.get(METRIC_POINTS.name, []), sums, now_s, _convert_sum)
        self._apply(
            batch.rows.get(METRIC_HISTOGRAMS.name, []), hists, now_s, _convert_histogram
        )
        converted = (*sums, *hists)
        self._inflight.update(converted)
        self._converted[id(batch)] = converted

    def committed(self, batch: Batch, stored: bool) -> None:
        """Forget the state of series whose points were not stored.

        Their next point is then compared with what the database holds.
        """
        for sid in self._converted.pop(id(batch), ()):
            self._inflight[sid] -= 1
            if self._inflight[sid] <= 0:
                del self._inflight[sid]
            if not stored:
                self._states.pop(sid, None)

    def _plan(
        self,
        batch: Batch,
        table: str,
        kind: str,
        as_sent: Callable[[Row], Row],
    ) -> dict[int, list[int]]:
        """Convert delta points at once; return cumulative row indexes by series."""
        rows = batch.rows.get(table)
        planned: dict[int, list[int]] = {}
        if not rows:
            return planned
        for i, row in enumerate(rows):
            info = batch.series_info.get(row[1])
            if info is None or info.kind != kind:
                continue
            if info.temporality == "delta":
                rows[i] = as_sent(row)
            elif info.temporality == "cumulative" and info.is_monotonic is not False:
                planned.setdefault(row[1], []).append(i)
        return planned

    def _stale(self, sid: int, now_s: float) -> bool:
        entry = self._states.get(sid)
        if entry is None:
            return True
        return now_s - entry.touched_s >= self._ttl_s and not self._inflight[sid]

    async def _load(
        self, sums: dict[int, list[int]], hists: dict[int, list[int]]
    ) -> None:
        now_s = self._clock()
        missing_sums = [sid for sid in sums if self._stale(sid, now_s)]
        missing_hists = [sid for sid in hists if self._stale(sid, now_s)]
        found: dict[int, Any] = {}
        if self._last_points is not None:
            if missing_sums:
                found.update(await self._last_points.sums(missing_sums))
            if missing_hists:
                found.update(await self._last_points.histograms(missing_hists))
        for sid in (*missing_sums, *missing_hists):
            self._remember(sid, found.get(sid), now_s)

    def _apply(
        self,
        rows: list[Row],
        planned: dict[int, list[int]],
        now_s: float,
        convert: Callable[[Row, Any], tuple[Row, Any]],
    ) -> None:
        for sid, indexes in planned.items():
            # Points of one request may come in any order: convert in time
            # order, so that only points older than stored ones are late.
            indexes.sort(key=lambda i: rows[i][0])
            entry = self._states[sid]
            state = entry.state
            for i in indexes:
                rows[i], after = convert(rows[i], state)
                if after is not None:
                    state = after
            self._remember(sid, state, now_s)

    def _remember(self, sid: int, state: State | None, now_s: float) -> None:
        self._states.pop(sid, None)
        if len(self._states) >= self._max_series:
            self._states.popitem(last=False)
        self._states[sid] = _Entry(state, now_s)
