"""Read queries behind the JSON API: logs, metric series and points, KPIs
and log patterns.

Every query of time-keyed rows is bounded by a time range, so it reads
only the chunks and index ranges of that range, and each filter is written
in the form its index in ``migrations/`` serves: ``@>`` for JSONB and tag
containment, ``ILIKE`` for body text, ``= ANY`` for services. Functions
take a connection or a pool and return plain dicts and lists; times stay
timezone-aware datetimes for the caller to format.

Logs are paged newest first with a keyset cursor; see ``LogCursor``.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from flowguard.errors import FlowGuardError
from storage.rollups import KPI_VIEWS
from storage.schema import LOGS, METRIC_SERIES

__all__ = [
    "AGGREGATIONS",
    "KPI_FIELDS",
    "LOG_COLUMNS",
    "SERIES_COLUMNS",
    "LogCursor",
    "LogFilter",
    "LogPage",
    "MetricQuery",
    "QueryError",
    "SeriesFilter",
    "Source",
    "TimeRange",
    "attribute_values",
    "kpis",
    "log_page",
    "metric_data",
    "pattern_counts",
    "search_series",
]

Source = psycopg.AsyncConnection | AsyncConnectionPool

# Every column of ``logs`` and of ``metric_series``: the writer fills all
# but the series' first_seen, which the database sets.
LOG_COLUMNS = LOGS.column_names
SERIES_COLUMNS = (*METRIC_SERIES.column_names, "first_seen")

# The KPI view columns the API returns per bucket.
KPI_FIELDS = (
    "requests",
    "errors",
    "error_rate",
    "throughput_rps",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "mean_ms",
    "logs",
    "error_logs",
    "warn_logs",
    "new_patterns",
)

AGGREGATIONS = ("sum", "avg", "min", "max", "rate", "quantile")

# Combining more series than this in one request is refused: such a query
# belongs in a rollup or in SQL, not in a chart.
_MAX_SERIES = 5000
_MAX_RAW_POINTS = 10_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_INTEGER = re.compile(r"-?(0|[1-9]\d*)")
_NUMBER = re.compile(r"-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?")


class QueryError(FlowGuardError):
    """A query asks for something the stored data cannot answer as asked."""


@dataclass(frozen=True, slots=True)
class TimeRange:
    """The half-open range ``start <= time < end``."""

    start: datetime
    end: datetime

    @property
    def length(self) -> timedelta:
        """How long the range is."""
        return self.end - self.start


@dataclass(slots=True)
class _Where:
    """Conditions joined by AND, with their bound parameters in order."""

    parts: list[sql.Composable] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)

    def add(self, clause: str | sql.Composable, *params: Any) -> None:
        self.parts.append(sql.SQL(clause) if isinstance(clause, str) else clause)
        self.params.extend(params)

    def contains(self, column: str, key: str, text: str) -> None:
        # One containment test per reading of the text, so each one can
        # use the GIN index and the bitmap scans are OR-ed.
        values = attribute_values(text)
        tests = [sql.SQL("{} @> %s").format(sql.Identifier(column)) for _ in values]
        self.add(sql.SQL("({})").format(sql.SQL(" OR ").join(tests)))
        self.params.extend(Jsonb({key: value}) for value in values)

    def sql(self) -> sql.Composable:
        return sql.SQL(" AND ").join(self.parts) if self.parts else sql.SQL("true")


def attribute_values(text: str) -> list[Any]:
    """The JSON values an attribute given as text may be stored as.

    A URL carries text only: ``42`` matches the string "42" and the number
    42 (JSONB compares numbers by value, so 42.0 too), and ``true`` the
    string and the boolean.
    """
    values: list[Any] = [text]
    if text in ("true", "false"):
        values.append(text == "true")
    elif _INTEGER.fullmatch(text):
        values.append(int(text))
    elif _NUMBER.fullmatch(text) and math.isfinite(float(text)):
        values.append(float(text))
    return values


def _like_pattern(text: str) -> str:
    """``text`` as a substring pattern for LIKE, its metacharacters escaped."""
    return "%" + re.sub(r"([\\%_])", r"\\\1", text) + "%"


async def _rows(
    source: Source, query: sql.Composed | sql.SQL, params: Sequence[Any]
) -> list[dict[str, Any]]:
    if isinstance(source, AsyncConnectionPool):
        async with source.connection() as conn:
            return await _rows(conn, query, params)
    async with source.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, params)
        return await cur.fetchall()


# Logs ---------------------------------------------------------------------

# Records are ordered by time and then by a digest of every other column,
# which orders records of equal time the same way in every query. Times
# enter the digest as epoch numbers so the session's time zone cannot
# change it. Records equal in every column are interchangeable; the cursor
# counts how many of those a page has already returned.
_ROW_KEY = sql.SQL(
    "md5(jsonb_build_array(extract(epoch FROM observed_time), service,"
    " severity_number, severity_text, severity_inferred, body, body_value,"
    " attributes, resource, scope_name, scope_version, scope_attributes,"
    " trace_id, span_id, flags, dropped_attributes_count, event_name,"
    " schema_url, pattern_id, tags)::text)::uuid"
)


@dataclass(frozen=True, slots=True)
class LogCursor:
    """Where a page of logs ended: the last record's time and row key, and
    how many records with exactly that time and key were returned so far.

    A page after the cursor holds the records whose (time, key) is at most
    the cursor's, newest first, skipping ``seen`` of them: those with an
    equal time and key come first in that order and were already returned.
    """

    time: datetime
    key: str
    seen: int = 1

    def encode(self) -> str:
        """The cursor as opaque URL-safe text."""
        micros = (self.time - _EPOCH) // timedelta(microseconds=1)
        fields = [micros, uuid.UUID(self.key).hex, self.seen]
        raw = json.dumps(fields, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> LogCursor:
        """The cursor ``encode`` made.

        Raises:
            ValueError: ``text`` is not such a cursor.
        """
        msg = "not a cursor from this API"
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            fields = json.loads(raw)
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise ValueError(msg) from None
        if not (
            isinstance(fields, list)
            and [type(f) for f in fields] == [int, str, int]
            and fields[2] >= 1
        ):
            raise ValueError(msg)

        micros, key, seen = fields
        try:
            moment = _EPOCH + timedelta(microseconds=micros)
            return cls(moment, str(uuid.UUID(hex=key)), seen)
        except (ValueError, OverflowError):
            raise ValueError(msg) from None


@dataclass(frozen=True, slots=True)
class LogFilter:
    """Which log records to return; every condition must hold.

    ``attributes`` pairs a key with the value as text (see
    ``attribute_values``); ``text`` is a case-insensitive substring of
    the body.
    """

    range: TimeRange
    services: tuple[str, ...] = ()
    min_severity: int | None = None
    pattern_id: int | None = None
    tags: tuple[str, ...] = ()
    trace_id: str | None = None
    attributes: tuple[tuple[str, str], ...] = ()
    text: str | None = None


@dataclass(frozen=True, slots=True)
class LogPage:
    """One page of log records, newest first, and the cursor to the next."""

    items: list[dict[str, Any]]
    next_cursor: LogCursor | None


def _log_conditions(where: LogFilter) -> _Where:
    found = _Where()
    found.add("time >= %s AND time < %s", where.range.start, where.range.end)
    if where.services:
        found.add("service = ANY(%s)", list(where.services))
    if where.min_severity is not None:
        found.add("severity_number >= %s", where.min_severity)
    if where.pattern_id is not None:
        found.add("pattern_id = %s", where.pattern_id)
    if where.tags:
        found.add("tags @> %s::text[]", list(where.tags))
    if where.trace_id is not None:
        found.add("trace_id = %s", where.trace_id)
    for key, text in where.attributes:
        found.contains("attributes", key, text)
    if where.text:
        found.add("body ILIKE %s", _like_pattern(where.text))
    return found


def _next_cursor(items: list[dict[str, Any]], after: LogCursor | None) -> LogCursor:
    last = items[-1]
    key = (last["time"], str(last["row_key"]))
    run = 0
    for item in reversed(items):
        if (item["time"], str(item["row_key"])) != key:
            break
        run += 1
    # A page made only of copies of the cursor's record continues its run.
    if after is not None and run == len(items) and (after.time, after.key) == key:
        run += after.seen
    return LogCursor(key[0], key[1], run)


async def log_page(
    source: Source, where: LogFilter, limit: int, after: LogCursor | None = None
) -> LogPage:
    """Up to ``limit`` records matching ``where``, newest first, after the
    cursor when one is given."""
    found = _log_conditions(where)
    if after is not None:
        found.add(
            sql.SQL("time <= %s AND (time < %s OR {} <= %s::uuid)").format(_ROW_KEY),
            after.time,
            after.time,
            after.key,
        )

    query = sql.SQL(
        "SELECT {columns}, {key} AS row_key FROM logs WHERE {where}"
        " ORDER BY time DESC, row_key DESC LIMIT %s OFFSET %s"
    ).format(
        columns=sql.SQL(", ").join(map(sql.Identifier, LOG_COLUMNS)),
        key=_ROW_KEY,
        where=found.sql(),
    )
    skip = after.seen if after is not None else 0
    rows = await _rows(source, query, [*found.params, limit + 1, skip])

    items = rows[:limit]
    cursor = _next_cursor(items, after) if len(rows) > limit else None
    for item in items:
        del item["row_key"]
        item["tags"] = item["tags"] or []
    return LogPage(items, cursor)


# Metrics ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SeriesFilter:
    """Which series of the catalogue to find.

    ``name`` is exact, or a prefix when it ends with ``*``; ``attributes``
    pairs a point attribute key with the value as text.
    """

    name: str | None = None
    services: tuple[str, ...] = ()
    attributes: tuple[tuple[str, str], ...] = ()


async def search_series(
    source: Source, where: SeriesFilter, limit: int
) -> list[dict[str, Any]]:
    """Catalogue rows matching ``where``, by name, service and id."""
    found = _Where()
    if where.name is not None and where.name.endswith("*"):
        prefix = _like_pattern(where.name.removesuffix("*")).removeprefix("%")
        found.add("name LIKE %s", prefix)
    elif where.name is not None:
        found.add("name = %s", where.name)
    if where.services:
        found.add("service = ANY(%s)", list(where.services))
    for key, text in where.attributes:
        found.contains("attributes", key, text)

    query = sql.SQL(
        "SELECT {} FROM metric_series WHERE {}"
        " ORDER BY name, service, series_id LIMIT %s"
    ).format(sql.SQL(", ").join(map(sql.Identifier, SERIES_COLUMNS)), found.sql())
    return await _rows(source, query, [*found.params, limit])


@dataclass(frozen=True, slots=True)
class MetricQuery:
    """Points of one series, or one aggregation across matching series.

    Without ``agg`` the points of ``series_id`` are returned as stored;
    with it they are combined per ``step`` (see ``metric_data``).
    """

    range: TimeRange
    step: timedelta
    series_id: int | None = None
    series: SeriesFilter = SeriesFilter()
    agg: str | None = None
    q: float | None = None


_POINT_TABLES = {
    "gauge": "metric_points",
    "sum": "metric_points",
    "histogram": "metric_histograms",
    "exponential_histogram": "metric_exp_histograms",
    "summary": "metric_summaries",
}


def _is_counter(series: dict[str, Any]) -> bool:
    """Whether the points of a sum carry per-interval deltas; the same rule
    as ``processing.temporality`` uses to convert them."""
    temporality = series["temporality"]
    monotonic = series["is_monotonic"] is not False
    return temporality == "delta" or (temporality == "cumulative" and monotonic)


async def _raw_points(
    source: Source, series: dict[str, Any], span: TimeRange
) -> dict[str, Any]:
    table = _POINT_TABLES[series["kind"]]
    query = sql.SQL(
        "SELECT * FROM {} WHERE series_id = %s AND time >= %s AND time < %s"
        " ORDER BY time LIMIT %s"
    ).format(sql.Identifier(table))
    params = [series["series_id"], span.start, span.end, _MAX_RAW_POINTS + 1]
    rows = await _rows(source, query, params)

    points: list[list[Any]] = []
    for row in rows[:_MAX_RAW_POINTS]:
        moment = row.pop("time")
        del row["series_id"]
        points.append([moment, row["value"] if table == "metric_points" else row])
    return {
        "series_id": series["series_id"],
        "points": points,
        "truncated": len(rows) > _MAX_RAW_POINTS,
    }


# Per series and step, a gauge's level is reduced first and the levels of
# the series are then combined, so that a series sending more often does
# not weigh more: sum is then the sum of the series' average levels.
_LEVELS = {
    "sum": ("avg(value)", "sum(level)"),
    "avg": ("avg(value)", "avg(level)"),
    "min": ("min(value)", "min(level)"),
    "max": ("max(value)", "max(level)"),
}
_COUNTER_VALUES = {
    "sum": "sum(delta)",
    "rate": "sum(delta) / %s",
    "avg": "avg(delta)",
    "min": "min(delta)",
    "max": "max(delta)",
}
_IN_RANGE = "series_id = ANY(%s) AND time >= %s AND time < %s"


def _number_select(agg: str, counter: bool) -> sql.Composed:
    if counter:
        return sql.SQL(
            "SELECT time_bucket(%s, time) AS bucket, {} AS value FROM metric_points"
            " WHERE {} AND delta IS NOT NULL GROUP BY bucket ORDER BY bucket"
        ).format(sql.SQL(_COUNTER_VALUES[agg]), sql.SQL(_IN_RANGE))
    if agg == "rate":
        msg = (
            "agg=rate needs a monotonic or delta sum, or a histogram; "
            "these series are gauges or non-monotonic sums: use avg, min or max"
        )
        raise QueryError(msg)
    inner, outer = _LEVELS[agg]
    return sql.SQL(
        "SELECT bucket, {} AS value FROM ("
        " SELECT time_bucket(%s, time) AS bucket, {} AS level FROM metric_points"
        " WHERE {} GROUP BY bucket, series_id) AS s GROUP BY bucket ORDER BY bucket"
    ).format(sql.SQL(outer), sql.SQL(inner), sql.SQL(_IN_RANGE))


_HISTOGRAM_VALUES = {
    "sum": "sum(delta_count)::double precision",
    "rate": "sum(delta_count) / %s",
    "avg": "sum(delta_sum) / nullif(sum(delta_count)"
    " FILTER (WHERE delta_sum IS NOT NULL), 0)",
    "min": "min(min)",
    "max": "max(max)",
}

# Buckets are merged across series and points per step, only between
# points with equal bounds; histogram_quantile takes the overflow bucket
# as one more bound, 'Infinity'.
_QUANTILE = sql.SQL(
    "SELECT bucket, bounds, histogram_quantile(%s, bounds || 'Infinity'::float8,"
    " array_agg(n ORDER BY i)) AS value FROM ("
    " SELECT time_bucket(%s, h.time) AS bucket, h.bounds, c.i, sum(c.n)::bigint AS n"
    " FROM metric_histograms AS h,"
    " unnest(h.delta_bucket_counts) WITH ORDINALITY AS c(n, i)"
    " WHERE h.series_id = ANY(%s) AND h.time >= %s AND h.time < %s"
    " GROUP BY bucket, h.bounds, c.i) AS merged"
    " GROUP BY bucket, bounds ORDER BY bounds, bucket"
)


def _histogram_select(agg: str) -> sql.Composed:
    return sql.SQL(
        "SELECT time_bucket(%s, time) AS bucket, {} AS value FROM metric_histograms"
        " WHERE {} AND delta_count IS NOT NULL GROUP BY bucket ORDER BY bucket"
    ).format(sql.SQL(_HISTOGRAM_VALUES[agg]), sql.SQL(_IN_RANGE))


async def _quantiles(
    source: Source, query: MetricQuery, ids: list[int]
) -> list[tuple[list[float] | None, list[list[Any]]]]:
    params = [query.q, query.step, ids, query.range.start, query.range.end]
    groups: dict[tuple[float, ...], list[list[Any]]] = {}
    for row in await _rows(source, _QUANTILE, params):
        point = [row["bucket"], row["value"]]
        groups.setdefault(tuple(row["bounds"]), []).append(point)
    return [(list(bounds), points) for bounds, points in groups.items()]


async def _combined(
    source: Source, query: MetricQuery, agg: str, kind: str, found: list[dict[str, Any]]
) -> list[tuple[list[float] | None, list[list[Any]]]]:
    """Points per step across ``found``, as (bounds or None, points) pairs."""
    ids = [s["series_id"] for s in found]
    if kind == "histogram" and agg == "quantile":
        return await _quantiles(source, query, ids)
    if agg == "quantile":
        msg = f"agg=quantile needs histograms; these series are {kind}s"
        raise QueryError(msg)

    if kind == "histogram":
        select = _histogram_select(agg)
    else:
        counters = {_is_counter(s) for s in found} if kind == "sum" else {False}
        if len(counters) > 1:
            msg = (
                "the series mix counters with non-monotonic sums; "
                "narrow them with service or attr.<key>"
            )
            raise QueryError(msg)
        select = _number_select(agg, counters.pop())

    rate = [query.step.total_seconds()] if agg == "rate" else []
    params = [query.step, *rate, ids, query.range.start, query.range.end]
    rows = await _rows(source, select, params)
    return [(None, [[row["bucket"], row["value"]] for row in rows])]


async def _matching(source: Source, query: MetricQuery) -> list[dict[str, Any]]:
    columns = sql.SQL(", ").join(map(sql.Identifier, SERIES_COLUMNS))
    if query.series_id is not None:
        select = sql.SQL("SELECT {} FROM metric_series WHERE series_id = %s")
        return await _rows(source, select.format(columns), [query.series_id])

    found = await search_series(source, query.series, _MAX_SERIES + 1)
    if len(found) > _MAX_SERIES:
        msg = (
            f"more than {_MAX_SERIES} series match; "
            "narrow them with service or attr.<key>"
        )
        raise QueryError(msg)
    return found


async def metric_data(source: Source, query: MetricQuery) -> list[dict[str, Any]]:
    """The points ``query`` asks for, as ``{"series_id" | "group", "points"}``.

    Per step: gauges and non-monotonic sums combine their values; counters
    (delta, or cumulative converted at ingest) use their per-interval
    deltas, so ``sum`` is the increase and ``rate`` the increase per
    second; histograms use their per-interval counts for ``sum`` and
    ``rate``, their sums for ``avg`` (the mean observation), and their
    merged buckets for ``quantile`` (one result per set of bounds).

    Raises:
        QueryError: the aggregation does not apply to the series found.
    """
    if query.agg is not None and query.agg not in AGGREGATIONS:
        msg = f"agg must be one of {', '.join(AGGREGATIONS)}, got {query.agg!r}"
        raise QueryError(msg)
    if query.agg == "quantile" and not (query.q is not None and 0 < query.q < 1):
        msg = f"agg=quantile needs q between 0 and 1, got {query.q!r}"
        raise QueryError(msg)

    found = await _matching(source, query)
    if not found:
        return []
    if query.agg is None:
        return [await _raw_points(source, found[0], query.range)]

    kinds = sorted({s["kind"] for s in found})
    if len(kinds) > 1:
        msg = f"the series found are of kinds {kinds}; narrow them to one kind"
        raise QueryError(msg)
    if kinds[0] not in ("gauge", "sum", "histogram"):
        msg = f"agg applies to gauges, sums and histograms, not to {kinds[0]}s"
        raise QueryError(msg)

    combined = await _combined(source, query, query.agg, kinds[0], found)
    if query.series_id is not None:
        return [{"series_id": query.series_id, "points": p} for _, p in combined]
    group = {
        "name": query.series.name,
        "services": list(query.series.services),
        "attributes": dict(query.series.attributes),
        "series_count": len(found),
    }
    return [
        {"group": group if bounds is None else {**group, "bounds": bounds}, "points": p}
        for bounds, p in combined
    ]


# KPIs and patterns --------------------------------------------------------


async def kpis(
    source: Source, view: str, span: TimeRange, services: Sequence[str] = ()
) -> dict[str, list[dict[str, Any]]]:
    """KPI rows of ``view`` (``kpi_1m`` or ``kpi_1h``) per service, oldest
    bucket first; the bucket holding ``span.start`` is included."""
    bucket = KPI_VIEWS[view]
    found = _Where()
    found.add("bucket >= time_bucket(%s, %s::timestamptz)", bucket, span.start)
    found.add("bucket < %s", span.end)
    if services:
        found.add("service = ANY(%s)", list(services))

    query = sql.SQL(
        "SELECT bucket, service, {} FROM {} WHERE {} ORDER BY service, bucket"
    ).format(
        sql.SQL(", ").join(map(sql.Identifier, KPI_FIELDS)),
        sql.Identifier(view),
        found.sql(),
    )
    per_service: dict[str, list[dict[str, Any]]] = {}
    for row in await _rows(source, query, found.params):
        per_service.setdefault(row.pop("service"), []).append(row)
    return per_service


async def pattern_counts(
    source: Source, span: TimeRange, services: Sequence[str], limit: int
) -> list[dict[str, Any]]:
    """Log patterns with records in ``span``, the most frequent first: each
    with its record count, its last record's time and whether it was first
    seen in ``span``."""
    found = _Where()
    found.add("time >= %s AND time < %s", span.start, span.end)
    found.add("pattern_id IS NOT NULL")
    if services:
        found.add("service = ANY(%s)", list(services))

    query = sql.SQL(
        "SELECT p.pattern_id, p.service, p.template, p.first_seen, c.count,"
        " c.last_seen, (p.first_seen >= %s AND p.first_seen < %s) AS new"
        " FROM (SELECT pattern_id, count(*) AS count, max(time) AS last_seen"
        " FROM logs WHERE {} GROUP BY pattern_id) AS c"
        " JOIN log_patterns AS p USING (pattern_id)"
        " ORDER BY c.count DESC, p.pattern_id LIMIT %s"
    ).format(found.sql())
    params = [span.start, span.end, *found.params, limit]
    return await _rows(source, query, params)
