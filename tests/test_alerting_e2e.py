"""Alerting end to end: data from the OTel SDK, rules, real deliveries.

``flowguard serve`` receives forty minutes of two services' requests sent
with the SDK's OTLP/HTTP metric exporter (with explicit times, minute by
minute up to now); both fail a fifth of their requests for twenty of
those minutes. The test then evaluates a rule over that stretch with a
clock it controls, five seconds a tick, delivering for real to a local
HTTP server (apprise ``json://``) and a local SMTP server (``mailto://``).
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Histogram,
    HistogramDataPoint,
    Metric,
    MetricExportResult,
    MetricsData,
    ResourceMetrics,
    ScopeMetrics,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from alerting.backtest import backtest
from alerting.engine import AlertEngine
from alerting.model import Notification, RuleSet
from alerting.notify import DeliveryResult, DeliverySettings, Notifier
from alerting.rulefile import parse_rules
from storage.alerts import record_notification
from tests.alerting.receivers import http_receiver, smtp_receiver
from tests.conftest import Tier
from tests.servers import JSON_HEADERS, Server, get_json, post
from tests.wait import until

NOW = datetime.now(UTC).replace(second=0, microsecond=0)
START = NOW - timedelta(minutes=40)
# Both services fail 20% of requests from E0 for twenty minutes.
E0 = NOW - timedelta(minutes=35)
E1 = E0 + timedelta(minutes=20)
SERVICES = ("checkout", "payments")
BOUNDS_S = [0.05, 0.1, 0.25, 0.5, 1.0]

RULES = """
groups:
  - name: shop
    interval: 30s
    rules:
      - alert: HighErrorRate
        kpi: error_rate
        window: 2m
        above: 0.05
        for: 1m
        labels: {{severity: page}}
        annotations:
          summary: "{{{{ labels.service }}}} fails {{{{ (value * 100) | round(1) }}}}%"
routes:
  - match: {{severity: page}}
    notify: [hook, mail]
    group_by: [alertname]
    group_wait: 30s
    group_interval: 5m
    repeat_interval: 10m
channels:
  hook: "{hook}"
  mail: "{mail}"
"""


def _nanos(moment: datetime) -> int:
    return int(moment.timestamp()) * 10**9


def _point(at: datetime, status: int, count: int) -> HistogramDataPoint:
    return HistogramDataPoint(
        attributes={"http.response.status_code": status, "http.route": "/pay"},
        start_time_unix_nano=_nanos(at),
        time_unix_nano=_nanos(at + timedelta(seconds=59)),
        count=count,
        sum=0.08 * count,
        bucket_counts=[0, count, 0, 0, 0, 0],
        explicit_bounds=BOUNDS_S,
        min=0.06,
        max=0.09,
    )


def _minutes(service: str) -> MetricsData:
    points = []
    for k in range(40):
        at = START + timedelta(minutes=k)
        errors = 20 if E0 <= at < E1 else 0
        points.append(_point(at, 200, 100 - errors))
        if errors:
            points.append(_point(at, 500, errors))
    metric = Metric(
        name="http.server.request.duration",
        description="",
        unit="s",
        data=Histogram(points, AggregationTemporality.DELTA),
    )
    scope = ScopeMetrics(InstrumentationScope("alerting-e2e"), [metric], "")
    resource = Resource.create({"service.name": service})
    return MetricsData([ResourceMetrics(resource, [scope], "")])


@pytest.fixture
def fed(tier: Tier) -> Iterator[Server]:
    """A server holding the forty minutes of both services, rolled up."""
    server = Server(
        tier.fresh_database(),
        FLOWGUARD_ROLLUP_REFRESH_S="1",
        FLOWGUARD_ROLLUP_LATE_WINDOW="3h",
    ).start()
    try:
        for service in SERVICES:
            exporter = OTLPMetricExporter(endpoint=f"{server.otlp_http}/v1/metrics")
            try:
                result = exporter.export(_minutes(service))
            finally:
                exporter.shutdown()
            assert result is MetricExportResult.SUCCESS

        def rolled_up() -> bool:
            rows = _sql(
                server,
                "SELECT count(*) AS n FROM kpi_1m"
                " WHERE bucket >= %s AND requests = 100",
                START,
            )
            return bool(rows[0]["n"] == 80)

        until(rolled_up, 120, "the forty minutes of both services in kpi_1m")
        yield server
    finally:
        server.stop()


def _sql(server: Server, query: str, *params: Any) -> list[dict[str, Any]]:
    with psycopg.connect(server.env["FLOWGUARD_DATABASE_URL"]) as conn:
        cur = conn.execute(query, params)
        names = [c.name for c in cur.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


async def _replay(
    url: str,
    rules: RuleSet,
    notifier: Notifier,
    start: datetime,
    end: datetime,
    restart_at: datetime | None = None,
) -> None:
    """Tick the engine every five seconds of a clock the test controls,
    letting each tick's deliveries finish before the next. At
    ``restart_at`` a new engine takes over, as after a restart."""
    engine = AlertEngine(rules, notifier.submit, "http://flowguard.example")
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        at = start
        while at <= end:
            if at == restart_at:
                engine = AlertEngine(rules, notifier.submit, "http://flowguard.example")
            await engine.run_once(conn, at)
            await notifier.drain(30)
            at += timedelta(seconds=5)


def _recorder(url: str) -> Any:
    async def record(notification: Notification, result: DeliveryResult) -> None:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            await record_notification(
                conn,
                at=notification.at,
                kind=notification.kind,
                channel=result.channel,
                group_labels=dict(notification.group_labels),
                alert_ids=[a.alert_id for a in notification.alerts if a.alert_id],
                title=notification.kind,
                ok=result.ok,
                attempts=result.attempts,
                error=result.error,
                delivered_at=result.delivered_at,
            )

    return record


def test_firing_reminder_and_resolved_arrive_once_each(
    fed: Server, tmp_path: Path
) -> None:
    """One grouped firing notification naming both services, one reminder
    after the repeat interval, one resolved: by HTTP and by mail alike,
    across a restart of the evaluator."""
    url = fed.env["FLOWGUARD_DATABASE_URL"]

    async def run() -> tuple[list[dict[str, Any]], list[str]]:
        async with http_receiver() as hook:
            with smtp_receiver() as mail:
                rules = parse_rules(RULES.format(hook=hook.url, mail=mail.url))
                notifier = Notifier(rules.channels, DeliverySettings(), _recorder(url))
                try:
                    # Restarting while the alerts fire neither repeats
                    # their notification nor loses the reminder.
                    restart = E0 + timedelta(minutes=7)
                    await _replay(url, rules, notifier, START, NOW, restart)
                finally:
                    await notifier.stop(10)
                return hook.bodies, mail.subjects

    bodies, subjects = asyncio.run(run())
    titles = [b["title"] for b in bodies]
    assert [t.split("]")[0] + "]" for t in titles] == [
        "[FIRING:2]",
        "[REMINDER:2]",
        "[RESOLVED]",
    ], titles
    assert subjects == titles
    firing = bodies[0]["message"]
    for text in (
        "service=checkout",
        "service=payments",
        "severity=page",
        "above 0.05",
        "checkout fails 20.0%",
        "http://flowguard.example/api/kpis?service=checkout",
        (E0 + timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    ):
        assert text in firing, (text, firing)
    assert "0.2" in firing

    sent = _sql(
        fed,
        "SELECT kind, channel, ok, at FROM notifications ORDER BY at, channel",
    )
    expected_at = [
        E0 + timedelta(minutes=2, seconds=30),
        E0 + timedelta(minutes=12, seconds=30),
        E1 + timedelta(minutes=2),
    ]
    assert [(r["kind"], r["channel"], r["ok"], r["at"]) for r in sent] == [
        (kind, channel, True, at)
        for kind, at in zip(
            ("firing", "reminder", "resolved"), expected_at, strict=True
        )
        for channel in ("hook", "mail")
    ]
    alerts = _sql(
        fed,
        "SELECT labels ->> 'service' AS service, state, fired_at, resolved_at,"
        " peak_value FROM alerts ORDER BY 1",
    )
    assert [(a["service"], a["state"]) for a in alerts] == [
        ("checkout", "resolved"),
        ("payments", "resolved"),
    ]
    assert {a["fired_at"] for a in alerts} == {E0 + timedelta(minutes=2)}
    assert {a["resolved_at"] for a in alerts} == {E1 + timedelta(minutes=2)}

    # The backtest of the same rules over the same stretch finds the same.
    async def replayed() -> list[tuple[str, datetime, datetime | None, Any]]:
        rules = parse_rules(RULES.format(hook="json://127.0.0.1:1/x", mail="json://x"))
        async with await psycopg.AsyncConnection.connect(url) as conn:
            found = await backtest(conn, rules, START, NOW)
        return [
            (f.labels["service"], f.started_at, f.ended_at, f.peak_value)
            for f in found.firings
        ]

    assert asyncio.run(replayed()) == [
        (a["service"], a["fired_at"], a["resolved_at"], a["peak_value"]) for a in alerts
    ]
    _check_backtest_command(fed, tmp_path, alerts)


def _check_backtest_command(
    server: Server, tmp_path: Path, alerts: list[dict[str, Any]]
) -> None:
    """``flowguard rules backtest`` prints the same firings, one a line."""
    path = tmp_path / "rules.yaml"
    path.write_text(RULES.format(hook="json://127.0.0.1:1/x", mail="json://x"))
    done = subprocess.run(
        [sys.executable, "-m", "flowguard", "rules", "backtest", str(path)],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    for alert in alerts:
        started = alert["fired_at"].strftime("%Y-%m-%d %H:%M:%SZ")
        ended = alert["resolved_at"].strftime("%Y-%m-%d %H:%M:%SZ")
        assert any(
            line.startswith("HighErrorRate\t")
            and f"service={alert['service']}" in line
            and f"\t{started}\t{ended}\t" in line
            for line in lines
        ), (alert, lines)
    assert lines[-1].startswith("2 alerts would have fired"), lines


def test_a_silenced_service_and_a_failing_channel_do_not_stop_the_rest(
    fed: Server,
) -> None:
    """A silence made through the API keeps checkout out of notifications
    while its alert is recorded; a channel answering 500 is retried and
    recorded as failed while the working channel delivers."""
    url = fed.env["FLOWGUARD_DATABASE_URL"]
    status, _, body = post(
        f"{fed.api}/api/silences",
        b'{"matchers": ["service=checkout"], "duration": "1d",'
        b' "created_by": "ops", "comment": "known incident"}',
        JSON_HEADERS,
    )
    assert status == 200, body
    # The silence starts now; the replayed stretch is in the past.
    _sql(fed, "UPDATE silences SET starts_at = %s RETURNING id", START)

    async def run() -> tuple[list[str], list[str]]:
        async with http_receiver() as good, http_receiver(status=500) as bad:
            text = RULES.format(hook=good.url, mail=bad.url)
            rules = parse_rules(text)
            settings = DeliverySettings(attempts=3, first_backoff_s=0.01)
            notifier = Notifier(rules.channels, settings, _recorder(url))
            try:
                await _replay(url, rules, notifier, START, E0 + timedelta(minutes=5))
            finally:
                await notifier.stop(10)
            return good.titles, bad.titles

    good_titles, bad_titles = asyncio.run(run())
    assert len(good_titles) == 1 and good_titles[0].startswith("[FIRING:1]")
    assert len(bad_titles) == 3  # every attempt reached the failing server
    messages = _sql(fed, "SELECT channel, ok, attempts FROM notifications ORDER BY 1")
    assert messages == [
        {"channel": "hook", "ok": True, "attempts": 1},
        {"channel": "mail", "ok": False, "attempts": 3},
    ]
    alerts = _sql(
        fed,
        "SELECT labels ->> 'service' AS service, state, silenced FROM alerts"
        " ORDER BY 1",
    )
    assert alerts == [
        {"service": "checkout", "state": "firing", "silenced": True},
        {"service": "payments", "state": "firing", "silenced": False},
    ]
    status, answer = get_json(f"{fed.api}/api/alerts?state=firing")
    assert status == 200
    checkout = next(a for a in answer["alerts"] if a["labels"]["service"] == "checkout")
    # The silence applies from the first evaluation that finds the alert.
    assert [e["event"] for e in checkout["history"]] == [
        "pending",
        "silenced",
        "firing",
    ]


def test_the_server_evaluates_its_rule_file_and_reloads_it(
    postgres_tier: Tier, tmp_path: Path
) -> None:
    """serve reads FLOWGUARD_RULES, notifies on its own clock, refuses a
    broken file on reload and keeps the rules it had."""

    async def run() -> None:
        async with http_receiver() as hook:
            rules = tmp_path / "rules.yaml"
            rules.write_text(
                "groups:\n"
                "  - name: logs\n"
                "    interval: 1s\n"
                "    rules:\n"
                "      - alert: AnyError\n"
                "        logs: {min_severity: ERROR}\n"
                "        window: 1h\n"
                "        above: 0\n"
                "routes:\n"
                "  - notify: [hook]\n"
                "    group_wait: 1s\n"
                "channels:\n"
                f"  hook: {hook.url}\n"
            )
            server = Server(
                postgres_tier.fresh_database(), FLOWGUARD_RULES=str(rules)
            ).start()
            try:
                await _check_server(server, hook, rules)
            finally:
                server.stop()

    asyncio.run(run())


async def _check_server(server: Server, hook: Any, rules: Path) -> None:
    body = (
        b'{"logs": [{"service": "checkout", "severity": "ERROR",'
        b' "body": "payment failed"}]}'
    )
    status, _, answer = await asyncio.to_thread(
        post, f"{server.api}/api/ingest/logs", body, JSON_HEADERS
    )
    assert status == 200, answer
    await asyncio.wait_for(hook.arrived.wait(), 60)
    assert hook.titles[0].startswith("[FIRING:1] AnyError"), hook.titles
    await asyncio.to_thread(_check_api, server, hook)

    broken = "groups:\n  - name: logs\n    intervall: 1s\n"
    await asyncio.to_thread(rules.write_text, broken)
    status, _, answer = await asyncio.to_thread(
        post, f"{server.api}/api/rules/reload", b""
    )
    assert status == 400 and b"intervall" in answer, answer
    status, loaded = await asyncio.to_thread(get_json, f"{server.api}/api/rules")
    assert status == 200
    assert [r["alert"] for r in loaded["rules"]] == ["AnyError"]
    assert loaded["rules"][0]["firing"] == 1

    fixed = (await asyncio.to_thread(rules.read_text)).replace(
        "intervall: 1s\n",
        "interval: 1s\n    rules:\n      - alert: Renamed\n"
        "        logs: {min_severity: ERROR}\n        above: 0\n",
    )
    await asyncio.to_thread(rules.write_text, fixed)
    assert server.process is not None
    server.process.send_signal(signal.SIGHUP)

    def renamed() -> bool:
        status, loaded = get_json(f"{server.api}/api/rules")
        return status == 200 and [r["alert"] for r in loaded["rules"]] == ["Renamed"]

    await asyncio.to_thread(until, renamed, 30, "the rules reloaded on SIGHUP")


def _check_api(server: Server, hook: Any) -> None:
    """Test alerts, silences and their errors through the API."""
    status, _, answer = post(f"{server.api}/api/test-alert", b"{}", JSON_HEADERS)
    assert status == 200, answer
    assert json.loads(answer)["results"][0] | {"delivered_at": None} == {
        "channel": "hook",
        "ok": True,
        "attempts": 1,
        "error": None,
        "delivered_at": None,
    }
    assert hook.titles[-1] == "[TEST] FlowGuard test alert"
    status, _, answer = post(
        f"{server.api}/api/test-alert", b'{"channel": "pager"}', JSON_HEADERS
    )
    assert status == 400 and b"'channel'" in answer, answer

    status, _, answer = post(
        f"{server.api}/api/silences",
        b'{"matchers": ["service=~check(out"], "duration": "1h",'
        b' "created_by": "ops", "comment": "x"}',
        JSON_HEADERS,
    )
    assert status == 400 and b"matchers" in answer, answer
    for fields, named in [
        (b'"matchers": ["service=a"], "duration": "3000000d"', b"'duration'"),
        (
            b'"matchers": ["service=a"], "starts_at": "9999-12-31T00:00:00Z",'
            b' "duration": "2d"',
            b"'duration'",
        ),
        (b'"matchers": ["service=a\\u0000"], "duration": "1h"', b"'matchers'"),
    ]:
        body = b'{"created_by": "ops", "comment": "x", ' + fields + b"}"
        status, _, answer = post(f"{server.api}/api/silences", body, JSON_HEADERS)
        assert status == 400 and named in answer, (body, answer)
    body = b'{"matchers": ["service=a"], "duration": "1h", "created_by": "o\\u0000"}'
    status, _, answer = post(f"{server.api}/api/silences", body, JSON_HEADERS)
    assert status == 400 and b"'created_by'" in answer, answer
    for query in ("alerts?since=3000000d", "silences?expired_since=3000000d"):
        status, answer = get_json(f"{server.api}/api/{query}")
        assert status == 400 and "at most 36500d" in answer["error"], answer
    status, _, answer = post(
        f"{server.api}/api/silences",
        b'{"matchers": ["service=checkout"], "duration": "1h",'
        b' "created_by": "ops", "comment": "deploy"}',
        JSON_HEADERS,
    )
    assert status == 200, answer
    silence = json.loads(answer)
    assert silence["state"] == "active"
    status, _, answer = post(
        f"{server.api}/api/silences/{silence['id']}", b"", method="DELETE"
    )
    assert status == 200 and json.loads(answer)["state"] == "expired", answer
    status, listed = get_json(f"{server.api}/api/silences")
    assert status == 200
    assert [(s["id"], s["state"]) for s in listed["silences"]] == [
        (silence["id"], "expired")
    ]
    status, _, answer = post(f"{server.api}/api/silences/99999", b"", method="DELETE")
    assert status == 404, answer
