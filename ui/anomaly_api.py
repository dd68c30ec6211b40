"""The JSON API of anomalies: list them, read one, give feedback.

``GET /api/anomalies`` answers with the anomalies in a time range and the
state of the detectors of the series asked for, so that a client can tell
"no anomaly" from "not scoring yet" (cold start).
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web
from psycopg_pool import AsyncConnectionPool

from processing.anomaly.watched import WATCHED_KPIS
from storage.anomalies import (
    detector_status,
    get_anomaly,
    list_anomalies,
    record_feedback,
)
from storage.queries import QueryError
from ui._request import MAX_ID, RANGE, Params, answer, bad, limit_param, time_range

__all__ = ["FEEDBACK", "add_anomaly_routes"]

FEEDBACK = ("false_positive", "confirmed")


class _Handlers:
    def __init__(self, pool: AsyncConnectionPool, warmup_buckets: int) -> None:
        self._pool = pool
        self._warmup = warmup_buckets

    async def anomalies(self, request: web.Request) -> dict[str, Any]:
        params = Params(request.query, ("service", "kpi", "limit", *RANGE))
        span = time_range(params, "1d")
        kpis = params.all("kpi")
        for kpi in kpis:
            if kpi not in WATCHED_KPIS:
                bad("kpi", kpi, f"one of {', '.join(WATCHED_KPIS)}")
        services = params.all("service")
        async with self._pool.connection() as conn:
            found = await list_anomalies(
                conn, span.start, span.end, services, kpis, limit_param(params)
            )
            status = await detector_status(conn, services)
        if kpis:
            status = [s for s in status if s["kpi"] in kpis]
        for series in status:
            series["buckets_needed"] = self._warmup
        return {"anomalies": found, "detectors": status}

    async def anomaly(self, request: web.Request) -> dict[str, Any]:
        anomaly_id = _id(request)
        async with self._pool.connection() as conn:
            found = await get_anomaly(conn, anomaly_id)
        if found is None:
            raise web.HTTPNotFound(
                text=orjson.dumps({"error": f"no anomaly {anomaly_id}"}).decode(),
                content_type="application/json",
            )
        return found

    async def feedback(self, request: web.Request) -> dict[str, Any]:
        anomaly_id = _id(request)
        given = await _feedback_of(request)
        async with self._pool.connection() as conn:
            found = await record_feedback(conn, anomaly_id, given)
        if found is None:
            raise web.HTTPNotFound(
                text=orjson.dumps({"error": f"no anomaly {anomaly_id}"}).decode(),
                content_type="application/json",
            )
        return found


def _id(request: web.Request) -> int:
    text = request.match_info["id"]
    digits = text.isascii() and text.isdigit() and len(text) <= len(str(MAX_ID))
    if not (digits and 0 < int(text) <= MAX_ID):
        bad("id", text, "an anomaly id (a positive integer)")
    return int(text)


async def _feedback_of(request: web.Request) -> str:
    expected = f'a JSON object {{"feedback": ...}} with one of {", ".join(FEEDBACK)}'
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError as exc:
        msg = f"the body is not JSON ({exc}); expected {expected}"
        raise QueryError(msg) from None
    given = body.get("feedback") if isinstance(body, dict) else None
    if given not in FEEDBACK:
        bad("feedback", repr(given), expected)
    return str(given)


def add_anomaly_routes(
    app: web.Application,
    pool: AsyncConnectionPool,
    warmup_buckets: int,
    retry_after_s: int = 1,
) -> None:
    """Register ``GET /api/anomalies``, ``GET /api/anomalies/{id}`` and
    ``POST /api/anomalies/{id}/feedback`` on ``app``."""
    handlers = _Handlers(pool, warmup_buckets)
    app.router.add_get("/api/anomalies", answer(handlers.anomalies, retry_after_s))
    app.router.add_get("/api/anomalies/{id}", answer(handlers.anomaly, retry_after_s))
    app.router.add_post(
        "/api/anomalies/{id}/feedback", answer(handlers.feedback, retry_after_s)
    )
