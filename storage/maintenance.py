"""Work that one process does for all: rollup refresh, retention, and the
jobs that follow a refresh, such as anomaly detection.

Several FlowGuard processes may share a database. The one that holds a
session advisory lock does the work; the others try again every
``retry_s``, so one of them takes over when the owner dies (PostgreSQL
releases the lock with the session).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import psycopg

from storage.locks import wait_for_lock
from storage.retention import Retention, apply_policies, enforce_retention
from storage.rollups import refresh_rollups

__all__ = ["Job", "Maintenance", "MaintenanceSettings"]

logger = logging.getLogger(__name__)

_LOCK_KEY = 0x466C6F77_4D61696E  # "FlowMain"
T = TypeVar("T")
# A job runs after every refresh, on the maintenance connection, with the
# time of the round.
Job = Callable[[psycopg.AsyncConnection, datetime], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class MaintenanceSettings:
    """How often maintenance runs, and what it keeps."""

    tier: str
    retention: Retention
    refresh_s: float = 15.0
    retry_s: float = 10.0
    late_window: timedelta = timedelta(minutes=5)


class Maintenance:
    """Refreshes rollups and enforces retention while holding the lock."""

    def __init__(
        self,
        url: str,
        settings: MaintenanceSettings,
        jobs: Mapping[str, Job] | None = None,
    ) -> None:
        self._url = url
        self._settings = settings
        self._jobs = dict(jobs or {})
        self._task: asyncio.Task[None] | None = None
        self.owner = False
        self.refreshes = 0

    async def start(self) -> None:
        """Start trying to take the lock and do the work."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="maintenance")

    async def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the work; the lock goes with the connection. Safe twice."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(task, timeout_s)

    async def _run(self) -> None:
        while True:
            try:
                await self._own_and_work()
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                logger.warning("maintenance lost its database connection: %s", exc)
            self.owner = False
            await asyncio.sleep(self._settings.retry_s)

    async def _own_and_work(self) -> None:
        conn = await psycopg.AsyncConnection.connect(self._url, autocommit=True)
        async with conn:
            await wait_for_lock(conn, _LOCK_KEY, self._settings.retry_s)
            self.owner = True
            logger.info("this process now runs rollups and retention")
            await self._work(conn)

    async def _work(self, conn: psycopg.AsyncConnection) -> None:
        s = self._settings
        if s.tier == "timescale":
            await _attempt(
                "setting timescaledb policies",
                apply_policies(conn, s.retention, s.late_window),
            )
        while True:
            # Refresh before retention, so that rollups hold a bucket before
            # its raw rows go. Both are cheap when there is nothing to do.
            refreshed: int | None = 0
            if s.tier != "timescale":
                refreshed = await _attempt(
                    "refreshing rollups",
                    refresh_rollups(
                        conn,
                        datetime.now(UTC),
                        s.retention.kept(),
                        lookback=s.late_window,
                    ),
                )
                self.refreshes += refreshed is not None
                removed = await _attempt(
                    "enforcing retention",
                    enforce_retention(conn, s.retention, datetime.now(UTC)),
                )
                dropped = {table: n for table, n in (removed or {}).items() if n}
                if dropped:
                    logger.info("retention removed %s", dropped)
            # Jobs read the rollups: after a failed refresh they would read
            # minutes that are not complete yet, so they wait for the next.
            if refreshed is not None:
                for name, job in self._jobs.items():
                    await _attempt(name, job(conn, datetime.now(UTC)))
            await asyncio.sleep(s.refresh_s)


async def _attempt(what: str, work: Awaitable[T]) -> T | None:
    """The result of ``work``, or None when the database refused it.

    A lost connection is raised, so that the lock is taken again on a new
    one; any other database error is logged and the next round tries again.
    """
    try:
        return await work
    except psycopg.OperationalError:
        raise
    except psycopg.DatabaseError as exc:
        logger.warning("error %s: %s", what, exc)
        return None
