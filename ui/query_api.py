"""The JSON API for reading: logs, metric series and points, KPIs and log
patterns.

Handlers read and check parameters and shape answers; the SQL lives in
``storage.queries``. A bad or unknown parameter is answered with 400 and
a message naming the parameter, the value received and the form
expected. Times are RFC 3339 in and RFC 3339 UTC out. When the database
cannot be reached the answer is 503 with ``Retry-After``.
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import Any

from aiohttp import web
from psycopg_pool import AsyncConnectionPool

from flowguard.durations import format_duration, parse_duration
from storage.queries import (
    AGGREGATIONS,
    LogCursor,
    LogFilter,
    MetricQuery,
    QueryError,
    SeriesFilter,
    TimeRange,
    kpis,
    log_page,
    metric_data,
    pattern_counts,
    search_series,
)
from storage.rollups import KPI_VIEWS
from ui._request import (
    RANGE,
    Params,
    answer,
    bad,
    duration_param,
    int_param,
    limit_param,
    time_range,
)

__all__ = ["add_query_routes"]

logger = logging.getLogger(__name__)

# Steps offered when none is asked for: the smallest that keeps a chart
# within about 300 points.
_STEPS = tuple(
    parse_duration(step) for step in ("10s", "30s", "1m", "5m", "15m", "1h", "6h", "1d")
)
_TARGET_STEPS = 300
_MAX_STEPS = 10_000
_KPI_AUTO_MINUTES = timedelta(hours=6)
# OTel severity numbers: the first number of each range of four.
_SEVERITIES = {
    "TRACE": 1,
    "DEBUG": 5,
    "INFO": 9,
    "WARN": 13,
    "WARNING": 13,
    "ERROR": 17,
    "FATAL": 21,
}
_TRACE_ID = re.compile(r"[0-9a-fA-F]{32}")


def _severity(text: str | None) -> int | None:
    if text is None:
        return None
    if text.isascii() and text.isdigit() and 1 <= int(text) <= 24:
        return int(text)
    if text.upper() not in _SEVERITIES:
        bad(
            "min_severity",
            text,
            "a number from 1 to 24 or TRACE, DEBUG, INFO, WARN, ERROR or FATAL",
        )
    return _SEVERITIES[text.upper()]


def _trace_id(text: str | None) -> str | None:
    if text is not None and not _TRACE_ID.fullmatch(text):
        bad("trace_id", text, "32 hexadecimal digits")
    return text.lower() if text is not None else None


def _cursor(text: str | None) -> LogCursor | None:
    if text is None:
        return None
    try:
        return LogCursor.decode(text)
    except ValueError:
        bad("cursor", text, "the next_cursor of an earlier page")


def _quantile(params: Params, agg: str | None) -> float | None:
    text = params.one("q")
    if agg != "quantile":
        if text is not None:
            bad("q", text, "no q unless agg=quantile")
        return None
    try:
        q = float(text) if text is not None else None
    except ValueError:
        q = None
    if q is None or not 0 < q < 1:
        bad("q", text or "", "a number between 0 and 1 such as 0.95, with quantile")
    return q


def _step(params: Params, span: TimeRange) -> timedelta:
    text = params.one("step")
    if text is None:
        fitting = (s for s in _STEPS if span.length / s <= _TARGET_STEPS)
        return next(fitting, _STEPS[-1])
    step = duration_param("step", text)
    if span.length / step > _MAX_STEPS:
        bad("step", text, f"a step giving at most {_MAX_STEPS} steps over the range")
    return step


class _Handlers:
    """One handler per endpoint, reading through the pool."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def logs(self, request: web.Request) -> dict[str, Any]:
        names = ("service", "min_severity", "pattern", "tag", "trace_id", "q")
        params = Params(request.query, (*names, "limit", "cursor", *RANGE), True)
        where = LogFilter(
            range=time_range(params, "1h"),
            services=params.all("service"),
            min_severity=_severity(params.one("min_severity")),
            pattern_id=int_param(params, "pattern"),
            tags=params.all("tag"),
            trace_id=_trace_id(params.one("trace_id")),
            attributes=params.attributes(),
            text=params.one("q"),
        )
        limit, after = limit_param(params), _cursor(params.one("cursor"))

        page = await log_page(self._pool, where, limit, after)
        cursor = page.next_cursor.encode() if page.next_cursor is not None else None
        return {"items": page.items, "next_cursor": cursor}

    async def series(self, request: web.Request) -> dict[str, Any]:
        params = Params(request.query, ("name", "service", "limit"), True)
        where = SeriesFilter(
            params.one("name"), params.all("service"), params.attributes()
        )
        return {"series": await search_series(self._pool, where, limit_param(params))}

    async def metrics(self, request: web.Request) -> dict[str, Any]:
        names = ("series_id", "name", "service", "agg", "q", "step", *RANGE)
        params = Params(request.query, names, True)
        span = time_range(params, "1h")
        series_id = int_param(params, "series_id")
        where = SeriesFilter(
            params.one("name"), params.all("service"), params.attributes()
        )
        _check_selection(series_id, where)
        agg = params.one("agg")
        if agg is not None and agg not in AGGREGATIONS:
            bad("agg", agg, f"one of {', '.join(AGGREGATIONS)}")
        if agg is None and series_id is None:
            msg = f"parameter 'agg' is required with name: {', '.join(AGGREGATIONS)}"
            raise QueryError(msg)

        query = MetricQuery(
            span, _step(params, span), series_id, where, agg, _quantile(params, agg)
        )
        series = await metric_data(self._pool, query)
        step = format_duration(query.step) if agg is not None else None
        return {"step": step, "series": series}

    async def kpis(self, request: web.Request) -> dict[str, Any]:
        params = Params(request.query, ("service", "step", *RANGE))
        span = time_range(params, "6h")
        step = params.one("step")
        if step is None:
            step = "1m" if span.length <= _KPI_AUTO_MINUTES else "1h"
        if step not in ("1m", "1h"):
            bad("step", step, "1m or 1h")
        view = f"kpi_{step}"
        if span.length / KPI_VIEWS[view] > _MAX_STEPS:
            bad("step", step, f"1h for a range over {_MAX_STEPS} minutes")

        rows = await kpis(self._pool, view, span, params.all("service"))
        return {"step": step, "source": view, "services": rows}

    async def patterns(self, request: web.Request) -> dict[str, Any]:
        params = Params(request.query, ("service", "limit", *RANGE))
        span = time_range(params, "24h")
        found = await pattern_counts(
            self._pool, span, params.all("service"), limit_param(params)
        )
        return {"patterns": found}


def _check_selection(series_id: int | None, where: SeriesFilter) -> None:
    if (series_id is None) == (where.name is None):
        msg = (
            "give exactly one of series_id (the points of one series) "
            "and name (series to combine with agg)"
        )
        raise QueryError(msg)
    if series_id is not None and (where.services or where.attributes):
        msg = "service and attr.<key> select series by name; not with series_id"
        raise QueryError(msg)


def add_query_routes(
    app: web.Application, pool: AsyncConnectionPool, retry_after_s: int = 1
) -> None:
    """Register GET ``/api/logs``, ``/api/metrics``, ``/api/metrics/series``,
    ``/api/kpis`` and ``/api/patterns`` on ``app``, reading through ``pool``.

    ``retry_after_s`` is sent with 503 answers when the database is down.
    """
    handlers = _Handlers(pool)
    routes = {
        "/api/logs": handlers.logs,
        "/api/metrics": handlers.metrics,
        "/api/metrics/series": handlers.series,
        "/api/kpis": handlers.kpis,
        "/api/patterns": handlers.patterns,
    }
    for path, read in routes.items():
        app.router.add_get(path, answer(read, retry_after_s))
