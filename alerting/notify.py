"""Notifications as text, and their delivery to channels through apprise.

``render`` turns a notification into a title and a plain-text body that
read well in chat and in mail. ``Notifier`` sends them to the named
channels, each channel on its own and retried with jittered backoff, so a
slow or broken channel never holds up the others or the dispatcher.

A channel's URL may hold credentials: it is never logged nor put in a
result; only the channel's name is.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import apprise

from alerting.model import AlertView, Notification
from flowguard._ratelimit import RateLimitedWarning

__all__ = ["DeliveryResult", "DeliverySettings", "Notifier", "RecordFn", "render"]

logger = logging.getLogger(__name__)

# Long reasons (a server's whole error page, say) are cut to this length.
_MAX_ERROR_CHARS = 300
_WARNING_INTERVAL_S = 60.0
_NOTIFY_TYPES = {
    "firing": apprise.NotifyType.FAILURE,
    "reminder": apprise.NotifyType.WARNING,
    "resolved": apprise.NotifyType.SUCCESS,
    "test": apprise.NotifyType.INFO,
}


def render(notification: Notification) -> tuple[str, str]:
    """The title and the plain-text body of a notification.

    The title names the kind, the number of firing alerts and the group's
    labels; the body shows every alert, firing ones first.
    """
    alerts = sorted(notification.alerts, key=lambda a: a.state != "firing")
    blocks = [_alert_text(alert) for alert in alerts]
    if notification.kind == "test":
        sent = _moment(notification.at)
        blocks.insert(0, f"A test notification from FlowGuard, sent at {sent}.")
    return _title(notification), "\n\n".join(blocks)


def _title(notification: Notification) -> str:
    if notification.kind == "test":
        return "[TEST] FlowGuard test alert"
    if notification.kind == "resolved":
        tag = "RESOLVED"
    else:
        firing = sum(alert.state == "firing" for alert in notification.alerts)
        tag = f"{notification.kind.upper()}:{firing}"
    labels = dict(notification.group_labels)
    name = labels.pop("alertname", "") or ", ".join(
        sorted({alert.rule for alert in notification.alerts})
    )
    words = [f"[{tag}]", name, *(f"{k}={v}" for k, v in sorted(labels.items()))]
    return " ".join(word for word in words if word)


def _alert_text(alert: AlertView) -> str:
    state = f"{alert.state}, silenced" if alert.silenced else alert.state
    labels = ", ".join(f"{k}={v}" for k, v in sorted(alert.labels.items()))
    lines = [
        f"{alert.rule} ({state})",
        f"labels: {labels or 'none'}",
        f"value: {_value(alert.value)}, condition: {alert.threshold}",
        *(f"{key}: {text}" for key, text in alert.annotations.items()),
        f"started at: {_moment(alert.started_at)}",
    ]
    if alert.resolved_at is not None:
        lines.append(f"resolved at: {_moment(alert.resolved_at)}")
    if alert.link:
        lines.append(f"link: {alert.link}")
    return "\n".join(lines)


def _value(value: float | None) -> str:
    return "none" if value is None else f"{value:.4g}"


def _moment(at: datetime) -> str:
    # A naive time is taken as UTC, which is what the alert state stores.
    aware = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class DeliverySettings:
    """How hard to try each channel.

    ``attempts`` and ``deadline_s`` bound the tries of one notification to
    one channel; ``timeout_s`` bounds each try. The wait between tries
    starts at ``first_backoff_s``, doubles, is capped at ``max_backoff_s``
    and is jittered.

    Raises:
        ValueError: a count below 1 or a time that is not positive.
    """

    attempts: int = 5
    first_backoff_s: float = 1.0
    max_backoff_s: float = 60.0
    deadline_s: float = 300.0
    timeout_s: float = 30.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            msg = f"delivery attempts must be at least 1, got {self.attempts}"
            raise ValueError(msg)
        for name in ("first_backoff_s", "max_backoff_s", "deadline_s", "timeout_s"):
            value = getattr(self, name)
            if not value > 0:
                msg = f"delivery {name} must be a positive number, got {value!r}"
                raise ValueError(msg)

    def backoff_s(self, failures: int) -> float:
        """The jittered wait after the ``failures``-th failed try."""
        full = min(self.max_backoff_s, self.first_backoff_s * 2.0 ** (failures - 1))
        # Half fixed, half random: channels failing together spread out
        # their retries, and no wait collapses to nothing.
        return full / 2 + random.uniform(0, full / 2)


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """How delivering one notification to one channel ended.

    ``error`` is a short reason for the last failure, without the
    channel's URL; ``delivered_at`` is set when ``ok``.
    """

    channel: str
    ok: bool
    attempts: int
    error: str | None = None
    delivered_at: datetime | None = None


# Stores or reports one channel's result; called once per channel.
RecordFn = Callable[[Notification, DeliveryResult], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class _Message:
    title: str
    body: str
    notify_type: apprise.NotifyType


@dataclass(frozen=True, slots=True)
class _Failure:
    reason: str
    retryable: bool = True


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Notifier:
    """Delivers notifications to channels named in the rule file.

    ``channels`` maps a channel's name to its apprise URL. ``record``, when
    given, receives each channel's result of a ``submit``; ``clock`` gives
    ``delivered_at``.
    """

    def __init__(
        self,
        channels: Mapping[str, str],
        settings: DeliverySettings | None = None,
        record: RecordFn | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._channels = dict(channels)
        self._settings = settings or DeliverySettings()
        self._record = record
        self._clock = clock
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()
        self._warnings: dict[str, RateLimitedWarning] = {}

    def set_channels(self, channels: Mapping[str, str]) -> None:
        """Use these channels from now on; deliveries under way keep theirs."""
        self._channels = dict(channels)

    async def deliver(
        self, notification: Notification, channel_names: Sequence[str]
    ) -> list[DeliveryResult]:
        """Send to every named channel at once; return when all are done.

        Results are in the order of ``channel_names``; they are not passed
        to ``record``.
        """
        message = _message(notification)
        tasks = [
            asyncio.create_task(
                self._deliver(name, message),
                name=f"deliver {name!r} {notification.kind}",
            )
            for name in channel_names
        ]
        return list(await asyncio.gather(*tasks))

    def submit(self, notification: Notification, channel_names: Sequence[str]) -> None:
        """Start sending to every named channel in the background.

        Returns at once; each channel's result goes to ``record`` when that
        channel is done. Must be called with the event loop running.
        """
        if self._stopping.is_set():
            logger.warning(
                "notifier stopped: not sending %s notification to %d channels",
                notification.kind,
                len(channel_names),
            )
            return
        message = _message(notification)
        for name in channel_names:
            task = asyncio.create_task(
                self._deliver_and_record(notification, name, message),
                name=f"notify {name!r} {notification.kind}",
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def drain(self, timeout_s: float) -> None:
        """Wait up to ``timeout_s`` for background deliveries to finish."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while pending := {task for task in self._tasks if not task.done()}:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            await asyncio.wait(pending, timeout=remaining)

    async def stop(self, timeout_s: float = 10.0) -> None:
        """Stop retrying, let tries under way finish for up to ``timeout_s``,
        then cancel the rest. Safe twice and before any delivery.

        Afterwards ``submit`` sends nothing and ``deliver`` tries each
        channel once.
        """
        self._stopping.set()
        await self.drain(timeout_s)
        left = [task for task in self._tasks if not task.done()]
        for task in left:
            task.cancel()
        if left:
            await asyncio.wait(left, timeout=timeout_s)
            logger.warning("cancelled %d notification deliveries", len(left))

    async def _deliver_and_record(
        self, notification: Notification, name: str, message: _Message
    ) -> None:
        result = await self._deliver(name, message)
        if self._record is None:
            return
        try:
            await self._record(notification, result)
        except Exception:
            logger.exception("error recording delivery to channel %r", name)

    async def _deliver(self, name: str, message: _Message) -> DeliveryResult:
        url = self._channels.get(name)
        if url is None:
            self._warn(name, "cannot deliver: no channel named %r", name)
            error = f"no channel named {name!r}"
            return DeliveryResult(name, ok=False, attempts=0, error=error)

        settings = self._settings
        loop = asyncio.get_running_loop()
        deadline = loop.time() + settings.deadline_s
        attempt = 0
        while True:
            attempt += 1
            timeout_s = max(0.001, min(settings.timeout_s, deadline - loop.time()))
            failure = await _send(url, message, timeout_s)
            if failure is None:
                logger.debug("delivered to channel %r in %d attempts", name, attempt)
                return DeliveryResult(name, True, attempt, None, self._clock())

            self._warn(
                name,
                "error delivering to channel %r, attempt %d of %d: %s",
                name,
                attempt,
                settings.attempts,
                failure.reason,
            )
            pause_s = settings.backoff_s(attempt)
            if (
                not failure.retryable
                or attempt >= settings.attempts
                or loop.time() + pause_s >= deadline
                or await self._stopped_within(pause_s)
            ):
                self._warn(
                    name,
                    "gave up delivering to channel %r after %d attempts: %s",
                    name,
                    attempt,
                    failure.reason,
                )
                return DeliveryResult(name, False, attempt, failure.reason)

    async def _stopped_within(self, pause_s: float) -> bool:
        """Wait ``pause_s``, or less if ``stop`` is called; say if it was."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(pause_s):
                await self._stopping.wait()
        return self._stopping.is_set()

    def _warn(self, name: str, message: str, *args: object) -> None:
        key = f"{name}\0{message}"
        warning = self._warnings.get(key)
        if warning is None:
            warning = RateLimitedWarning(logger, message, _WARNING_INTERVAL_S)
            self._warnings[key] = warning
        warning(*args)


def _message(notification: Notification) -> _Message:
    title, body = render(notification)
    notify_type = _NOTIFY_TYPES.get(notification.kind, apprise.NotifyType.INFO)
    return _Message(title, body, notify_type)


async def _send(url: str, message: _Message, timeout_s: float) -> _Failure | None:
    """Try once to deliver; None when the channel took the message."""
    try:
        async with asyncio.timeout(timeout_s):
            # The first Apprise object loads every plugin from disk, so it
            # is built off the event loop.
            sender = await asyncio.to_thread(_sender, url)
            if sender is None:
                reason = "apprise does not accept the channel's URL"
                return _Failure(reason, retryable=False)
            result = await sender.async_notify(
                body=message.body,
                title=message.title,
                notify_type=message.notify_type,
                timeout=timeout_s,
            )
            with result:
                return None if result else _Failure(_reason(result, url))
    except TimeoutError:
        return _Failure(f"no answer within {timeout_s:.3g} s")
    except Exception as exc:
        # Apprise reports a channel's own failures in its result; this is
        # for anything else it raises, which must not end the delivery.
        return _Failure(_short(f"{type(exc).__name__}: {exc}", url))


def _sender(url: str) -> apprise.Apprise | None:
    sender = apprise.Apprise()
    return sender if sender.add(url) else None


def _reason(result: apprise.AppriseResult, url: str) -> str:
    """The last problem apprise logged while sending, or its status."""
    problems = [
        entry.message
        for entry in result.logs()
        if entry.level in ("WARNING", "ERROR", "CRITICAL")
    ]
    if problems:
        return _short(problems[-1], url)
    return f"apprise reported {result.status.name.lower()}"


def _short(text: str, url: str) -> str:
    text = " ".join(text.replace(url, "<channel url>").split())
    if len(text) <= _MAX_ERROR_CHARS:
        return text
    return text[: _MAX_ERROR_CHARS - 3] + "..."
