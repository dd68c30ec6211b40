"""The JSON API (first part): health, the ingest ledger and the simple JSON
ingest endpoints."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
from aiohttp import web

from flowguard import __version__
from flowguard.durations import parse_duration
from flowguard.errors import DecodeError, FlowGuardError
from receiver.ingest import Ingestor, IngestResult
from storage.database import TierInfo
from storage.ledger import Ledger
from ui.simple_ingest import logs_request, metrics_request

__all__ = ["api_app", "parse_duration"]

logger = logging.getLogger(__name__)


def _json(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.json_response(data, status=status, headers=headers)


def _result(result: IngestResult) -> dict[str, Any]:
    return {
        "accepted": result.accepted,
        "rejected": result.rejected,
        "message": result.message,
    }


async def _payload(request: web.Request) -> Any:
    try:
        return json.loads(await request.read())
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        msg = f"request body is not valid JSON: {exc}"
        raise DecodeError(msg) from None


Handler = Callable[[web.Request], Awaitable[web.Response]]


def _ingest_handler(
    build: Callable[[Any], Any],
    store: Callable[[Any, int], Awaitable[IngestResult]],
    retry_after_s: int,
) -> Handler:
    async def handle(request: web.Request) -> web.Response:
        try:
            payload = await _payload(request)
            otlp = build(payload)
            result = await store(otlp, request.content_length or otlp.ByteSize())
        except FlowGuardError as exc:
            if exc.retryable:
                return _json(
                    {"error": str(exc)}, 503, {"Retry-After": str(retry_after_s)}
                )
            return _json({"error": str(exc)}, 400)
        return _json(_result(result))

    return handle


def api_app(
    ingestor: Ingestor,
    ledger: Ledger,
    tier: TierInfo,
    writer_available: Callable[[], bool],
    warning_counts: Callable[[], dict[str, int]],
    max_request_bytes: int,
    retry_after_s: int,
) -> web.Application:
    """The aiohttp application serving /api/."""

    async def health(request: web.Request) -> web.Response:
        reachable = writer_available()
        totals: dict[str, Any] = {}
        if reachable:
            try:
                totals = await ledger.totals()
            except psycopg.Error as exc:
                logger.debug("health check cannot read the ledger: %s", exc)
                reachable = False
        body = {
            "status": "ok" if reachable else "degraded",
            "version": __version__,
            "process": os.getpid(),
            "tier": tier.tier,
            "database": {
                "reachable": reachable,
                "server_version": tier.server_version,
                "timescaledb_version": tier.timescaledb_version,
            },
            "ledger": totals,
            "ledger_this_process": ledger.process_totals(),
            "warnings_this_process": warning_counts(),
        }
        return _json(body, 200 if reachable else 503)

    async def ledger_rows(request: web.Request) -> web.Response:
        try:
            since = parse_duration(request.query.get("since", "1h"))
        except ValueError as exc:
            return _json({"error": str(exc)}, 400)
        try:
            rows = await ledger.rows(since)
        except psycopg.Error as exc:
            return _json({"error": f"cannot read the ledger: {exc}"}, 503)
        return _json({"since_s": since.total_seconds(), "rows": rows})

    app = web.Application(client_max_size=max_request_bytes)
    app.router.add_get("/api/health", health)
    app.router.add_get("/api/ledger", ledger_rows)
    app.router.add_post(
        "/api/ingest/logs",
        _ingest_handler(logs_request, ingestor.logs, retry_after_s),
    )
    app.router.add_post(
        "/api/ingest/metrics",
        _ingest_handler(metrics_request, ingestor.metrics, retry_after_s),
    )
    return app
