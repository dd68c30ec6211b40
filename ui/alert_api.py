"""The JSON API of alerting: alerts, rules, silences and test alerts.

- ``GET /api/alerts?state=&since=&limit=``: alert instances open now or
  resolved within ``since`` (default ``1d``), newest first, each with its
  history (events) and the notifications that named it.
- ``GET /api/rules``: the loaded rules, each with its open instances and
  its last evaluation; ``POST /api/rules/reload`` reads the file again.
- ``GET /api/silences``, ``POST /api/silences``, ``DELETE /api/silences/{id}``.
- ``POST /api/test-alert``: a synthetic alert to every channel, or to the
  one named in ``{"channel": ...}``; answers each channel's result.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web
from psycopg_pool import AsyncConnectionPool

from alerting.model import AlertView, Matcher, Notification, Rule
from alerting.rulefile import RuleFileError, parse_matcher
from alerting.service import Alerting
from flowguard.supervised import reload_every_worker
from storage.alerts import list_alerts
from storage.queries import QueryError
from storage.silences import create_silence, expire_silence, list_silences
from ui._request import (
    MAX_ID,
    Params,
    answer,
    bad,
    duration_param,
    limit_param,
    moment_param,
)

__all__ = ["add_alert_routes"]

STATES = ("pending", "firing", "resolved")


def _body(raw: bytes, expected: str) -> dict[str, Any]:
    try:
        body = orjson.loads(raw or b"{}")
    except orjson.JSONDecodeError as exc:
        msg = f"the body is not JSON ({exc}); expected {expected}"
        raise QueryError(msg) from None
    if not isinstance(body, dict):
        msg = f"the body is {type(body).__name__}; expected {expected}"
        raise QueryError(msg)
    return body


def _rule(rule: Rule) -> dict[str, Any]:
    return {
        "group": rule.group,
        "alert": rule.name,
        "kind": rule.kind,
        "services": list(rule.services),
        "window_s": rule.window_s,
        "condition": rule.threshold,
        "for_s": rule.for_s,
        "labels": dict(rule.labels),
        "annotations": dict(rule.annotations),
        "line": rule.line,
    }


class _Handlers:
    def __init__(self, pool: AsyncConnectionPool, alerting: Alerting) -> None:
        self._pool = pool
        self._alerting = alerting

    async def alerts(self, request: web.Request) -> dict[str, Any]:
        params = Params(request.query, ("state", "since", "limit"))
        states = params.all("state")
        for state in states:
            if state not in STATES:
                bad("state", state, f"one of {', '.join(STATES)}")
        since = datetime.now(UTC) - duration_param("since", params.one("since") or "1d")
        async with self._pool.connection() as conn:
            found = await list_alerts(conn, states, since, limit_param(params))
        return {"alerts": found}

    async def rules(self, request: web.Request) -> dict[str, Any]:
        Params(request.query, ())
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT rule_group, rule, state, count(*) FROM alerts"
                " WHERE state <> 'resolved' GROUP BY 1, 2, 3"
            )
            counts = await cur.fetchall()
        open_ = {(g, r, s): n for g, r, s, n in counts}
        engine = self._alerting.engine
        rules = []
        for rule in self._alerting.rules.rules:
            status = engine.status.get((rule.group, rule.name))
            rules.append(
                _rule(rule)
                | {
                    "pending": open_.get((rule.group, rule.name, "pending"), 0),
                    "firing": open_.get((rule.group, rule.name, "firing"), 0),
                    "evaluated_at": status.evaluated_at if status else None,
                    "error": status.error if status else None,
                }
            )
        return {
            "process": os.getpid(),
            "path": self._alerting.rules.path,
            "evaluating": self._alerting.owner,
            "rules": rules,
            "routes": len(self._alerting.rules.routes),
            "channels": sorted(self._alerting.rules.channels),
        }

    async def reload(self, request: web.Request) -> dict[str, Any]:
        try:
            rules = self._alerting.load()
        except RuleFileError as exc:
            msg = f"rule file not reloaded, the rules in use stay:\n{exc}"
            raise QueryError(msg) from None
        # With several workers this request reached one of them: the
        # supervisor makes the others (and this one, again) reload too.
        everywhere = reload_every_worker()
        return {
            "reloaded": rules.path,
            "rules": len(rules.rules),
            "every_worker": everywhere,
        }

    async def silences(self, request: web.Request) -> dict[str, Any]:
        params = Params(request.query, ("expired_since",))
        now = datetime.now(UTC)
        back = duration_param("expired_since", params.one("expired_since") or "1d")
        async with self._pool.connection() as conn:
            return {"silences": await list_silences(conn, now, now - back)}

    async def silence(self, request: web.Request) -> dict[str, Any]:
        expected = (
            'a JSON object {"matchers": ["service=checkout", ...], '
            '"ends_at" or "duration", "created_by", "comment"}'
        )
        body = _body(await request.read(), expected)
        now = datetime.now(UTC)
        matchers = _matchers(body.get("matchers"))
        starts_at = _moment(body, "starts_at") or now
        ends_at = _moment(body, "ends_at")
        if "duration" in body:
            text = str(body["duration"])
            if ends_at is not None:
                bad("duration", text, "no duration with ends_at")
            try:
                ends_at = starts_at + duration_param("duration", text)
            except OverflowError:
                bad("duration", text, "a duration that ends before the year 10000")
        if ends_at is None:
            bad("ends_at", "", "an RFC 3339 end time, or a duration such as 2h")
        if ends_at <= starts_at or ends_at <= now:
            bad("ends_at", ends_at.isoformat(), "a time after starts_at and now")
        author = _text(body, "created_by")
        comment = _text(body, "comment")
        async with self._pool.connection() as conn:
            return await create_silence(
                conn, matchers, starts_at, ends_at, author, comment, now
            )

    async def expire(self, request: web.Request) -> dict[str, Any]:
        text = request.match_info["id"]
        if not (text.isascii() and text.isdigit() and 0 < int(text) <= MAX_ID):
            bad("id", text, "a silence id (a positive integer)")
        async with self._pool.connection() as conn:
            found = await expire_silence(conn, int(text), datetime.now(UTC))
        if found is None:
            raise web.HTTPNotFound(
                text=orjson.dumps({"error": f"no silence {text}"}).decode(),
                content_type="application/json",
            )
        return found

    async def test_alert(self, request: web.Request) -> dict[str, Any]:
        body = _body(await request.read(), 'an empty body or {"channel": "name"}')
        channels = sorted(self._alerting.rules.channels)
        if body.get("channel") is not None:
            channel = str(body["channel"])
            if channel not in channels:
                bad("channel", channel, f"one of {', '.join(channels) or '(none)'}")
            channels = [channel]
        if not channels:
            msg = "the rule file names no channels to test"
            raise QueryError(msg)
        now = datetime.now(UTC)
        view = AlertView(
            rule="FlowGuardTestAlert",
            labels={"alertname": "FlowGuardTestAlert", "severity": "test"},
            value=None,
            threshold="a test",
            annotations={"summary": "a test notification sent from the API"},
            state="firing",
            started_at=now,
        )
        notification = Notification("test", {}, (view,), now)
        results = await self._alerting.notifier.deliver(notification, channels)
        return {
            "results": [
                {
                    "channel": r.channel,
                    "ok": r.ok,
                    "attempts": r.attempts,
                    "error": r.error,
                    "delivered_at": r.delivered_at,
                }
                for r in results
            ]
        }


def _matchers(raw: object) -> list[Matcher]:
    expected = 'a non-empty list such as ["service=checkout", "severity=~page|ticket"]'
    if not isinstance(raw, list) or not raw:
        bad("matchers", repr(raw), expected)
    found = []
    for item in raw:
        if isinstance(item, dict):
            item = f"{item.get('name', '')}{item.get('op', '=')}{item.get('value', '')}"
        if "\x00" in str(item):
            bad("matchers", str(item), "text without NUL characters")
        try:
            found.append(parse_matcher(str(item)))
        except ValueError as exc:
            bad("matchers", str(item), f"{expected} ({exc})")
    return found


def _moment(body: dict[str, Any], name: str) -> datetime | None:
    raw = body.get(name)
    return None if raw is None else moment_param(name, str(raw))


def _text(body: dict[str, Any], name: str) -> str:
    raw = body.get(name)
    if not isinstance(raw, str) or not raw.strip():
        bad(name, repr(raw), "a non-empty string")
    if "\x00" in raw:
        bad(name, raw, "text without NUL characters")
    return raw.strip()


def add_alert_routes(
    app: web.Application,
    pool: AsyncConnectionPool,
    alerting: Alerting,
    retry_after_s: int = 1,
) -> None:
    """Register the alerting endpoints on ``app``."""
    handlers = _Handlers(pool, alerting)
    router = app.router
    router.add_get("/api/alerts", answer(handlers.alerts, retry_after_s))
    router.add_get("/api/rules", answer(handlers.rules, retry_after_s))
    router.add_post("/api/rules/reload", answer(handlers.reload, retry_after_s))
    router.add_get("/api/silences", answer(handlers.silences, retry_after_s))
    router.add_post("/api/silences", answer(handlers.silence, retry_after_s))
    router.add_delete("/api/silences/{id}", answer(handlers.expire, retry_after_s))
    router.add_post("/api/test-alert", answer(handlers.test_alert, retry_after_s))
