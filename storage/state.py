"""What processors read back from the database: last points and patterns."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from flowguard.errors import StorageUnavailableError
from processing.temporality import HistogramState, SumState

__all__ = ["StoredLastPoints", "StoredPatterns"]

# One index probe per series: the newest converted point, skipping late
# points, which never became the state of their series.
_LAST_SUMS = """
SELECT s.id, p.start_time, p.time, p.value
FROM unnest(%s::bigint[]) AS s(id)
CROSS JOIN LATERAL (
    SELECT start_time, time, value FROM metric_points
    WHERE series_id = s.id AND conversion IS DISTINCT FROM 'late'
    ORDER BY time DESC LIMIT 1
) AS p
"""

_LAST_HISTOGRAMS = """
SELECT s.id, h.start_time, h.time, h.count, h.sum, h.bounds, h.bucket_counts
FROM unnest(%s::bigint[]) AS s(id)
CROSS JOIN LATERAL (
    SELECT start_time, time, count, sum, bounds, bucket_counts
    FROM metric_histograms
    WHERE series_id = s.id AND conversion IS DISTINCT FROM 'late'
    ORDER BY time DESC LIMIT 1
) AS h
"""


async def _fetch(
    pool: AsyncConnectionPool, query: str, params: Sequence[Any]
) -> list[tuple[Any, ...]]:
    try:
        async with pool.connection() as conn:
            cur = await conn.execute(query, params)
            return await cur.fetchall()
    except psycopg.Error as exc:
        # Without the stored state no delta can be trusted: the sender
        # retries later instead.
        msg = f"cannot read processing state from the database: {exc}"
        raise StorageUnavailableError(msg) from exc


# A key shared by very many patterns (free text under one route) must not
# make one lookup load them all: the miner only tries a few per leaf anyway.
_FIND_PER_KEY = 200


class StoredLastPoints:
    """The last converted point of series, from the point tables."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def sums(self, series_ids: Sequence[int]) -> dict[int, SumState]:
        """The last point of each cumulative sum that has one."""
        rows = await _fetch(self._pool, _LAST_SUMS, (list(series_ids),))
        return {sid: SumState(start, t, value) for sid, start, t, value in rows}

    async def histograms(self, series_ids: Sequence[int]) -> dict[int, HistogramState]:
        """The last point of each cumulative histogram that has one."""
        rows = await _fetch(self._pool, _LAST_HISTOGRAMS, (list(series_ids),))
        return {
            sid: HistogramState(start, t, count, total, tuple(bounds), tuple(counts))
            for sid, start, t, count, total, bounds, counts in rows
        }


class StoredPatterns:
    """Log patterns kept in ``log_patterns``."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def recent(self, limit: int) -> list[tuple[str, int, str]]:
        """The ``limit`` most recently created or changed patterns, oldest
        first, as (service, pattern id, template)."""
        rows = await _fetch(
            self._pool,
            "SELECT service, pattern_id, template FROM ("
            " SELECT service, pattern_id, template, updated_at FROM log_patterns"
            " ORDER BY updated_at DESC LIMIT %s) AS p ORDER BY updated_at",
            (limit,),
        )
        return [(service, pid, template) for service, pid, template in rows]

    async def find(self, keys: Sequence[tuple[str, str]]) -> list[tuple[str, int, str]]:
        """Stored patterns under any of the (service, lookup key) pairs."""
        services = [service for service, _ in keys]
        lookup_keys = [key for _, key in keys]
        return [
            (service, pid, template)
            for service, pid, template in await _fetch(
                self._pool,
                "SELECT p.service, p.pattern_id, p.template"
                " FROM unnest(%s::text[], %s::text[]) AS k(service, lookup_key)"
                " CROSS JOIN LATERAL ("
                "  SELECT service, pattern_id, template FROM log_patterns"
                "  WHERE service = k.service AND lookup_key = k.lookup_key"
                "  ORDER BY updated_at DESC LIMIT %s) AS p",
                (services, lookup_keys, _FIND_PER_KEY),
            )
        ]
