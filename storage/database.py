"""The connection pool and storage tier detection."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import orjson
import psycopg
from psycopg.types.json import set_json_dumps
from psycopg_pool import AsyncConnectionPool

__all__ = [
    "TierInfo",
    "configure_connection",
    "detect_tier",
    "ensure_timescaledb",
    "open_pool",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TierInfo:
    """The storage tier and the versions behind it."""

    tier: str
    server_version: str
    timescaledb_version: str | None


async def open_pool(url: str, size: int) -> AsyncConnectionPool:
    """Open a pool of ``size`` connections; waits for the first to connect."""
    pool = AsyncConnectionPool(
        url,
        min_size=size,
        max_size=size,
        open=False,
        name="flowguard",
        timeout=5.0,
        # A database that went away comes back by itself; keep trying.
        reconnect_timeout=24 * 3600.0,
        check=AsyncConnectionPool.check_connection,
        configure=configure_connection,
        kwargs={"autocommit": True},
    )
    await pool.open(wait=True, timeout=30.0)
    return pool


def _dumps(value: object) -> bytes:
    # Processing encodes JSONB values itself (see processing._values.to_json);
    # anything else is encoded here.
    if isinstance(value, bytes):
        return value
    return orjson.dumps(value)


async def configure_connection(conn: psycopg.AsyncConnection) -> None:
    """Make ``conn`` write JSONB values that arrive already encoded as is."""
    set_json_dumps(_dumps, conn)


async def ensure_timescaledb(conn: psycopg.AsyncConnection) -> None:
    """Create the timescaledb extension when the server offers it."""
    cur = await conn.execute(
        "SELECT installed_version FROM pg_available_extensions"
        " WHERE name = 'timescaledb'"
    )
    row = await cur.fetchone()
    if row is None or row[0] is not None:
        return
    cur = await conn.execute("SELECT current_setting('shared_preload_libraries')")
    preload = await cur.fetchone()
    if preload is None or "timescaledb" not in preload[0]:
        # Creating it would fail and, with some versions, end the session.
        logger.warning(
            "timescaledb is installed but not in shared_preload_libraries;"
            " running on plain postgresql"
        )
        return
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    except psycopg.Error as exc:
        logger.warning("timescaledb is available but cannot be created: %s", exc)


async def detect_tier(conn: psycopg.AsyncConnection) -> TierInfo:
    """Which tier this database is, from pg_extension and the license setting."""
    cur = await conn.execute(
        "SELECT current_setting('server_version'),"
        " (SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'),"
        " current_setting('timescaledb.license', true)"
    )
    row = await cur.fetchone()
    assert row is not None
    server_version, ts_version, license_name = row
    if ts_version is None:
        tier = "postgres"
    elif license_name == "timescale":
        tier = "timescale"
    else:
        tier = "timescale-apache"
    return TierInfo(tier, server_version, ts_version)
