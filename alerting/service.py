"""Alerting as a long-lived part of the service.

Every FlowGuard process loads the rule file and answers the API; the one
that holds a session advisory lock evaluates the rules and sends the
notifications. When it dies PostgreSQL releases the lock with its
connection and another process takes over from the stored alert and group
state, so no notification is repeated or forgotten across the change.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from psycopg_pool import AsyncConnectionPool

from alerting.engine import AlertEngine
from alerting.model import Notification, RuleSet
from alerting.notify import DeliveryResult, DeliverySettings, Notifier, render
from alerting.rulefile import load_rules
from flowguard._ratelimit import RateLimitedWarning
from storage.alerts import record_notification
from storage.locks import wait_for_lock

__all__ = ["Alerting", "AlertingSettings"]

logger = logging.getLogger(__name__)

_LOCK_KEY = 0x466C6F77_416C7274  # "FlowAlrt"


@dataclass(frozen=True, slots=True)
class AlertingSettings:
    """Where the rules are and how evaluation runs.

    ``required`` says the rule file was named explicitly, so a missing
    file is an error rather than "no rules".
    """

    rules_path: Path
    public_url: str
    required: bool = False
    tick_s: float = 1.0
    retry_s: float = 10.0
    delivery: DeliverySettings = field(default_factory=DeliverySettings)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Alerting:
    """Loads rules, evaluates them while owning the lock, sends
    notifications, and reloads the rules on request."""

    def __init__(
        self,
        url: str,
        pool: AsyncConnectionPool,
        settings: AlertingSettings,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._url = url
        self._pool = pool
        self._settings = settings
        self._clock = clock
        self.rules = RuleSet()
        self.notifier = Notifier({}, settings.delivery, self._record)
        self.engine = AlertEngine(self.rules, self.notifier.submit, settings.public_url)
        self._task: asyncio.Task[None] | None = None
        self._failed = RateLimitedWarning(logger, "error evaluating rules: %s", 60.0)
        self.owner = False

    def load(self) -> RuleSet:
        """Read the rule file and use it.

        Raises:
            RuleFileError: the file has errors; the rules in use stay.
        """
        path = self._settings.rules_path
        if not path.exists() and not self._settings.required:
            rules = RuleSet(path=str(path))
        else:
            rules = load_rules(path)
        self.rules = rules
        self.notifier.set_channels(rules.channels)
        self.engine.reload(rules)
        logger.info(
            "loaded %d alert rules in %d groups from %s",
            len(rules.rules),
            len(rules.groups),
            path,
        )
        return rules

    async def start(self) -> None:
        """Load the rules and start trying to own evaluation.

        Raises:
            RuleFileError: the rule file has errors.
        """
        if self._task is None:
            self.load()
            self._task = asyncio.create_task(self._run(), name="alerting")

    async def stop(self, timeout_s: float = 10.0) -> None:
        """Stop evaluating and finish deliveries under way. Safe twice."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(task, timeout_s)
        await self.notifier.stop(timeout_s)

    async def _run(self) -> None:
        while True:
            try:
                await self._own_and_evaluate()
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                logger.warning("alerting lost its database connection: %s", exc)
            self.owner = False
            self.engine.forget()
            await asyncio.sleep(self._settings.retry_s)

    async def _own_and_evaluate(self) -> None:
        conn = await psycopg.AsyncConnection.connect(self._url, autocommit=True)
        async with conn:
            await wait_for_lock(conn, _LOCK_KEY, self._settings.retry_s)
            self.owner = True
            logger.info("this process now evaluates alert rules")
            while True:
                try:
                    await self.engine.run_once(conn, self._clock())
                except psycopg.OperationalError:
                    raise
                except psycopg.Error as exc:
                    # What was kept in memory may not have been stored; read
                    # it back and try again at the next tick.
                    self._failed(exc)
                    self.engine.forget()
                await asyncio.sleep(self._settings.tick_s)

    async def _record(self, notification: Notification, result: DeliveryResult) -> None:
        title, _ = render(notification)
        async with self._pool.connection() as conn:
            await record_notification(
                conn,
                at=notification.at,
                kind=notification.kind,
                channel=result.channel,
                group_labels=dict(notification.group_labels),
                alert_ids=[a.alert_id for a in notification.alerts if a.alert_id],
                title=title,
                ok=result.ok,
                attempts=result.attempts,
                error=result.error,
                delivered_at=result.delivered_at,
            )
