"""Reading requests and writing answers for the JSON API.

Parameters are checked against the names an endpoint accepts; a bad value
raises ``QueryError`` with a message naming the parameter, the value
received and the form expected, which ``answer`` turns into a 400.
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

from flowguard.durations import parse_duration
from storage.queries import QueryError, TimeRange

__all__ = [
    "RANGE",
    "Handler",
    "Params",
    "Reader",
    "answer",
    "bad",
    "duration_param",
    "int_param",
    "json_response",
    "limit_param",
    "moment_param",
    "rfc3339",
    "time_range",
]

logger = logging.getLogger(__name__)

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
_INT64 = re.compile(r"-?\d{1,19}")
# Pattern and series ids are PostgreSQL bigints.
MIN_ID, MAX_ID = -(2**63), 2**63 - 1
# A '+' in a query string reads as a space, so an offset sent unencoded
# ("...T10:00:00+02:00") arrives as "...T10:00:00 02:00".
_SPACED_OFFSET = re.compile(r" (\d\d:?\d\d)$")
RANGE = ("since", "start", "end")

Reader = Callable[[web.Request], Awaitable[dict[str, Any]]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def bad(name: str, value: str, expected: str) -> NoReturn:
    msg = f"parameter {name!r}: got {value!r}, expected {expected}"
    raise QueryError(msg)


class Params:
    """The query string of one request, checked against the names its
    endpoint accepts."""

    def __init__(
        self, query: MultiMapping[str], names: tuple[str, ...], attrs: bool = False
    ) -> None:
        self._query = query
        for name, value in query.items():
            if "\x00" in name or "\x00" in value:
                bad(name, value, "text without NUL characters")
            if name in names or (attrs and name.startswith("attr.") and name[5:]):
                continue
            accepted = ", ".join((*names, "attr.<key>") if attrs else names)
            msg = f"unknown parameter {name!r}; accepted: {accepted}"
            raise QueryError(msg)

    def one(self, name: str) -> str | None:
        """The value of a parameter given at most once."""
        values = self._query.getall(name, [])
        if len(values) > 1:
            bad(name, "&".join(values), "one value")
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


def int_param(
    params: Params, name: str, low: int = MIN_ID, high: int = MAX_ID
) -> int | None:
    text = params.one(name)
    if text is None:
        return None
    if not (text.isascii() and _INT64.fullmatch(text) and low <= int(text) <= high):
        expected = (
            "an id (an integer)"
            if low == MIN_ID
            else f"an integer from {low} to {high}"
        )
        bad(name, text, expected)
    return int(text)


def limit_param(params: Params) -> int:
    found = int_param(params, "limit", 1, MAX_LIMIT)
    return DEFAULT_LIMIT if found is None else found


def duration_param(name: str, text: str) -> timedelta:
    try:
        duration = parse_duration(text)
    except ValueError:
        bad(name, text, "a duration such as 90s, 15m, 1h, 7d or 2w, at most 36500d")
    if not duration:
        bad(name, text, "a duration longer than zero")
    return duration


def moment_param(name: str, text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(_SPACED_OFFSET.sub(r"+\1", text))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        bad(name, text, "an RFC 3339 time such as 2026-12-03T10:00:00Z")
    return moment


def time_range(params: Params, default_since: str) -> TimeRange:
    since, start, end = (params.one(name) for name in RANGE)
    if since is not None and start is not None:
        msg = (
            "parameters 'since' and 'start' exclude each other: give since "
            "(a duration back from end or now), or start with an optional end"
        )
        raise QueryError(msg)
    end_at = moment_param("end", end) if end is not None else datetime.now(UTC)
    if start is not None:
        start_at = moment_param("start", start)
    else:
        text = since or default_since
        try:
            start_at = end_at - duration_param("since", text)
        except OverflowError:
            bad("since", text, "a duration that reaches back no further than year 1")
    if start_at >= end_at:
        bad("start", start or "", f"a time before end ({end_at.isoformat()})")
    return TimeRange(start_at, end_at)


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return rfc3339(value)
    if isinstance(value, Decimal):
        return float(value)
    msg = f"cannot encode {type(value).__name__} as JSON"
    raise TypeError(msg)


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    # orjson writes NaN and infinities, which metric values may hold, as null.
    body = orjson.dumps(data, default=_default, option=orjson.OPT_PASSTHROUGH_DATETIME)
    return web.Response(
        body=body, status=status, headers=headers, content_type="application/json"
    )


def answer(read: Reader, retry_after_s: int) -> Handler:
    async def respond(request: web.Request) -> web.StreamResponse:
        try:
            body = await read(request)
        except QueryError as exc:
            return json_response({"error": str(exc)}, 400)
        except psycopg.DataError as exc:
            # A value the checks above let through but the database cannot
            # hold (a date past its range, say): the request's fault.
            msg = f"the database refused a value of the request: {str(exc).strip()}"
            return json_response({"error": msg}, 400)
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            logger.debug("cannot answer %s from the database: %s", request.path, exc)
            headers = {"Retry-After": str(retry_after_s)}
            return json_response(
                {"error": f"database unavailable: {exc}"}, 503, headers
            )
        return json_response(body)

    return respond
