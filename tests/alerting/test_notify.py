"""Rendering notifications and delivering them through apprise to real local
HTTP and SMTP servers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web

from alerting.model import AlertView, Notification
from alerting.notify import DeliveryResult, DeliverySettings, Notifier, render
from tests.alerting.receivers import free_port, smtp_receiver

STARTED = datetime(2026, 12, 4, 10, 2, tzinfo=UTC)
RESOLVED = datetime(2026, 12, 4, 10, 40, tzinfo=UTC)
SENT = datetime(2026, 12, 4, 10, 2, 30, tzinfo=UTC)
DELIVERED = datetime(2026, 12, 4, 10, 2, 31, tzinfo=UTC)
FAST = DeliverySettings(attempts=3, first_backoff_s=0.01, max_backoff_s=0.02)


def _alert(service: str, value: float | None, state: str = "firing") -> AlertView:
    return AlertView(
        rule="HighErrorRate",
        labels={"alertname": "HighErrorRate", "service": service, "severity": "page"},
        value=value,
        threshold="above 0.05",
        annotations={
            "summary": f"{service} fails too often",
            "runbook": "https://runbooks.example/errors",
        },
        state=state,
        started_at=STARTED,
        resolved_at=RESOLVED if state == "resolved" else None,
        link=f"http://flowguard.example/api/kpis?service={service}",
    )


def _notification(kind: str, *alerts: AlertView) -> Notification:
    return Notification(kind, {"alertname": "HighErrorRate"}, alerts, SENT)


FIRING = _notification("firing", _alert("checkout", 0.2), _alert("payments", 0.123456))


@dataclass
class Hook:
    """A local HTTP server for apprise's ``json://`` channel.

    It answers each post with the next of ``statuses`` (the last one
    repeats), after ``gate`` is set when there is one.
    """

    statuses: list[int] = field(default_factory=lambda: [200])
    gate: asyncio.Event | None = None
    bodies: list[dict[str, Any]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    port: int = 0

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.port}/hook"

    async def handle(self, request: web.Request) -> web.Response:
        self.bodies.append(await request.json())
        self.arrived.set()
        if self.gate is not None:
            await self.gate.wait()
        status = self.statuses[min(len(self.bodies), len(self.statuses)) - 1]
        return web.Response(status=status, text="noted")


@asynccontextmanager
async def serving(hook: Hook) -> AsyncIterator[Hook]:
    """Serve ``hook`` on a free local port for the length of the block."""
    app = web.Application()
    app.router.add_post("/hook", hook.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    assert site._server is not None
    hook.port = site._server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
    try:
        yield hook
    finally:
        await runner.cleanup()


class Recorder:
    """Collects what ``Notifier`` passes to ``record``, and says when a
    channel's result arrived."""

    def __init__(self) -> None:
        self.results: dict[str, DeliveryResult] = {}
        self.seen: dict[str, asyncio.Event] = {}

    def event(self, channel: str) -> asyncio.Event:
        return self.seen.setdefault(channel, asyncio.Event())

    async def __call__(
        self, notification: Notification, result: DeliveryResult
    ) -> None:
        assert notification is FIRING
        self.results[result.channel] = result
        self.event(result.channel).set()


def _notifier(
    channels: dict[str, str],
    settings: DeliverySettings = FAST,
    record: Recorder | None = None,
) -> Notifier:
    return Notifier(channels, settings, record, clock=lambda: DELIVERED)


def test_a_firing_notification_posts_every_alert_to_a_json_channel() -> None:
    """Both services' labels, values, condition, annotations, start time
    and links arrive in the body; the title names the count and group."""

    async def run() -> tuple[list[DeliveryResult], list[dict[str, Any]]]:
        async with serving(Hook()) as hook:
            notifier = _notifier({"hook": hook.url})
            return await notifier.deliver(FIRING, ["hook"]), hook.bodies

    results, bodies = asyncio.run(run())

    assert results == [DeliveryResult("hook", True, 1, None, DELIVERED)]
    [body] = bodies
    assert body["title"] == "[FIRING:2] HighErrorRate"
    assert body["type"] == "failure"
    message = body["message"]
    for text in (
        "alertname=HighErrorRate, service=checkout, severity=page",
        "alertname=HighErrorRate, service=payments, severity=page",
        "value: 0.2, condition: above 0.05",
        "value: 0.1235, condition: above 0.05",
        "summary: checkout fails too often",
        "runbook: https://runbooks.example/errors",
        "started at: 2026-12-04T10:02:00Z",
        "link: http://flowguard.example/api/kpis?service=checkout",
        "link: http://flowguard.example/api/kpis?service=payments",
    ):
        assert text in message, (text, message)


def test_a_mail_channel_receives_the_title_as_subject() -> None:
    """A ``mailto://`` channel in insecure mode reaches a plain SMTP server
    on a custom port, without TLS or login."""
    with smtp_receiver() as mail:
        url = (
            f"mailto://127.0.0.1:{mail.port}?from=flowguard@example.com"
            "&to=oncall@example.com&mode=insecure"
        )
        notifier = _notifier({"mail": url})
        results = asyncio.run(notifier.deliver(FIRING, ["mail"]))
        messages = list(mail.mailbox.messages)

    assert [(r.ok, r.attempts) for r in results] == [(True, 1)]
    [message] = messages
    assert message["Subject"] == "[FIRING:2] HighErrorRate"
    assert message["To"] == "oncall@example.com"


def test_a_failing_channel_does_not_hold_up_a_working_one() -> None:
    """The working channel's result is recorded while a failing one is still
    trying; failing channels end after every attempt, with a reason."""
    record = Recorder()

    async def run() -> int:
        gate = asyncio.Event()
        async with (
            serving(Hook()) as good,
            serving(Hook(statuses=[500], gate=gate)) as bad,
        ):
            channels = {
                "good": good.url,
                "bad": bad.url,
                "closed": f"json://127.0.0.1:{free_port()}/hook",
            }
            notifier = _notifier(channels, record=record)
            try:
                notifier.submit(FIRING, ["good", "bad", "closed"])
                await asyncio.wait_for(record.event("good").wait(), 30)
                # The failing server holds its first answer until now.
                assert "bad" not in record.results
                gate.set()
                await notifier.drain(30)
            finally:
                await notifier.stop(5)
            return len(bad.bodies)

    posts_to_bad = asyncio.run(run())

    assert record.results["good"] == DeliveryResult("good", True, 1, None, DELIVERED)
    for name in ("bad", "closed"):
        result = record.results[name]
        assert (result.ok, result.attempts, result.delivered_at) == (False, 3, None)
        assert result.error
    assert "500" in (record.results["bad"].error or "")
    assert posts_to_bad == FAST.attempts


def test_a_channel_that_fails_twice_then_succeeds_takes_three_attempts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Two failures are retried; the warning about them is logged once."""

    async def run() -> tuple[list[DeliveryResult], int]:
        async with serving(Hook(statuses=[500, 500, 200])) as hook:
            notifier = _notifier({"flaky": hook.url})
            return await notifier.deliver(FIRING, ["flaky"]), len(hook.bodies)

    with caplog.at_level(logging.WARNING, logger="alerting.notify"):
        results, posts = asyncio.run(run())

    assert results == [DeliveryResult("flaky", True, 3, None, DELIVERED)]
    assert posts == 3
    warnings = [r for r in caplog.records if r.name == "alerting.notify"]
    assert len(warnings) == 1
    assert "'flaky'" in warnings[0].getMessage()


def test_stop_ends_a_delivery_waiting_to_retry() -> None:
    """A channel waiting an hour to retry gives up when the notifier stops,
    and its result is still recorded."""
    record = Recorder()
    patient = DeliverySettings(
        first_backoff_s=3600, max_backoff_s=3600, deadline_s=7200
    )

    async def run() -> bool:
        async with serving(Hook(statuses=[500])) as hook:
            notifier = _notifier({"bad": hook.url}, patient, record)
            notifier.submit(FIRING, ["bad"])
            await asyncio.wait_for(hook.arrived.wait(), 30)
            stopping = asyncio.create_task(notifier.stop(5), name="stop notifier")
            done, _ = await asyncio.wait({stopping}, timeout=30)
            await notifier.stop(5)
            return stopping in done

    assert asyncio.run(run())
    result = record.results["bad"]
    assert (result.ok, result.attempts) == (False, 1)


def test_stop_is_safe_before_use_and_twice() -> None:
    """Stopping a notifier that never sent anything, twice, does nothing."""

    async def run() -> None:
        notifier = _notifier({})
        await notifier.stop(1)
        await notifier.stop(1)
        await notifier.drain(1)

    asyncio.run(run())


def test_an_unknown_channel_gives_a_failed_result() -> None:
    """A name with no channel is a failed result, not an exception."""
    results = asyncio.run(_notifier({}).deliver(FIRING, ["x"]))
    assert results == [DeliveryResult("x", False, 0, "no channel named 'x'", None)]


def test_an_error_in_record_is_logged_not_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A record callback that raises leaves the notifier working."""

    async def failing(notification: Notification, result: DeliveryResult) -> None:
        raise RuntimeError("database is away")

    async def run() -> None:
        notifier = Notifier({}, FAST, failing)
        notifier.submit(FIRING, ["x"])
        await notifier.drain(10)
        await notifier.stop(1)

    asyncio.run(run())
    [logged] = [r for r in caplog.records if r.name == "alerting.notify" and r.exc_info]
    assert "error recording delivery to channel 'x'" in logged.getMessage()


def test_a_channel_url_never_appears_in_results_or_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Credentials in a channel's URL stay out of the error and our logs."""
    url = f"json://admin:s3cret@127.0.0.1:{free_port()}/hook?token=t0ken"
    with caplog.at_level(logging.DEBUG, logger="alerting.notify"):
        results = asyncio.run(_notifier({"closed": url}).deliver(FIRING, ["closed"]))

    [result] = results
    assert not result.ok and result.error
    ours = [r.getMessage() for r in caplog.records if r.name == "alerting.notify"]
    for text in (result.error, *ours):
        assert "s3cret" not in text and "t0ken" not in text, text


def test_delivery_settings_reject_no_attempts() -> None:
    """At least one attempt is needed."""
    with pytest.raises(ValueError, match="at least 1"):
        DeliverySettings(attempts=0)


def test_render_resolved_lists_resolution_time_and_no_count() -> None:
    """A resolved notification's title has no count; each alert shows when
    it resolved."""
    notification = _notification("resolved", _alert("checkout", 0.01, "resolved"))
    title, body = render(notification)
    assert title == "[RESOLVED] HighErrorRate"
    assert body.splitlines()[0] == "HighErrorRate (resolved)"
    assert "resolved at: 2026-12-04T10:40:00Z" in body
    assert "started at: 2026-12-04T10:02:00Z" in body


def test_render_reminder_counts_firing_alerts_and_puts_them_first() -> None:
    """A reminder counts only firing alerts, lists them before resolved
    ones, and shows a missing value as none."""
    notification = Notification(
        "reminder",
        {"alertname": "HighErrorRate", "team": "shop"},
        (_alert("payments", None, "resolved"), _alert("checkout", 1234567.0)),
        SENT,
    )
    title, body = render(notification)
    assert title == "[REMINDER:1] HighErrorRate team=shop"
    checkout, payments = body.split("\n\n")
    assert "service=checkout" in checkout and "value: 1.235e+06" in checkout
    assert "service=payments" in payments and "value: none" in payments
    assert "resolved at" not in checkout


def test_render_test_names_itself_and_the_time_sent() -> None:
    """A test notification has a fixed title and says when it was sent."""
    view = _alert("checkout", None)
    title, body = render(Notification("test", {}, (view,), SENT))
    assert title == "[TEST] FlowGuard test alert"
    assert body.startswith("A test notification from FlowGuard, sent at ")
    assert "2026-12-04T10:02:30Z" in body
