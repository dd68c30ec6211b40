"""The ingest ledger: records accepted, rejected and refused, per service.

Counts are kept in memory and added to the ``ingest_ledger`` table every few
seconds, one row per minute, service, signal, outcome and reason, so several
FlowGuard processes sum into the same rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

__all__ = ["Ledger"]

logger = logging.getLogger(__name__)

# (bucket, service, signal, outcome, reason) -> (records, requests)
_Key = tuple[datetime, str, str, str, str]

_UPSERT = """
INSERT INTO ingest_ledger (bucket, service, signal, outcome, reason, records, requests)
VALUES (%s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (bucket, service, signal, outcome, reason) DO UPDATE
SET records = ingest_ledger.records + EXCLUDED.records,
    requests = ingest_ledger.requests + EXCLUDED.requests
"""

_TOTALS = """
SELECT signal, outcome, sum(records)::bigint, sum(requests)::bigint
FROM ingest_ledger GROUP BY signal, outcome
"""

_BY_SERVICE = """
SELECT service, signal, outcome, reason, sum(records), sum(requests)
FROM ingest_ledger WHERE bucket >= date_trunc('minute', now() - %s)
GROUP BY service, signal, outcome, reason
ORDER BY sum(records) DESC, service, signal, outcome, reason
"""

# A rejection reason is free text; numbers in it are replaced and its length
# capped, so that distinct values cannot grow the ledger without bound.
_MAX_REASON = 200
_NUMBER = re.compile(r"\d+")


def _minute() -> datetime:
    return datetime.now(UTC).replace(second=0, microsecond=0)


class Ledger:
    """Counts ingest outcomes and persists them."""

    def __init__(self, pool: AsyncConnectionPool, interval_s: float = 5.0) -> None:
        self._pool = pool
        self._interval_s = interval_s
        self._unsaved: Counter[_Key] = Counter()
        self._unsaved_requests: Counter[_Key] = Counter()
        self._process: Counter[tuple[str, str]] = Counter()
        self._task: asyncio.Task[None] | None = None

    def count(
        self, service: str, signal: str, outcome: str, records: int, reason: str = ""
    ) -> None:
        """Add ``records`` for one request's outcome."""
        reason = _NUMBER.sub("N", reason)[:_MAX_REASON]
        key = (_minute(), service, signal, outcome, reason)
        self._unsaved[key] += records
        self._unsaved_requests[key] += 1
        self._process[(signal, outcome)] += records

    def process_totals(self) -> dict[str, dict[str, int]]:
        """Totals counted by this process since it started."""
        out: dict[str, dict[str, int]] = {}
        for (signal, outcome), records in self._process.items():
            out.setdefault(signal, {})[outcome] = records
        return out

    async def totals(self) -> dict[str, dict[str, Any]]:
        """Totals of every process, from the table plus what is unsaved."""
        out: dict[str, dict[str, Any]] = {}
        async with self._pool.connection() as conn:
            cur = await conn.execute(_TOTALS)
            for signal, outcome, records, _requests in await cur.fetchall():
                out.setdefault(signal, {})[outcome] = int(records)
        for (_, _, signal, outcome, _), records in self._unsaved.items():
            bucket = out.setdefault(signal, {})
            bucket[outcome] = bucket.get(outcome, 0) + records
        return out

    async def rows(self, since: timedelta) -> list[dict[str, Any]]:
        """Counts per service, signal, outcome and reason over ``since``,
        largest first; this process's counts are saved first."""
        await self.flush()
        async with self._pool.connection() as conn:
            cur = await conn.execute(_BY_SERVICE, (since,))
            rows = await cur.fetchall()
        return [
            {
                "service": service,
                "signal": signal,
                "outcome": outcome,
                "reason": reason,
                "records": int(records),
                "requests": int(requests),
            }
            for service, signal, outcome, reason, records, requests in rows
        ]

    async def start(self) -> None:
        """Start saving counts every few seconds."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="ledger-flush")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            await self.flush()

    async def flush(self) -> None:
        """Add unsaved counts to the table; kept for next time on failure."""
        if not self._unsaved:
            return
        records, self._unsaved = self._unsaved, Counter()
        requests, self._unsaved_requests = self._unsaved_requests, Counter()
        rows = [(*key, n, requests[key]) for key, n in records.items()]
        try:
            async with (
                self._pool.connection() as conn,
                conn.transaction(),
                conn.cursor() as cur,
            ):
                await cur.executemany(_UPSERT, rows)
        except psycopg.Error as exc:
            logger.warning("error saving the ingest ledger, will retry: %s", exc)
            self._unsaved.update(records)
            self._unsaved_requests.update(requests)

    async def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the flush task and save what is left; safe twice."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.flush(), timeout_s)
