"""Metric series search, raw points and per-step aggregations."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from psycopg import sql

from storage.queries._common import (
    AGGREGATIONS,
    MAX_RAW_POINTS,
    MAX_SERIES,
    SERIES_COLUMNS,
    QueryError,
    Source,
    TimeRange,
    Where,
    fetch_rows,
    like_pattern,
)


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
    found = Where()
    if where.name is not None and where.name.endswith("*"):
        prefix = like_pattern(where.name.removesuffix("*")).removeprefix("%")
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
    return await fetch_rows(source, query, [*found.params, limit])


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
    params = [series["series_id"], span.start, span.end, MAX_RAW_POINTS + 1]
    rows = await fetch_rows(source, query, params)

    points: list[list[Any]] = []
    for row in rows[:MAX_RAW_POINTS]:
        moment = row.pop("time")
        del row["series_id"]
        points.append([moment, row["value"] if table == "metric_points" else row])
    return {
        "series_id": series["series_id"],
        "points": points,
        "truncated": len(rows) > MAX_RAW_POINTS,
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
    for row in await fetch_rows(source, _QUANTILE, params):
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
    rows = await fetch_rows(source, select, params)
    return [(None, [[row["bucket"], row["value"]] for row in rows])]


async def _matching(source: Source, query: MetricQuery) -> list[dict[str, Any]]:
    columns = sql.SQL(", ").join(map(sql.Identifier, SERIES_COLUMNS))
    if query.series_id is not None:
        select = sql.SQL("SELECT {} FROM metric_series WHERE series_id = %s")
        return await fetch_rows(source, select.format(columns), [query.series_id])

    found = await search_series(source, query.series, MAX_SERIES + 1)
    if len(found) > MAX_SERIES:
        msg = (
            f"more than {MAX_SERIES} series match; "
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
