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
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, NoReturn

import orjson
import psycopg
from aiohttp import web
from multidict import MultiMapping
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

__all__ = ["add_query_routes"]

logger = logging.getLogger(__name__)

_MAX_LIMIT = 1000
_DEFAULT_LIMIT = 100
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
_INT64 = re.compile(r"-?\d{1,19}")
# Pattern and series ids are PostgreSQL bigints.
_MIN_ID, _MAX_ID = -(2**63), 2**63 - 1
_TRACE_ID = re.compile(r"[0-9a-fA-F]{32}")
# A '+' in a query string reads as a space, so an offset sent unencoded
# ("...T10:00:00+02:00") arrives as "...T10:00:00 02:00".
_SPACED_OFFSET = re.compile(r" (\d\d:?\d\d)$")
_RANGE = ("since", "start", "end")

Reader = Callable[[web.Request], Awaitable[dict[str, Any]]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _bad(name: str, value: str, expected: str) -> NoReturn:
    msg = f"parameter {name!r}: got {value!r}, expected {expected}"
    raise QueryError(msg)


class _Params:
    """The query string of one request, checked against the names its
    endpoint accepts."""

    def __init__(
        self, query: MultiMapping[str], names: tuple[str, ...], attrs: bool = False
    ) -> None:
        self._query = query
        for name in query:
            if name in names or (attrs and name.startswith("attr.") and name[5:]):
                continue
            accepted = ", ".join((*names, "attr.<key>") if attrs else names)
            msg = f"unknown parameter {name!r}; accepted: {accepted}"
            raise QueryError(msg)

    def one(self, name: str) -> str | None:
        """The value of a parameter given at most once."""
        values = self._query.getall(name, [])
        if len(values) > 1:
            _bad(name, "&".join(values), "one value")
        return values[0] if values else None

    def all(self, name: str) -> tuple[str, ...]:
        """Every value of a repeatable parameter."""
        return tuple(self._query.getall(name, []))

    def attributes(self) -> tuple[tuple[str, str], ...]:
        """The ``attr.<key>=<value>`` pairs, as (key, value)."""
        return tuple(
            (name.removeprefix("attr."), value)
            for name, value in self._query.items()
            if name.startswith("attr.")
        )


def _int(
    params: _Params, name: str, low: int = _MIN_ID, high: int = _MAX_ID
) -> int | None:
    text = params.one(name)
    if text is None:
        return None
    if not (text.isascii() and _INT64.fullmatch(text) and low <= int(text) <= high):
        expected = (
            "an id (an integer)"
            if low == _MIN_ID
            else f"an integer from {low} to {high}"
        )
        _bad(name, text, expected)
    return int(text)


def _limit(params: _Params) -> int:
    found = _int(params, "limit", 1, _MAX_LIMIT)
    return _DEFAULT_LIMIT if found is None else found


def _duration(name: str, text: str) -> timedelta:
    try:
        duration = parse_duration(text)
    except (ValueError, OverflowError):
        _bad(name, text, "a duration such as 90s, 15m, 1h, 7d or 2w")
    if not duration:
        _bad(name, text, "a duration longer than zero")
    return duration


def _moment(name: str, text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(_SPACED_OFFSET.sub(r"+\1", text))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        _bad(name, text, "an RFC 3339 time such as 2026-12-03T10:00:00Z")
    return moment


def _range(params: _Params, default_since: str) -> TimeRange:
    since, start, end = (params.one(name) for name in _RANGE)
    if since is not None and start is not None:
        msg = (
            "parameters 'since' and 'start' exclude each other: give since "
            "(a duration back from end or now), or start with an optional end"
        )
        raise QueryError(msg)
    end_at = _moment("end", end) if end is not None else datetime.now(UTC)
    if start is not None:
        start_at = _moment("start", start)
    else:
        text = since or default_since
        try:
            start_at = end_at - _duration("since", text)
        except OverflowError:
            _bad("since", text, "a duration that reaches back no further than year 1")
    if start_at >= end_at:
        _bad("start", start or "", f"a time before end ({end_at.isoformat()})")
    return TimeRange(start_at, end_at)


def _severity(text: str | None) -> int | None:
    if text is None:
        return None
    if text.isascii() and text.isdigit() and 1 <= int(text) <= 24:
        return int(text)
    if text.upper() not in _SEVERITIES:
        _bad(
            "min_severity",
            text,
            "a number from 1 to 24 or TRACE, DEBUG, INFO, WARN, ERROR or FATAL",
        )
    return _SEVERITIES[text.upper()]


def _trace_id(text: str | None) -> str | None:
    if text is not None and not _TRACE_ID.fullmatch(text):
        _bad("trace_id", text, "32 hexadecimal digits")
    return text.lower() if text is not None else None


def _cursor(text: str | None) -> LogCursor | None:
    if text is None:
        return None
    try:
        return LogCursor.decode(text)
    except ValueError:
        _bad("cursor", text, "the next_cursor of an earlier page")


def _quantile(params: _Params, agg: str | None) -> float | None:
    text = params.one("q")
    if agg != "quantile":
        if text is not None:
            _bad("q", text, "no q unless agg=quantile")
        return None
    try:
        q = float(text) if text is not None else None
    except ValueError:
        q = None
    if q is None or not 0 < q < 1:
        _bad("q", text or "", "a number between 0 and 1 such as 0.95, with quantile")
    return q


def _step(params: _Params, span: TimeRange) -> timedelta:
    text = params.one("step")
    if text is None:
        fitting = (s for s in _STEPS if span.length / s <= _TARGET_STEPS)
        return next(fitting, _STEPS[-1])
    step = _duration("step", text)
    if span.length / step > _MAX_STEPS:
        _bad("step", text, f"a step giving at most {_MAX_STEPS} steps over the range")
    return step


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return _rfc3339(value)
    if isinstance(value, Decimal):
        return float(value)
    msg = f"cannot encode {type(value).__name__} as JSON"
    raise TypeError(msg)


def _json(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    # orjson writes NaN and infinities, which metric values may hold, as null.
    body = orjson.dumps(data, default=_default, option=orjson.OPT_PASSTHROUGH_DATETIME)
    return web.Response(
        body=body, status=status, headers=headers, content_type="application/json"
    )


class _Handlers:
    """One handler per endpoint, reading through the pool."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def logs(self, request: web.Request) -> dict[str, Any]:
        names = ("service", "min_severity", "pattern", "tag", "trace_id", "q")
        params = _Params(request.query, (*names, "limit", "cursor", *_RANGE), True)
        where = LogFilter(
            range=_range(params, "1h"),
            services=params.all("service"),
            min_severity=_severity(params.one("min_severity")),
            pattern_id=_int(params, "pattern"),
            tags=params.all("tag"),
            trace_id=_trace_id(params.one("trace_id")),
            attributes=params.attributes(),
            text=params.one("q"),
        )
        limit, after = _limit(params), _cursor(params.one("cursor"))

        page = await log_page(self._pool, where, limit, after)
        cursor = page.next_cursor.encode() if page.next_cursor is not None else None
        return {"items": page.items, "next_cursor": cursor}

    async def series(self, request: web.Request) -> dict[str, Any]:
        params = _Params(request.query, ("name", "service", "limit"), True)
        where = SeriesFilter(
            params.one("name"), params.all("service"), params.attributes()
        )
        return {"series": await search_series(self._pool, where, _limit(params))}

    async def metrics(self, request: web.Request) -> dict[str, Any]:
        names = ("series_id", "name", "service", "agg", "q", "step", *_RANGE)
        params = _Params(request.query, names, True)
        span = _range(params, "1h")
        series_id = _int(params, "series_id")
        where = SeriesFilter(
            params.one("name"), params.all("service"), params.attributes()
        )
        _check_selection(series_id, where)
        agg = params.one("agg")
        if agg is not None and agg not in AGGREGATIONS:
            _bad("agg", agg, f"one of {', '.join(AGGREGATIONS)}")
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
        params = _Params(request.query, ("service", "step", *_RANGE))
        span = _range(params, "6h")
        step = params.one("step")
        if step is None:
            step = "1m" if span.length <= _KPI_AUTO_MINUTES else "1h"
        if step not in ("1m", "1h"):
            _bad("step", step, "1m or 1h")
        view = f"kpi_{step}"
        if span.length / KPI_VIEWS[view] > _MAX_STEPS:
            _bad("step", step, f"1h for a range over {_MAX_STEPS} minutes")

        rows = await kpis(self._pool, view, span, params.all("service"))
        return {"step": step, "source": view, "services": rows}

    async def patterns(self, request: web.Request) -> dict[str, Any]:
        params = _Params(request.query, ("service", "limit", *_RANGE))
        span = _range(params, "24h")
        found = await pattern_counts(
            self._pool, span, params.all("service"), _limit(params)
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


def _answer(read: Reader, retry_after_s: int) -> Handler:
    async def respond(request: web.Request) -> web.StreamResponse:
        try:
            body = await read(request)
        except QueryError as exc:
            return _json({"error": str(exc)}, 400)
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            logger.debug("cannot answer %s from the database: %s", request.path, exc)
            headers = {"Retry-After": str(retry_after_s)}
            return _json({"error": f"database unavailable: {exc}"}, 503, headers)
        return _json(body)

    return respond


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
        app.router.add_get(path, _answer(read, retry_after_s))
