"""Session advisory locks: one process at a time does a piece of work.

PostgreSQL releases a session lock with its connection, so when the
owner dies another process waiting here takes over.
"""

from __future__ import annotations

import asyncio

import psycopg

__all__ = ["wait_for_lock"]


async def wait_for_lock(
    conn: psycopg.AsyncConnection, key: int, retry_s: float
) -> None:
    """Return once ``conn`` holds the advisory lock ``key``, trying again
    every ``retry_s``."""
    while True:
        cur = await conn.execute("SELECT pg_try_advisory_lock(%s)", (key,))
        row = await cur.fetchone()
        if row and row[0]:
            return
        await asyncio.sleep(retry_s)
